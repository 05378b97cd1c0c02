/**
 * Streamed answers through the guard on a real ledger: the handler's body is a stream the test
 * drives chunk by chunk, and every test reads the ledger back. (Over real HTTP: test/http/stream.test.ts.)
 */
import { beforeAll, expect, it } from 'vitest';
import { parseChargeEvent } from '../src/core/charge-event.ts';
import { describeEachDb, type TestDb } from '../test/db.ts';
import { expectProblem, storeFor } from '../test/http/fixture.ts';
import { createTestIssuer, type TestIssuer } from '../test/jwt.ts';
import { bucket, createOrg, expectReconciled, type SeededOrg } from '../test/ledger.ts';
import { waitFor } from '../test/wait-for.ts';
import { supabaseAuth } from './auth.ts';
import { createTokenGate, type TokenGate } from './gate.ts';
import { guard, type GuardContext, type GuardErrorInfo, type GuardOptions } from './guard.ts';

const NOW = '2028-01-10T12:00:00Z';
const ANCHOR = '2028-01-01T00:00:00Z';
const SSE = { 'content-type': 'text/event-stream' };
const encoder = new TextEncoder();

/** A body the test writes to, and what the guard did to it (cancelled, and with what). */
function source() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const state = { cancelled: false, pulls: 0 };
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    pull: () => void state.pulls++,
    cancel: () => void (state.cancelled = true),
  });
  return {
    stream,
    state,
    push: (text: string) => controller.enqueue(encoder.encode(text)),
    close: () => controller.close(),
    fail: (error: unknown) => controller.error(error),
  };
}

