/**
 * Pass a guarded route's streamed answer on to another reader (the AI SDK's `useChat`, an
 * EventSource polyfill…) without the guard's charge event, and learn when the stream ended.
 */
import { CHARGE_EVENT, parseChargeEvent, type ChargeEvent } from './charge-event.ts';
import { isEventStream, parseSseBlock, sseSplitter } from './sse-splitter.ts';

/**
 * How a passed-on stream ended: read to its `end`, `cancelled` by its reader (e.g. `useChat`'s
 * `stop()`), or broke off with an `error`.
 *
 * @example
 * const onEnd = (how: StreamEnd) => { if (how !== 'end') refetchLater() };
 */
export type StreamEnd = 'end' | 'cancelled' | 'error';

/**
 * Options of `stripChargeEvent`.
 *
 * @example
 * stripChargeEvent(response, { onCharge: (c) => show(c.available), onEnd: () => refetchBalances() });
 */
export interface StripChargeEventOptions {
  /** The guard's `tokengate-charge` event, when the route sends it (`chargeEvent: true`). */
  onCharge?: (charge: ChargeEvent) => void;
  /** Called once when the body ends, however it ends. */
  onEnd?: (how: StreamEnd) => void;
  /**
   * Aborting it cancels the original body (so the server sees the disconnect even through a fetch
   * that ignores its signal) and errors the passed-on stream with the signal's reason.
   */
  signal?: AbortSignal;
}

/**
 * The same answer (status, headers) with a body that no longer carries the guard's final
 * `tokengate-charge` event: readers that parse every SSE event as their own JSON (the AI SDK's
 * UI message stream does) would otherwise fail on it. Every other byte is passed on as it came.
 * A body that is not `text/event-stream` is passed on unchanged (only `onEnd` is called).
 *
 * @example
 * const response = stripChargeEvent(await client.callGuarded('/api/chat', init), {
 *   onCharge: ({ available }) => console.log('left:', available),
 *   onEnd: () => queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(orgId) }),
 * });
 */
export function stripChargeEvent(response: Response, options: StripChargeEventOptions = {}): Response {
  const { onCharge, onEnd, signal } = options;
  const body = response.body;
  if (!body) {
    onEnd?.('end');
    return response;
  }
  let ended = false;
  const end = (how: StreamEnd) => {
    if (ended) return;
    ended = true;
    onEnd?.(how);
  };
  const sse = isEventStream(response) ? sseSplitter() : null;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const reader = body.getReader();

  const keep = (block: string): string => {
    const event = parseSseBlock(block);
    if (event?.event === CHARGE_EVENT) {
      const charge = parseChargeEvent(event.data);
      if (charge) onCharge?.(charge);
      return '';
    }
    return `${block}\n\n`;
  };

  let abort = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      abort = () => {
        end('cancelled');
        void reader.cancel(signal?.reason).catch(() => {});
        controller.error(signal?.reason);
      };
      if (signal?.aborted) abort();
      else signal?.addEventListener('abort', abort, { once: true });
    },
    // Loops until it has passed something on: a pull that enqueues nothing is not called again.
    async pull(controller) {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          if (signal?.aborted) return;
          end('error');
          controller.error(error);
          return;
        }
        if (signal?.aborted) return;
        if (next.done) {
          if (sse) {
            let out = '';
            for (const block of sse.push(decoder.decode())) out += keep(block);
            // An unterminated last block is passed on as it came (its reader decides what it means).
            for (const block of sse.end()) out += keep(block) === '' ? '' : block;
            if (out !== '') controller.enqueue(encoder.encode(out));
          }
          signal?.removeEventListener('abort', abort);
          controller.close();
          end('end');
          return;
        }
        if (!sse) return controller.enqueue(next.value);
        let out = '';
        for (const block of sse.push(decoder.decode(next.value, { stream: true }))) out += keep(block);
        if (out !== '') return controller.enqueue(encoder.encode(out));
      }
    },
    async cancel(reason) {
      signal?.removeEventListener('abort', abort);
      end('cancelled');
      await reader.cancel(reason).catch(() => {});
    },
  });
  return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers });
}
