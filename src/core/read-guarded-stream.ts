/**
 * Read a guarded route's streamed answer to its end, with the guard's charge event split off.
 */
import { CHARGE_EVENT, parseChargeEvent, type ChargeEvent } from './charge-event.ts';
import { isEventStream, parseSseBlock, sseSplitter, type SseEvent } from './sse-splitter.ts';
import { TokenGateError } from './token-gate-error.ts';

/**
 * One event of a streamed answer (not the guard's charge event).
 *
 * @example
 * const onEvent = (e: GuardedStreamEvent) => { if (e.event === 'usage') setUsage(JSON.parse(e.data)) };
 */
export type GuardedStreamEvent = SseEvent;

/**
 * Options of `readGuardedStream`.
 *
 * @example
 * const options: ReadGuardedStreamOptions = { signal: ctx.signal, onCharge: ctx.onCharge, onText: (t) => setAnswer((a) => a + t) };
 */
export interface ReadGuardedStreamOptions {
  /**
   * Each piece of text as it arrives: the decoded chunks of a plain-text answer, or the `data` of
   * each `message` event (events without an `event:` name) of a `text/event-stream` answer.
   */
  onText?: (text: string) => void;
  /** Every event of a `text/event-stream` answer but the charge event, named or not. */
  onEvent?: (event: GuardedStreamEvent) => void;
  /**
   * The guard's final `tokengate-charge` event (routes guarded with `chargeEvent: true`). In a
   * `useTokenGate` action pass `ctx.onCharge`: the hook then shows the charged balance at once.
   */
  onCharge?: (charge: ChargeEvent) => void;
  /**
   * Stops reading and cancels the body (the server sees the disconnect and charges what was
   * reported so far): the call then rejects with `TokenGateError('aborted')`. Pass `ctx.signal`.
   */
  signal?: AbortSignal;
}

/**
 * What a streamed answer came to.
 *
 * @example
 * const { text, charge } = await readGuardedStream(response);
 */
export interface GuardedStreamResult {
  /** All the text passed to `onText`, joined. */
  text: string;
  /** The guard's charge event, or null when the route sends none (the balance refetch tells). */
  charge: ChargeEvent | null;
}

/**
 * Read a streamed answer of a guarded route to its end: text as it arrives, the guard's final
 * `tokengate-charge` event split off (it never reaches `onText`/`onEvent`). Resolves when the
 * stream ends; rejects with `TokenGateError('aborted')` when `signal` aborts (the body is
 * cancelled), and `TokenGateError('network')` when the stream breaks off (a failure mid-answer).
 *
 * @example
 * const strategy = useTokenGate('strategy_analysis', {
 *   action: async (ctx, question: string) => {
 *     const res = await ctx.fetch('/api/strategy', { method: 'POST', body: JSON.stringify({ question }) });
 *     const { text } = await readGuardedStream(res, {
 *       signal: ctx.signal,
 *       onCharge: ctx.onCharge,
 *       onText: (t) => setAnswer((a) => a + t),
 *     });
 *     return text;
 *   },
 * });
 * // status stays 'running' until the stream ends; strategy.abort() is a Stop button.
 */
export async function readGuardedStream(response: Response, options: ReadGuardedStreamOptions = {}): Promise<GuardedStreamResult> {
  const { onText, onEvent, onCharge, signal } = options;
  let text = '';
  let charge: ChargeEvent | null = null;
  const aborted = () => new TokenGateError('aborted', 'The run was cancelled.', { cause: signal?.reason });
  const body = response.body;
  if (signal?.aborted) {
    await body?.cancel(signal.reason).catch(() => {});
    throw aborted();
  }
  if (!body) return { text, charge };

  const sse = isEventStream(response) ? sseSplitter() : null;
  const decoder = new TextDecoder();
  const take = (chunk: string) => {
    if (!sse) {
      if (chunk === '') return;
      text += chunk;
      onText?.(chunk);
      return;
    }
    for (const block of sse.push(chunk)) dispatch(block);
  };
  const dispatch = (block: string) => {
    const event = parseSseBlock(block);
    if (!event) return;
    if (event.event === CHARGE_EVENT) {
      // A malformed charge event is dropped: the balance refetch at the end tells the truth.
      const parsed = parseChargeEvent(event.data);
      if (parsed) {
        charge = parsed;
        onCharge?.(parsed);
      }
      return;
    }
    onEvent?.(event);
    if (event.event === 'message') {
      text += event.data;
      onText?.(event.data);
    }
  };

  const reader = body.getReader();
  // Cancelling the reader (not only the fetch) also stops fetches that ignore their signal.
  const stop = () => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (cause) {
        if (signal?.aborted) throw aborted();
        throw new TokenGateError('network', 'The streamed answer broke off before its end.', { cause });
      }
      // A cancel resolves the pending read as done: that is an abort, not the end of the answer.
      if (signal?.aborted) throw aborted();
      if (next.done) break;
      take(decoder.decode(next.value, { stream: true }));
    }
    take(decoder.decode());
    if (sse) for (const block of sse.end()) dispatch(block);
    return { text, charge };
  } catch (error) {
    // An app callback that threw: stop the stream too (nobody reads the rest).
    stop();
    throw error;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
