/**
 * Streamed guarded answers over real HTTP: the guard behind the Node adapter on a loopback port,
 * a real client (fetch) that reads part of the stream and goes away, a stream that outlives its
 * hold, usage reported after the client has seen the last chunk. The route's stream is driven by
 * the test (a chunk is sent only when the test pushes it), so every count is exact.
 */
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { supabaseAuth } from '../../server/auth.ts';
import { toNodeHandler } from '../../server/adapters/node.ts';
import { createTokenGate } from '../../server/gate.ts';
import { guard, type GuardContext } from '../../server/guard.ts';
import { CHARGE_EVENT, parseChargeEvent } from '../../src/core/charge-event.ts';
import { describeEachDb, type TestDb } from '../db.ts';
import { createTestIssuer, type TestIssuer } from '../jwt.ts';
import { bucket, createOrg, expectReconciled, type SeededOrg } from '../ledger.ts';
import { waitFor } from '../wait-for.ts';
import { storeFor } from './fixture.ts';

const NOW = '2028-01-10T12:00:00Z';
const encoder = new TextEncoder();

/** One run of the route: its context and the stream the test writes to. */
interface Run {
  ctx: GuardContext;
  push(text: string): void;
  close(): void;
  cancelled: boolean;
}

describeEachDb('streamed guarded route over HTTP', (getDb) => {
  let db: TestDb;
  let issuer: TestIssuer;
  let server: Server;
  let base: string;
  const runs: Run[] = [];

  beforeAll(async () => {
    db = getDb();
    await db.setNow(NOW);
    issuer = await createTestIssuer();
    const gate = createTokenGate({ store: storeFor(db) });
    const route = guard(
      { gate, authenticate: supabaseAuth(issuer.authOptions), tokenType: 'strategy_analysis', estimate: 40, ttlSeconds: 60, chargeEvent: true },
      async (_request, ctx) => {
        let controller!: ReadableStreamDefaultController<Uint8Array>;
        const run: Run = {
          ctx,
          push: (text) => controller.enqueue(encoder.encode(text)),
          close: () => controller.close(),
          cancelled: false,
        };
        runs.push(run);
        const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c), cancel: () => void (run.cancelled = true) });
        return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
      },
    );
    server = http.createServer(toNodeHandler(route));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server?.closeAllConnections();
    server?.close();
  });

  const call = async (org: SeededOrg, signal?: AbortSignal) =>
    fetch(`${base}/api/analysis`, {
      method: 'POST',
      headers: { authorization: await issuer.bearer(org.members[0]!), 'x-tokengate-org': org.orgId },
      body: '{}',
      ...(signal ? { signal } : {}),
    });
  /**
   * Send a request and wait for its run; the answer's headers leave the server with the first chunk
   * (Node sends them with the first write), so `first` is pushed before the answer is awaited.
   */
  async function start(org: SeededOrg, first: string, signal?: AbortSignal) {
    const before = runs.length;
    const answer = call(org, signal);
    await waitFor(() => runs.length > before, { what: 'the route running' });
    const run = runs[before]!;
    run.push(first);
    return { res: await answer, run };
  }
  const balance = async (orgId: string) => {
    const b = (await bucket(db, orgId, 'strategy_analysis'))!;
    return { left: b.allowance_remaining + b.purchased_remaining, held: b.held, used: b.used };
  };
  /** Read SSE events from `reader` until `count` have arrived (returns their text). */
  async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number, seen: { text: string }) {
    const decoder = new TextDecoder();
    while (seen.text.split('\n\n').length - 1 < count) {
      const next = await reader.read();
      if (next.done) throw new Error(`the stream ended after ${seen.text}`);
      seen.text += decoder.decode(next.value, { stream: true });
    }
    return seen.text;
  }

  it('a client that reads half the stream and disconnects is charged the usage reported so far; the rest is refunded', async () => {
    const org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const abort = new AbortController();
    const { res, run } = await start(org, 'data: chunk 1\n\n', abort.signal);
    run.ctx.reportUsage(1);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tokengate-charged')).toBeNull();
    expect(res.headers.get('x-tokengate-reservation')).toBe(run.ctx.reservation.reservationId);
    const reader = res.body!.getReader();
    const seen = { text: '' };
    // Ten chunks would make the whole answer; the model reports its usage as it goes.
    for (let i = 2; i <= 5; i++) {
      run.push(`data: chunk ${i}\n\n`);
      run.ctx.reportUsage(i);
    }
    await readEvents(reader, 5, seen);
    abort.abort();
    await waitFor(() => run.cancelled, { what: "the route's stream cancelled after the client left" });
    await waitFor(async () => (await balance(org.orgId)).held === 0, { what: 'the hold resolved' });
    expect(await balance(org.orgId)).toEqual({ left: 95, held: 0, used: 5 });
    const rows = await db.query<{ kind: string; charged: number }>(
      `select kind, charged::int as charged from tokengate.ledger where org_id = $1 and kind <> 'refresh' order by id`,
      [org.orgId],
    );
    expect(rows).toEqual([
      { kind: 'reserve', charged: 0 },
      { kind: 'commit', charged: 5 },
    ]);
    await expectReconciled(db, org.orgId);
  });

  it('usage reported after the client has seen the last chunk is what is charged, and the charge event says so', async () => {
    const org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const { res, run } = await start(org, 'data: chunk 1\n\n');
    const reader = res.body!.getReader();
    const seen = { text: '' };
    for (let i = 2; i <= 3; i++) run.push(`data: chunk ${i}\n\n`);
    await readEvents(reader, 3, seen);
    // Only now (the model's finish part) is the usage known.
    run.ctx.reportUsage(17);
    run.close();
    const text = await readEvents(reader, 4, seen);
    expect((await reader.read()).done).toBe(true);
    const last = text.split('\n\n').at(-2)!;
    expect(last.startsWith(`event: ${CHARGE_EVENT}\ndata: `)).toBe(true);
    expect(parseChargeEvent(last.split('\ndata: ')[1]!)).toEqual({ charged: 17, available: 83, reservationId: run.ctx.reservation.reservationId });
    expect(await balance(org.orgId)).toEqual({ left: 83, held: 0, used: 17 });
    await expectReconciled(db, org.orgId);
  });

  it('a stream that outlives its hold (ttl 60 s, the ledger clock moved past it) is still charged, late', async () => {
    const org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const { res, run } = await start(org, 'data: slow start\n\n');
    const reader = res.body!.getReader();
    const seen = { text: '' };
    await readEvents(reader, 1, seen);
    try {
      await db.setNow('2028-01-10T12:02:00Z');
      run.push('data: still going\n\n');
      run.ctx.reportUsage(25);
      run.close();
      const text = await readEvents(reader, 3, seen);
      expect(parseChargeEvent(text.split('\n\n').at(-2)!.split('\ndata: ')[1]!)).toMatchObject({ charged: 25, available: 75 });
    } finally {
      await db.setNow(NOW);
    }
    const rows = await db.query<{ kind: string; charged: number; late: string | null }>(
      `select kind, charged::int as charged, metadata ->> 'late' as late from tokengate.ledger where org_id = $1 and kind <> 'refresh' order by id`,
      [org.orgId],
    );
    expect(rows).toEqual([
      { kind: 'reserve', charged: 0, late: null },
      { kind: 'expire', charged: 0, late: null },
      { kind: 'deduct', charged: 25, late: 'true' },
    ]);
    await expectReconciled(db, org.orgId);
  });
});
