/**
 * The guard under contention on a real Postgres server: 200 guarded requests race over HTTP
 * (toNodeHandler on a loopback port) for one bucket, through `postgresStore` on a harness pool of
 * up to 40 connections (as the server role; fewer when this file's share of the run's connections
 * is smaller, see test/connection-budget.ts). Exactly floor(K / cost) handlers may run; everyone else
 * gets 402 without the handler running; nothing is overspent; the ledger reconciles. And many
 * copies of one request (same Idempotency-Key) in flight at once are charged exactly once.
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
import { guard } from '../../server/guard.ts';
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
  /** HTTP requests that reached the server. */
  received: number;
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
   * holds.
   */
  async function serve(opts: { estimate?: number; report?: number; until: { what: string; done: (s: Stats) => boolean } }) {
    const stats: Stats = { received: 0, running: 0, maxRunning: 0, runs: 0 };
    const handler = guard(
      { gate, authenticate: supabaseAuth(issuer.authOptions), tokenType: 'quest_generation', ...(opts.estimate ? { estimate: opts.estimate } : {}) },
      async (_request, ctx) => {
        stats.runs++;
        stats.maxRunning = Math.max(stats.maxRunning, ++stats.running);
        try {
          await waitFor(() => opts.until.done(stats), { what: opts.until.what, timeoutMs: 45_000 });
        } finally {
          stats.running--;
        }
        if (opts.report !== undefined) ctx.reportUsage(opts.report);
        return Response.json({ ok: true });
      },
    );
    const node = toNodeHandler(handler);
    const server = http.createServer((req, res) => {
      stats.received++;
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

  it('many copies of one request in flight at once (same Idempotency-Key) are charged exactly once', async () => {
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const token = await issuer.bearer(org.members[0]!, { alg: 'HS256' });
    // The charged run finishes only after every copy has reached the server: they are in flight together.
    const { url, stats } = await serve({ estimate: 6, report: 5, until: { what: 'all 30 copies received', done: (s) => s.received >= 30 } });
    const results = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const res = await fetch(url, { method: 'POST', headers: { authorization: token, 'x-tokengate-org': org.orgId, 'idempotency-key': 'same-one' } });
        await res.arrayBuffer();
        return { status: res.status, charged: res.headers.get('x-tokengate-charged'), replayed: res.headers.get('idempotent-replayed') };
      }),
    );
    expect(new Set(results.map((r) => r.status))).toEqual(new Set([200]));
    expect(results.filter((r) => r.replayed === null)).toHaveLength(1); // one charged it
    expect(new Set(results.map((r) => r.charged))).toEqual(new Set(['5'])); // every copy reports that charge
    expect(stats.runs).toBeGreaterThanOrEqual(1);
    expect(await bucket(db(), org.orgId, 'quest_generation')).toMatchObject({ allowance_remaining: 55, held: 0, used: 5 });
    const kinds = (await db().query<{ kind: string }>(`select kind from tokengate.ledger where org_id = $1 and kind <> 'refresh' order by id`, [org.orgId])).map((r) => r.kind);
    expect(kinds).toEqual(['reserve', 'commit']);
    await expectReconciled(db(), org.orgId);
  });
});
