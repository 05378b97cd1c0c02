/**
 * The body of a streamed guarded answer: passed through chunk by chunk, with the charge decided
 * when it ends — completed, cancelled by the client, or failed in the handler's own stream.
 */
import { concat } from './http/read-limited.ts';

/** How a streamed body ended. */
export type StreamOutcome = 'completed' | 'cancelled' | 'errored';

/** What `meteredBody` tells its owner once, when the body ends. */
export interface StreamEnd {
  outcome: StreamOutcome;
  /** The whole body when it completed within `keepBytes`, else null. */
  bytes: Uint8Array | null;
  /** Bytes passed on to the client before the end (0: the client got nothing). */
  delivered: number;
  /** The handler stream's error (`errored`) or the cancel reason (`cancelled`). */
  reason?: unknown;
}

/** Options of `meteredBody`. */
export interface MeteredBodyOptions {
  /** Keep up to this many bytes of the body for `StreamEnd.bytes` (0: keep none). */
  keepBytes: number;
  /**
   * Called exactly once when the body ends, BEFORE the client's stream closes (so the charge is
   * written when the client sees the end). May return bytes to append last (a completed body only).
   * Must not throw.
   */
  onEnd(end: StreamEnd): Promise<Uint8Array | null>;
}

/**
 * A pass-through of `source` that calls `onEnd` once with how it ended. A client cancel is
 * propagated to `source` (the handler's model call stops) and wins over a read that was in flight:
 * the body is not "completed" because the cancel made the source report done.
 *
 * @example
 * const body = meteredBody(response.body, { keepBytes: 0, onEnd: async (end) => (await charge(end), null) });
 */
export function meteredBody(source: ReadableStream<Uint8Array>, options: MeteredBodyOptions): ReadableStream<Uint8Array> {
  // highWaterMark 0 (below): read from the handler only when the client asks, so nothing is
  // pulled ahead of a client that stops reading.
  const reader = source.getReader();
  const kept: Uint8Array[] = [];
  let size = 0;
  let delivered = 0;
  let keeping = options.keepBytes > 0;
  let ended: Promise<Uint8Array | null> | null = null;
  const end = (outcome: StreamOutcome, reason?: unknown) => {
    ended ??= options.onEnd({
      outcome,
      bytes: outcome === 'completed' && keeping ? concat(kept, size) : null,
      delivered,
      ...(reason === undefined ? {} : { reason }),
    });
    return ended;
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        if (ended) return;
        await end('errored', error);
        controller.error(error);
        return;
      }
      // A cancel while this read was pending already decided the outcome.
      if (ended) return;
      if (next.done) {
        const trailer = await end('completed');
        if (trailer) controller.enqueue(trailer);
        controller.close();
        return;
      }
      if (keeping) {
        size += next.value.byteLength;
        if (size > options.keepBytes) {
          keeping = false;
          kept.length = 0;
        } else kept.push(next.value);
      }
      controller.enqueue(next.value);
      delivered += next.value.byteLength;
    },
    async cancel(reason) {
      const charged = end('cancelled', reason ?? null);
      await reader.cancel(reason).catch(() => undefined);
      await charged;
    },
  }, { highWaterMark: 0 });
}

/**
 * What a streamed answer is charged when its body ends: completed → the reported usage (default the
 * estimate); the client left → the reported usage, at least `minimum`, or the whole estimate when the
 * route reported nothing (its usage is unknown, and leaving early must not make work free); the
 * handler's stream failed after delivering part of it → the reported usage, at least `minimum`. (A
 * failed stream that delivered nothing is refunded instead: see `guard`.)
 *
 * @example
 * streamCharge('cancelled', 6, 40, 1); // 6
 * streamCharge('cancelled', undefined, 40, 1); // 40
 */
export function streamCharge(outcome: StreamOutcome, actual: number | undefined, estimate: number, minimum: number): number {
  if (outcome === 'completed') return actual ?? estimate;
  if (outcome === 'cancelled' && actual === undefined) return estimate;
  return Math.max(actual ?? 0, minimum);
}

/** Whether a response is a server-sent event stream. */
export function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
}
