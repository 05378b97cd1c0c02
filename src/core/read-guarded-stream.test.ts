// @vitest-environment node
import { expect, it } from 'vitest';
import { readGuardedStream } from './read-guarded-stream.ts';
import { TokenGateError } from './token-gate-error.ts';

const id = '0b7f3c2e-6a1d-4c8e-9f00-1a2b3c4d5e6f';
const encoder = new TextEncoder();

/** A streamed answer of `chunks` (split anywhere, even inside a character), then the end. */
function answer(chunks: (string | Uint8Array)[], type = 'text/event-stream') {
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(typeof c === 'string' ? encoder.encode(c) : c);
        controller.close();
      },
    }),
    { headers: { 'content-type': type } },
  );
}

/** A stream that sends `first`, then waits; records whether its reader cancelled it. */
function openEnded(first: string) {
  const state = { cancelled: false, reason: undefined as unknown };
  const response = new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(first));
      },
      cancel(reason) {
        state.cancelled = true;
        state.reason = reason;
      },
    }),
    { headers: { 'content-type': 'text/event-stream; charset=utf-8' } },
  );
  return { response, state };
}

it('passes the text of each message event on as it arrives, and splits the charge event off', async () => {
  const texts: string[] = [];
  const charges: unknown[] = [];
  const named: string[] = [];
  const charge = `event: tokengate-charge\r\ndata: {"charged":4,"available":56,"reservationId":"${id}"}\r\n\r\n`;
  const result = await readGuardedStream(
    // CRLF split between chunks, an event split mid-field, a comment, a named event, a multi-line data.
    answer(['data: Str', 'ength\r', '\n\r\n: keep-alive\n\nevent: usage\ndata: {"n":2}\n\ndata: one\ndata: two\n\n', charge.slice(0, 20), charge.slice(20)]),
    { onText: (t) => texts.push(t), onCharge: (c) => charges.push(c), onEvent: (e) => named.push(e.event) },
  );
  expect(texts).toEqual(['Strength', 'one\ntwo']);
  expect(named).toEqual(['message', 'usage', 'message']);
  expect(result).toEqual({ text: 'Strengthone\ntwo', charge: { charged: 4, available: 56, reservationId: id } });
  expect(charges).toEqual([result.charge]);
});

it('reads a plain-text answer chunk by chunk (a character split across chunks stays whole)', async () => {
  const euro = encoder.encode('€');
  const texts: string[] = [];
  const result = await readGuardedStream(answer(['Cost: ', euro.slice(0, 1), euro.slice(1), '5'], 'text/plain; charset=utf-8'), { onText: (t) => texts.push(t) });
  expect(result).toEqual({ text: 'Cost: €5', charge: null });
  expect(texts.join('')).toBe('Cost: €5');
});

it('drops a malformed charge event instead of trusting half a charge', async () => {
  const result = await readGuardedStream(answer(['data: a\n\nevent: tokengate-charge\ndata: {"charged":-1}\n\n']));
  expect(result).toEqual({ text: 'a', charge: null });
});

it('an abort cancels the body (the server sees the disconnect) and rejects with aborted', async () => {
  const { response, state } = openEnded('data: half\n\n');
  const controller = new AbortController();
  const texts: string[] = [];
  const reading = readGuardedStream(response, {
    signal: controller.signal,
    onText: (t) => {
      texts.push(t);
      controller.abort();
    },
  });
  await expect(reading).rejects.toMatchObject({ name: 'TokenGateError', code: 'aborted' });
  expect(texts).toEqual(['half']);
  expect(state.cancelled).toBe(true);
});

it('an already aborted signal cancels the body without reading', async () => {
  const { response, state } = openEnded('data: never\n\n');
  const texts: string[] = [];
  await expect(readGuardedStream(response, { signal: AbortSignal.abort(), onText: (t) => texts.push(t) })).rejects.toMatchObject({ code: 'aborted' });
  expect(texts).toEqual([]);
  expect(state.cancelled).toBe(true);
});

it('a stream that breaks off mid-answer rejects with network', async () => {
  const response = new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('data: part\n\n'));
        controller.error(new Error('socket hang up'));
      },
    }),
    { headers: { 'content-type': 'text/event-stream' } },
  );
  const error = await readGuardedStream(response).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TokenGateError);
  expect(error).toMatchObject({ code: 'network' });
});

it('a callback that throws stops the stream too', async () => {
  const { response, state } = openEnded('data: x\n\n');
  await expect(
    readGuardedStream(response, {
      onText: () => {
        throw new Error('render failed');
      },
    }),
  ).rejects.toThrow('render failed');
  expect(state.cancelled).toBe(true);
});
