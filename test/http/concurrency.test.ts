/**
 * The guard under contention on a real Postgres server: 200 guarded requests race over HTTP
 * (toNodeHandler on a loopback port) for one bucket, through `postgresStore` on a harness pool of
 * up to 40 connections (as the server role; fewer when this file's share of the run's connections
 * is smaller, see test/connection-budget.ts). Exactly floor(K / cost) handlers may run; everyone else
 * gets 402 without the handler running; nothing is overspent; the ledger reconciles. And every
 * handler run is paid: duplicates of a key in flight, sequential replays and members trying to
 * release the guard's holds never get a run for free.
 *
 * Overlap is made, not hoped for: the handlers ("the AI call") wait until the situation under
 * test exists — all the allowed runs holding their reservations at once, or every copy of the
 * request received — instead of sleeping and asserting afterwards that they happened to overlap.
 */
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { supabaseAuth } from '../../server/auth.ts';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import { guard, type GuardContext } from '../../server/guard.ts';
import { createHandler } from '../../server/http/handler.ts';
import { toNodeHandler } from '../../server/adapters/node.ts';
import { postgresStore } from '../../server/stores/postgres-store.ts';
import type { TokenStore } from '../../server/store.ts';
import { concurrencyPoolSize, describeServer } from '../db.ts';
import { createTestIssuer, type TestIssuer } from '../jwt.ts';
import { bucket, createOrg, expectReconciled } from '../ledger.ts';
import { waitFor } from '../wait-for.ts';

const POOL_SIZE = concurrencyPoolSize(40);
const REQUESTS = 200;
const COST = 3; // quest_generation
const K = 31; // tokens available: floor(31 / 3) = 10 handler runs

interface Stats {
  /** HTTP requests that reached the server, and those answered. */
  received: number;
  answered: number;
  /** Handler runs in progress now, the most at once, and in all. */
  running: number;
  maxRunning: number;
  runs: number;
}

