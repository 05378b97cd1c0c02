/**
 * Reading a Server-Sent Events response in tests, with `eventsource-parser` (the parser the AI SDK
 * uses): every event and comment as it arrives, with its time of arrival, and waits for conditions.
 */
import { performance } from 'node:perf_hooks';
import type { EventSourceMessage } from 'eventsource-parser';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { waitFor } from '../wait-for.ts';

/** A received event, with `performance.now()` at its arrival. */
export interface ReceivedEvent extends EventSourceMessage {
  at: number;
}

/**
 * A response body being read in the background.
 *
 * @example
 * const sse = readSse(response);
 * const snapshot = await sse.next((e) => e.event === 'snapshot', 'the snapshot');
 */
export interface SseReader {
  /** Events received so far, in order. */
  events: ReceivedEvent[];
  /** Comment lines (heartbeats) received so far. */
  comments: number;
  /** The last `retry:` value, ms. */
  retry: number | null;
  /** Whether the body ended (cleanly or not), and the error that ended it. */
  ended: boolean;
  error: unknown;
  /** The first event at index ≥ `from` (default 0) that matches. */
  next(match: (event: ReceivedEvent) => boolean, what: string, options?: { from?: number; timeoutMs?: number }): Promise<ReceivedEvent>;
  /** `balance` events parsed. */
  balances(): { id: number; data: Record<string, unknown> }[];
  /** Resolves when the body ended. */
  done: Promise<void>;
}

/**
 * Read `response`'s body as an event stream in the background.
 *
 * @example
 * const sse = readSse(await fetch(url, { headers, signal }));
 */
export function readSse(response: Response): SseReader {
  const reader: SseReader = {
    events: [],
    comments: 0,
    retry: null,
    ended: false,
    error: undefined,
    async next(match, what, options = {}) {
      let found: ReceivedEvent | undefined;
      await waitFor(
        () => {
          found = reader.events.slice(options.from ?? 0).find(match);
          if (!found && reader.ended) throw new Error(`the stream ended before ${what} (${String(reader.error ?? 'cleanly')})`);
          return found !== undefined;
        },
        { what, timeoutMs: options.timeoutMs ?? 30_000 },
      );
      return found!;
    },
    balances: () => reader.events.filter((e) => e.event === 'balance').map((e) => ({ id: Number(e.id), data: JSON.parse(e.data) as Record<string, unknown> })),
    done: Promise.resolve(),
  };
  if (!response.body) throw new Error('the response has no body');
  const events = response.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(
      new EventSourceParserStream({
        onComment: () => {
          reader.comments++;
        },
        onRetry: (ms) => {
          reader.retry = ms;
        },
      }),
    );
  reader.done = (async () => {
    try {
      const r = events.getReader();
      for (;;) {
        const { done, value } = await r.read();
        if (done) break;
        reader.events.push({ ...value, at: performance.now() });
      }
    } catch (error) {
      reader.error = error;
    } finally {
      reader.ended = true;
    }
  })();
  return reader;
}
