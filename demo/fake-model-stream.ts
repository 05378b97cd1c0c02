/**
 * The playground's streamed "Strategy analysis": a deterministic fake model that produces its
 * answer word by word as server-sent events and reports its usage as it goes — what a real model
 * behind the AI SDK's `streamText` does, with no API key and the same answer every time.
 */

/** The fake model's whole answer (40 words: 8 tokens of usage). */
export const STRATEGY_ANSWER =
  'Strength: a loyal customer base that buys every month. Risk: one supplier delivers sixty percent of your stock. ' +
  'Opportunity: a subscription tier for your regulars. Next step: quietly pilot it with twenty customers, measure churn for six weeks, then decide.';

/** Words the fake model produces per Tokengate token it reports. */
export const WORDS_PER_TOKEN = 5;

/**
 * The tokens the fake model reports after `words` words (its "usage"): 8 for the whole answer.
 *
 * @example
 * strategyUsage(15) // 3
 */
export function strategyUsage(words: number): number {
  return Math.ceil(words / WORDS_PER_TOKEN);
}

/** Options of `fakeModelStream`. */
export interface FakeModelStreamOptions {
  /** Milliseconds between words (the model's pace). */
  wordMs: number;
  /** Break off after this many words (the stream errors, as a model or network failure would). */
  failAfter?: number;
  /** Awaited before each word (`sent` words so far): a test's breakpoint. Resolves to go on. */
  beforeWord?: (sent: number) => Promise<void>;
  /** The usage so far, after each word (`ctx.reportUsage` of the guard). */
  onUsage: (tokens: number) => void;
  /** The client went away (the guard cancelled the body). */
  onCancel?: () => void;
}

/**
 * The answer as a `text/event-stream` body: one `data:` event per word (with its leading space),
 * usage reported after each word.
 *
 * @example
 * return new Response(fakeModelStream({ wordMs: 100, onUsage: ctx.reportUsage }), { headers: { 'content-type': 'text/event-stream' } });
 */
export function fakeModelStream(options: FakeModelStreamOptions): ReadableStream<Uint8Array> {
  const words = STRATEGY_ANSWER.split(' ');
  const encoder = new TextEncoder();
  let sent = 0;
  let cancelled = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        await options.beforeWord?.(sent);
        await new Promise((resolve) => setTimeout(resolve, options.wordMs));
        if (cancelled) return;
        if (sent === options.failAfter) return controller.error(new Error('The model failed mid-answer (simulated).'));
        if (sent === words.length) return controller.close();
        const word = words[sent++]!;
        options.onUsage(strategyUsage(sent));
        // `data:` drops ONE leading space, so a word after the first keeps its own.
        controller.enqueue(encoder.encode(`data: ${sent === 1 ? word : ` ${word}`}\n\n`));
      },
      cancel() {
        cancelled = true;
        options.onCancel?.();
      },
    },
    // Produce a word only when the client asks for one: a Stop stops the model.
    { highWaterMark: 0 },
  );
}