describeServer('guard under concurrency', (db) => {
  let store: TokenStore;
  let gate: TokenGate;
  let issuer: TestIssuer;
  const servers: Server[] = [];

  beforeAll(async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    // The harness's pool: counted in the connection budget, and it waits while the server is full.
    const pool = db().pool(POOL_SIZE);
    pool.options.options = `${pool.options.options ?? ''} -c role=service_role`.trim();
    store = postgresStore({ pool });
    gate = createTokenGate({ store });
    issuer = await createTestIssuer();
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    await store?.close?.();
  });

  /**
   * Serve a guarded route over HTTP; returns its URL and counters (requests received, handler
   * runs). The handler — the AI call, its hold pending meanwhile — returns only once `until(stats)`
   * holds, after running `during` (an attack made while the hold is in flight).
   */
  async function serve(opts: {
    estimate?: number;
    report?: number;
    replay?: 'store';
    during?: (ctx: GuardContext) => Promise<void>;
    until?: { what: string; done: (s: Stats) => boolean };
  }) {
    const stats: Stats = { received: 0, answered: 0, running: 0, maxRunning: 0, runs: 0 };
    const handler = guard(
      {
        gate,
        authenticate: supabaseAuth(issuer.authOptions),
        tokenType: 'quest_generation',
        ...(opts.estimate ? { estimate: opts.estimate } : {}),
        ...(opts.replay ? { replay: opts.replay } : {}),
      },
      async (_request, ctx) => {
        stats.runs++;
        stats.maxRunning = Math.max(stats.maxRunning, ++stats.running);
        try {
          await opts.during?.(ctx);
          const until = opts.until;
          if (until) await waitFor(() => until.done(stats), { what: until.what, timeoutMs: 45_000 });
        } finally {
          stats.running--;
        }
        if (opts.report !== undefined) ctx.reportUsage(opts.report);
        return Response.json({ run: stats.runs });
      },
    );
    const node = toNodeHandler(handler);
    const server = http.createServer((req, res) => {
      stats.received++;
      res.on('finish', () => stats.answered++);
      return node(req, res);
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/quests`, stats };
  }

  it(`${REQUESTS} racing requests for ${K} tokens at cost ${COST}: exactly ${Math.floor(K / COST)} run, the rest get 402`, async () => {
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 8 });
    // Pro grants 60 quest tokens; leave K.
    await gate.adjust({ orgId: org.orgId, actorId: org.owner }, 'quest_generation', { amount: K - 60, reason: 'test', idempotencyKey: 'leave-k' });
    const users = [org.owner, org.admin, ...org.members];
    const tokens = await Promise.all(users.map((u) => issuer.bearer(u, { alg: 'HS256' })));
    const runs = Math.floor(K / COST);
    // Every allowed run holds its reservation until all of them do: the refusals happen while the
    // bucket is fully held, and more than `runs` handlers could not start without an overspend.
    const { url, stats } = await serve({ until: { what: `${runs} guarded handlers running at once`, done: (s) => s.runs >= runs } });

    const results = await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { authorization: tokens[i % tokens.length]!, 'x-tokengate-org': org.orgId, 'idempotency-key': `race-${i}` },
        });
        const body = await res.json();
        return { status: res.status, code: body.code as string | undefined, available: res.headers.get('x-tokengate-available') };
      }),
    );

    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 402);
    expect({ ok: ok.length, refused: refused.length, handlerRuns: stats.runs }).toEqual({ ok: runs, refused: REQUESTS - runs, handlerRuns: runs });
    expect(new Set(refused.map((r) => r.code))).toEqual(new Set(['insufficient_tokens']));
    expect(stats.maxRunning).toBe(runs); // all of them held their tokens at the same time
    for (const r of ok) expect(Number(r.available)).toBeGreaterThanOrEqual(0);
    expect(await bucket(db(), org.orgId, 'quest_generation')).toMatchObject({
      allowance_remaining: K - runs * COST,
      purchased_remaining: 0,
      held: 0,
      used: runs * COST,
    });
    const [counts] = await db().query<{ reserve: number; commit: number; reservations: number }>(
      `select count(*) filter (where kind = 'reserve')::int as reserve, count(*) filter (where kind = 'commit')::int as commit,
              (select count(*)::int from tokengate.reservations where org_id = $1) as reservations
         from tokengate.ledger where org_id = $1`,
      [org.orgId],
    );
    expect(counts).toEqual({ reserve: runs, commit: runs, reservations: runs });
    await expectReconciled(db(), org.orgId);
  });

  /** Handler runs that were paid: commit and late-charge entries of the org. */
  const paidRuns = async (orgId: string) =>
    Number((await db().query<{ n: number }>(
      `select count(*)::int as n from tokengate.ledger where org_id = $1 and (kind = 'commit' or (kind = 'deduct' and reservation_id is not null))`, [orgId]))[0]!.n);

  it('100 requests over 10 keys — concurrent duplicates, then sequential replays: every handler run is paid, each key runs once', async () => {
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const token = await issuer.bearer(org.members[0]!, { alg: 'HS256' });
    // Each key's run finishes only after the 90 duplicates were answered: they were all in flight with it.
    const { url, stats } = await serve({ estimate: 3, report: 3, replay: 'store', until: { what: 'the 90 duplicates answered', done: (s) => s.answered >= 90 } });
    const send = async (key: string) => {
      const res = await fetch(url, { method: 'POST', headers: { authorization: token, 'x-tokengate-org': org.orgId, 'idempotency-key': key } });
      const body = await res.json();
      return { status: res.status, code: body.code as string | undefined, run: body.run as number | undefined, replayed: res.headers.get('idempotent-replayed') };
    };
    const keys = Array.from({ length: 10 }, (_, i) => `key-${i}`);
    const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => send(keys[i % 10]!)));
    const outcomes = concurrent.map((r) => (r.status === 200 ? (r.replayed ? 'replayed' : 'ran') : r.code));
    expect(outcomes.filter((o) => o === 'ran')).toHaveLength(10);
    expect(outcomes.filter((o) => o === 'request_in_progress')).toHaveLength(90);
    expect(stats.runs).toBe(10);
    expect(await paidRuns(org.orgId)).toBe(stats.runs);

    // Sequential replays: every key answers its stored result; nothing runs, nothing is charged.
    for (let i = 0; i < 100; i++) {
      const r = await send(keys[i % 10]!);
      expect(r).toMatchObject({ status: 200, replayed: 'true' });
    }
    expect(stats.runs).toBe(10);
    expect(await paidRuns(org.orgId)).toBe(10);
    expect(await bucket(db(), org.orgId, 'quest_generation')).toMatchObject({ used: 30, held: 0 });
    await expectReconciled(db(), org.orgId);
  });

  it('members releasing or committing the guard\'s holds mid-flight through the API get 404; every run is still paid', async () => {
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const member = org.members[0]!;
    const api = createHandler({ gate, authenticate: supabaseAuth(issuer.authOptions) });
    const owner = await issuer.bearer(org.owner, { alg: 'HS256' });
    const attacks: number[] = [];
    const { url, stats } = await serve({
      estimate: 3,
      during: async (ctx) => {
        const base = `http://localhost/api/tokengate/orgs/${org.orgId}/reservations/${ctx.reservation.reservationId}`;
        const results = await Promise.all([
          api(new Request(`${base}/release`, { method: 'POST', headers: { authorization: owner } })),
          api(new Request(`${base}/commit`, { method: 'POST', headers: { authorization: owner, 'content-type': 'application/json' }, body: '{"actual":0}' })),
        ]);
        attacks.push(...results.map((r) => r.status));
      },
    });
    const token = await issuer.bearer(member, { alg: 'HS256' });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fetch(url, { method: 'POST', headers: { authorization: token, 'x-tokengate-org': org.orgId, 'idempotency-key': `mid-${i}` } })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(attacks)).toEqual(new Set([404]));
    expect(stats.runs).toBe(10);
    expect(await paidRuns(org.orgId)).toBe(10);
    expect(await bucket(db(), org.orgId, 'quest_generation')).toMatchObject({ used: 30, held: 0 });
    await expectReconciled(db(), org.orgId);
  });
});
