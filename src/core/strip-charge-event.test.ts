// @vitest-environment node
import { expect, it } from 'vitest';
import { stripChargeEvent, type StreamEnd } from './strip-charge-event.ts';

const id = '0b7f3c2e-6a1d-4c8e-9f00-1a2b3c4d5e6f';
const encoder = new TextEncoder();
const chargeEvent = `event: tokengate-charge\ndata: {"charged":2,"available":"unlimited","reservationId":"${id}"}\n\n`;

function answer(chunks: string[], type = 'text/event-stream') {
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(encoder.encode(c));
        controller.close();
      },
    }),
    { status: 200, headers: { 'content-type': type, 'x-vercel-ai-ui-message-stream': 'v1' } },
  );
}

it('passes every event on as it came, without the charge event, and says when it ended', async () => {
  const charges: unknown[] = [];
  const ends: StreamEnd[] = [];
  const body = 'data: {"type":"start"}\n\n: ping\n\ndata: {"type":"text-delta","delta":"hi"}\n\ndata: [DONE]\n\n';
  const stripped = stripChargeEvent(answer([body.slice(0, 30), body.slice(30), chargeEvent.slice(0, 9), chargeEvent.slice(9)]), {
    onCharge: (c) => charges.push(c),
    onEnd: (how) => ends.push(how),
  });
  expect(stripped.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
  expect(await stripped.text()).toBe(body);
  expect(charges).toEqual([{ charged: 2, available: 'unlimited', reservationId: id }]);
  expect(ends).toEqual(['end']);
});

it('leaves a body that is not an event stream as it is', async () => {
  const ends: StreamEnd[] = [];
  const stripped = stripChargeEvent(answer(['{"a":', '1}'], 'application/json'), { onEnd: (how) => ends.push(how) });
  expect(await stripped.json()).toEqual({ a: 1 });
  expect(ends).toEqual(['end']);
});

it("a reader's cancel reaches the original body, once", async () => {
  let cancelled = 0;
  const ends: StreamEnd[] = [];
  const source = new Response(
    new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(encoder.encode('data: 1\n\n')),
      cancel: () => void cancelled++,
    }),
    { headers: { 'content-type': 'text/event-stream' } },
  );
  const reader = stripChargeEvent(source, { onEnd: (how) => ends.push(how) }).body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: 1\n\n');
  await reader.cancel();
  expect(cancelled).toBe(1);
  expect(ends).toEqual(['cancelled']);
});

it('an abort of the signal cancels the original body and errors the passed-on stream', async () => {
  let cancelled = false;
  const ends: StreamEnd[] = [];
  const controller = new AbortController();
  const source = new Response(
    new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(encoder.encode('data: 1\n\n')),
      cancel: () => void (cancelled = true),
    }),
    { headers: { 'content-type': 'text/event-stream' } },
  );
  const reader = stripChargeEvent(source, { signal: controller.signal, onEnd: (how) => ends.push(how) }).body!.getReader();
  await reader.read();
  const pending = reader.read();
  controller.abort(new DOMException('stopped', 'AbortError'));
  await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  expect(cancelled).toBe(true);
  expect(ends).toEqual(['cancelled']);
});

it('a body that breaks off errors the passed-on stream and ends with error', async () => {
  const ends: StreamEnd[] = [];
  const source = new Response(
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(encoder.encode('data: 1\n\n'));
        c.error(new TypeError('network error'));
      },
    }),
    { headers: { 'content-type': 'text/event-stream' } },
  );
  await expect(stripChargeEvent(source, { onEnd: (how) => ends.push(how) }).text()).rejects.toThrow('network error');
  expect(ends).toEqual(['error']);
});