describeEachDb('guard: streamed answers', (getDb) => {
  let db: TestDb;
  let issuer: TestIssuer;
  let gate: TokenGate;

  beforeAll(async () => {
    db = getDb();
    await db.setNow(NOW);
    issuer = await createTestIssuer();
    gate = createTokenGate({ store: storeFor(db) });
  });

  /** A guarded route whose answer is `body(ctx)`, with what it saw. */
  function setup(options: Partial<GuardOptions>, body: (ctx: GuardContext) => Response) {
    const runs: GuardContext[] = [];
    const errors: { error: unknown; info: GuardErrorInfo }[] = [];
    const handler = guard(
      { gate, authenticate: supabaseAuth(issuer.authOptions), tokenType: 'strategy_analysis', onError: (error, info) => errors.push({ error, info }), ...options },
      async (_request, ctx) => (runs.push(ctx), body(ctx)),
    );
    return { handler, runs, errors };
  }

  async function request(org: SeededOrg, key?: string) {
    const headers = new Headers({ authorization: await issuer.bearer(org.members[0]!), 'x-tokengate-org': org.orgId });
    if (key) headers.set('idempotency-key', key);
    return new Request('http://app.test/api/stream', { method: 'POST', headers, body: '{}' });
  }

  const freshOrg = () => createOrg(db, { plan: 'pro', anchor: ANCHOR });
  const balance = async (orgId: string) => {
    const b = (await bucket(db, orgId, 'strategy_analysis'))!;
    return { left: b.allowance_remaining + b.purchased_remaining, held: b.held, used: b.used };
  };
  const entries = async (orgId: string) =>
    db.query<{ kind: string; charged: number; late: boolean }>(
      `select kind, charged::int as charged, coalesce((metadata ->> 'late')::boolean, false) as late
       from tokengate.ledger where org_id = $1 and kind <> 'refresh' order by id`,
      [orgId],
    );

  it('keeps the hold open while the body streams and charges the usage reported with the last chunk', async () => {
    const org = await freshOrg();
    const body = source();
    const { handler, runs } = setup({ estimate: 30 }, () => new Response(body.stream, { headers: SSE }));
    const res = await handler(await request(org));
    expect(res.status).toBe(200);
    // Charge headers cannot follow a started body: only the reservation is named.
    expect(res.headers.get('x-tokengate-charged')).toBeNull();
    expect(res.headers.get('x-tokengate-available')).toBeNull();
    expect(res.headers.get('x-tokengate-reservation')).toBe(runs[0]!.reservation.reservationId);
    const text = res.text();
    body.push('data: one\n\n');
    body.push('data: two\n\n');
    await waitFor(async () => (await balance(org.orgId)).held === 30, { what: 'the hold still open' });
    expect(await entries(org.orgId)).toEqual([{ kind: 'reserve', charged: 0, late: false }]);
    runs[0]!.reportUsage(50);
    runs[0]!.reportUsage(7); // the last report wins
    body.close();
    expect(await text).toBe('data: one\n\ndata: two\n\n');
    // The charge was written before the client saw the end.
    expect(await balance(org.orgId)).toEqual({ left: 93, held: 0, used: 7 });
    expect(await entries(org.orgId)).toEqual([
      { kind: 'reserve', charged: 0, late: false },
      { kind: 'commit', charged: 7, late: false },
    ]);
    // A report after the end changes nothing.
    runs[0]!.reportUsage(40);
    expect(await balance(org.orgId)).toEqual({ left: 93, held: 0, used: 7 });
    await expectReconciled(db, org.orgId);
  });

  it('charges the estimate when a completed stream reported nothing', async () => {
    const org = await freshOrg();
    const body = source();
    const { handler } = setup({ estimate: 12 }, () => new Response(body.stream, { headers: SSE }));
    const res = await handler(await request(org));
    body.push('data: x\n\n');
    body.close();
    await res.text();
    expect(await balance(org.orgId)).toEqual({ left: 88, held: 0, used: 12 });
  });

  it('chargeEvent appends one tokengate-charge event with the charge and the balance', async () => {
    const org = await freshOrg();
    const body = source();
    const { handler, runs } = setup({ estimate: 30, chargeEvent: true }, (ctx) => {
      body.push('data: {"text":"hi"}\n\n');
      ctx.reportUsage(9);
      body.close();
      return new Response(body.stream, { headers: SSE });
    });
    const text = await (await handler(await request(org))).text();
    const events = text.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(2);
    expect(events[0]).toBe('data: {"text":"hi"}');
    const [event, data] = events[1]!.split('\n');
    expect(event).toBe('event: tokengate-charge');
    expect(parseChargeEvent(data!.slice('data: '.length))).toEqual({ charged: 9, available: 91, reservationId: runs[0]!.reservation.reservationId });
  });

  it('never appends the charge event to a body that is not an event stream', async () => {
    const org = await freshOrg();
    const body = source();
    const { handler } = setup({ estimate: 5, chargeEvent: true, streamed: true }, (ctx) => {
      body.push('plain text');
      ctx.reportUsage(2);
      body.close();
      return new Response(body.stream, { headers: { 'content-type': 'text/plain' } });
    });
    const res = await handler(await request(org));
    expect(res.headers.get('x-tokengate-charged')).toBeNull();
    expect(await res.text()).toBe('plain text');
    expect(await balance(org.orgId)).toEqual({ left: 98, held: 0, used: 2 });
  });

  it('a client that cancels mid-stream is charged what was reported so far, the rest refunded, and the handler stream is cancelled', async () => {
    const org = await freshOrg();
    const body = source();
    const { handler, runs } = setup({ estimate: 40 }, () => new Response(body.stream, { headers: SSE }));
    const reader = (await handler(await request(org, 'k-cancel'))).body!.getReader();
    body.push('data: part\n\n');
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: part\n\n');
    runs[0]!.reportUsage(6);
    await reader.cancel('user pressed stop');
    expect(body.state.cancelled).toBe(true);
    expect(await balance(org.orgId)).toEqual({ left: 94, held: 0, used: 6 });
    expect((await entries(org.orgId)).map((e) => [e.kind, e.charged])).toEqual([['reserve', 0], ['commit', 6]]);
    await expectReconciled(db, org.orgId);
    // The partly delivered work is charged: the key never runs again.
    await expectProblem(await handler(await request(org, 'k-cancel')), 'request_completed');
    expect(runs).toHaveLength(1);
  });

  it('a cancel is charged at least minimumCharge (default 1; configurable), and the whole estimate when the route reported nothing', async () => {
    const cases = [
      [{}, 0, 1],
      [{ minimumCharge: 15 }, 0, 15],
      // Nothing reported: the usage is unknown, so leaving early does not make the work free.
      [{}, undefined, 40],
      [{ minimumCharge: 15 }, undefined, 40],
    ] as const;
    for (const [options, reported, charged] of cases) {
      const org = await freshOrg();
      const body = source();
      const { handler, runs } = setup({ estimate: 40, ...options }, () => new Response(body.stream, { headers: SSE }));
      const reader = (await handler(await request(org))).body!.getReader();
      body.push('data: a\n\n');
      await reader.read();
      if (reported !== undefined) runs[0]!.reportUsage(reported);
      await reader.cancel();
      expect(await balance(org.orgId), JSON.stringify({ options, reported })).toEqual({ left: 100 - charged, held: 0, used: charged });
    }
  });

  it("the handler's stream failing before anything was delivered is refunded, and the key may run again", async () => {
    const org = await freshOrg();
    let attempt = 0;
    const { handler, runs, errors } = setup({ estimate: 40 }, () => {
      attempt++;
      const body = source();
      if (attempt === 1) body.fail(new Error('model refused'));
      else {
        body.push('data: ok\n\n');
        body.close();
      }
      return new Response(body.stream, { headers: SSE });
    });
    await expect((await handler(await request(org, 'k-fail'))).text()).rejects.toThrow('model refused');
    expect(await balance(org.orgId)).toEqual({ left: 100, held: 0, used: 0 });
    expect(errors.map((e) => e.info.phase)).toEqual(['handler']);
    expect(await (await handler(await request(org, 'k-fail'))).text()).toBe('data: ok\n\n');
    expect(runs).toHaveLength(2);
    expect(await balance(org.orgId)).toEqual({ left: 60, held: 0, used: 40 });
    await expectReconciled(db, org.orgId);
  });

  it("the handler's stream failing mid-way charges what was reported (at least minimumCharge) and tells onError", async () => {
    const org = await freshOrg();
    const body = source();
    const { handler, runs, errors } = setup({ estimate: 40 }, () => new Response(body.stream, { headers: SSE }));
    const reader = (await handler(await request(org))).body!.getReader();
    body.push('data: a\n\n');
    await reader.read();
    runs[0]!.reportUsage(3);
    body.fail(new Error('model connection reset'));
    await expect(reader.read()).rejects.toThrow('model connection reset');
    expect(await balance(org.orgId)).toEqual({ left: 97, held: 0, used: 3 });
    expect(errors.map((e) => [e.info.phase, (e.error as Error).message])).toEqual([['handler', 'model connection reset']]);
    await expectReconciled(db, org.orgId);
  });

  it('a hold that expires while the body streams is still charged (a late charge)', async () => {
    const org = await freshOrg();
    const body = source();
    const { handler, runs } = setup({ estimate: 20, ttlSeconds: 60 }, () => new Response(body.stream, { headers: SSE }));
    const res = await handler(await request(org));
    const text = res.text();
    body.push('data: slow\n\n');
    try {
      // The ledger's clock passes the hold's expiry while the stream is still open.
      await db.setNow('2028-01-10T12:05:00Z');
      runs[0]!.reportUsage(8);
      body.close();
      expect(await text).toBe('data: slow\n\n');
    } finally {
      await db.setNow(NOW);
    }
    expect(await entries(org.orgId)).toEqual([
      { kind: 'reserve', charged: 0, late: false },
      { kind: 'expire', charged: 0, late: false },
      { kind: 'deduct', charged: 8, late: true },
    ]);
    expect(await balance(org.orgId)).toEqual({ left: 92, held: 0, used: 8 });
    await expectReconciled(db, org.orgId);
  });

  it("replay: 'store' replays a completed stream that fits maxReplayBytes (without the charge event); a larger one answers 409", async () => {
    const org = await freshOrg();
    const small = setup({ estimate: 5, replay: 'store', chargeEvent: true }, (ctx) => {
      const body = source();
      body.push('data: a\n\n');
      body.push('data: b\n\n');
      ctx.reportUsage(4);
      body.close();
      return new Response(body.stream, { headers: SSE });
    });
    expect(await (await small.handler(await request(org, 'k-small'))).text()).toContain('event: tokengate-charge');
    const again = await small.handler(await request(org, 'k-small'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-tokengate-charged')).toBe('4');
    expect(await again.text()).toBe('data: a\n\ndata: b\n\n');
    expect(small.runs).toHaveLength(1);

    const large = setup({ estimate: 5, replay: 'store', maxReplayBytes: 16 }, () => {
      const body = source();
      for (let i = 0; i < 4; i++) body.push(`data: ${'x'.repeat(10)}\n\n`);
      body.close();
      return new Response(body.stream, { headers: SSE });
    });
    expect(await (await large.handler(await request(org, 'k-large'))).text()).toHaveLength(72);
    await expectProblem(await large.handler(await request(org, 'k-large')), 'request_completed');
    expect(large.runs).toHaveLength(1);
  });

  it('streamed: false keeps an event stream buffered-style (charged when the handler returns, with headers)', async () => {
    const org = await freshOrg();
    const { handler } = setup({ estimate: 5, streamed: false }, (ctx) => (ctx.reportUsage(2), new Response('data: x\n\n', { headers: SSE })));
    const res = await handler(await request(org));
    expect(res.headers.get('x-tokengate-charged')).toBe('2');
    expect(await res.text()).toBe('data: x\n\n');
  });

  it('validates the streaming options', () => {
    const base = { gate, authenticate: supabaseAuth(issuer.authOptions), tokenType: 'x' } as GuardOptions;
    const h = async () => new Response();
    expect(() => guard({ ...base, minimumCharge: -1 }, h)).toThrow(/minimumCharge/);
    expect(() => guard({ ...base, minimumCharge: 1.5 }, h)).toThrow(/minimumCharge/);
    expect(() => guard({ ...base, chargeEvent: 'yes' as never }, h)).toThrow(/chargeEvent/);
    expect(() => guard({ ...base, streamed: 'auto' as never }, h)).toThrow(/streamed/);
  });
});
