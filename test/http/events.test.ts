/**
 * Live balances over real HTTP: `GET /orgs/:orgId/events` served by `toNodeHandler` on a loopback
 * port, `postgresStore` on a Postgres server (its pool for the ledger calls, its one LISTEN
 * connection for the feed), clients reading with `fetch`. Every change is made through ANOTHER
 * connection (the harness's own session), as another server process, a job or pg_cron would.
 *
 * The latency bound (1 s from before the charge's call to the event's arrival) holds on a loaded
 * 2-core machine; the measured p50/p99 are the benchmark's (`npm run bench -- --only live`), not this test's.
 */
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BalanceChange } from '../../src/core/types.ts';
import { toNodeHandler } from '../../server/adapters/node.ts';
import { supabaseAuth } from '../../server/auth.ts';
import { createTokenGate, type GateContext, type TokenGate } from '../../server/gate.ts';
import { createHandler } from '../../server/http/handler.ts';
import { createChangeHub, type ChangeHub } from '../../server/live/change-hub.ts';
import { LISTEN_APPLICATION_NAME, postgresStore } from '../../server/stores/postgres-store.ts';
import { describeServer } from '../db.ts';
import { createTestIssuer, type TestIssuer } from '../jwt.ts';
import { call, createOrg, type SeededOrg } from '../ledger.ts';
import { waitFor } from '../wait-for.ts';
import { readSse, type SseReader } from './sse.ts';
import { expectProblem } from './fixture.ts';

const SUBSCRIBERS = 500;
const ORGS = 5;
const PER_USER = 5; // the default maxPerUser: 100 subscribers per organization (the default maxPerOrg) need 20 users

describeServer('GET /orgs/:orgId/events over HTTP', (db) => {
  let store: ReturnType<typeof postgresStore>;
  let gate: TokenGate;
  let hub: ChangeHub;
  let issuer: TestIssuer;
  let server: Server;
  let base: string;
  let org: SeededOrg;
  let member: GateContext;
  let keys = 0;
  const aborts: AbortController[] = [];

  beforeAll(async () => {
    await db().setNow(null);
    const pool = db().pool(4);
    pool.options.options = `${pool.options.options ?? ''} -c role=service_role`.trim();
    store = postgresStore({ pool });
    gate = createTokenGate({ store });
    hub = createChangeHub(store, { lingerMs: 0 });
    issuer = await createTestIssuer();
    const handler = createHandler({ gate, authenticate: supabaseAuth(issuer.authOptions), events: { hub, heartbeatMs: 200 } });
    server = http.createServer(toNodeHandler(handler));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/tokengate`;
    org = await createOrg(db(), { members: 2 });
    member = { orgId: org.orgId, userId: org.members[0]! };
    await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: member.userId }); // the period's buckets
  });
  afterAll(async () => {
    for (const a of aborts) a.abort();
    server?.closeAllConnections();
    server?.close();
    await hub?.close();
    await store?.close();
  });

  /** Open the event stream of `orgId` as `user` (a response that is not a stream is returned as is). */
  async function open(opts: { orgId?: string; user?: string; lastEventId?: number } = {}): Promise<{ response: Response; sse: SseReader | null; close(): void }> {
    const abort = new AbortController();
    aborts.push(abort);
    const headers: Record<string, string> = { authorization: await issuer.bearer(opts.user ?? member.userId, { alg: 'HS256' }) };
    if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
    const response = await fetch(`${base}/orgs/${opts.orgId ?? org.orgId}/events`, { headers, signal: abort.signal });
    const sse = response.headers.get('content-type') === 'text/event-stream' ? readSse(response) : null;
    return { response, sse, close: () => abort.abort() };
  }
  /** A charge through the harness's session: another connection than the server's. */
  const charge = async (ctx: GateContext = member, tokenType = 'quest_generation') =>
    call<{ ledgerId: number; balance: { available: number | null } }>(db(), 'deduct', {
      p_org_id: ctx.orgId,
      p_user_id: ctx.userId,
      p_token_type: tokenType,
      p_idempotency_key: `http-${++keys}`,
    });
  const snapshotOf = (sse: SseReader) => sse.next((e) => e.event === 'snapshot', 'the snapshot');

  it('a charge made through another connection arrives within 1 s, as the bucket it left', async () => {
    const { response, sse, close } = await open();
    // Through the Node adapter: streamed (chunked, no length), never cached or transformed, unbuffered by nginx.
    expect({
      type: response.headers.get('content-type'),
      cache: response.headers.get('cache-control'),
      accel: response.headers.get('x-accel-buffering'),
      connection: response.headers.get('connection'),
      length: response.headers.get('content-length'),
      encoding: response.headers.get('transfer-encoding'),
    }).toEqual({ type: 'text/event-stream', cache: 'no-cache, no-transform', accel: 'no', connection: 'keep-alive', length: null, encoding: 'chunked' });
    await snapshotOf(sse!);
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const result = await charge();
      const event = await sse!.next((e) => e.id === String(result.ledgerId), `charge ${i + 1}`);
      latencies.push(event.at - started);
      expect(JSON.parse(event.data)).toMatchObject({ orgId: org.orgId, ledgerId: result.ledgerId, kind: 'deduct', available: result.balance.available });
    }
    expect(Math.max(...latencies), `latencies ms: ${latencies.map((l) => l.toFixed(1)).join(', ')}`).toBeLessThan(1000);
    close();
  });

  it('resuming with Last-Event-ID loses nothing: every entry made while disconnected is replayed in order, then live resumes', async () => {
    const first = await open();
    await snapshotOf(first.sse!);
    const seen = await charge();
    await first.sse!.next((e) => e.id === String(seen.ledgerId), 'the charge before leaving');
    const before = hub.subscribers;
    first.close();
    await waitFor(() => hub.subscribers === before - 1, { what: 'the server to notice the client left' });

    // While disconnected: charges by two members, a hold and its commit, a top-up.
    await charge();
    await charge({ orgId: org.orgId, userId: org.members[1]! }, 'goal_generation');
    const hold = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: member.userId, p_token_type: 'quest_generation', p_idempotency_key: `hold-${++keys}`, p_estimate: 3 });
    await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: member.userId, p_reservation_id: hold.reservationId, p_actual: 2 });
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'quest_generation', p_amount: 10, p_idempotency_key: `grant-${++keys}` });
    const entries = await db().query<{ id: number }>(`select id from tokengate.ledger where org_id = $1 and id > $2 order by id`, [org.orgId, seen.ledgerId]);
    expect(entries.length).toBeGreaterThanOrEqual(5);

    const again = await open({ lastEventId: seen.ledgerId });
    await snapshotOf(again.sse!);
    expect(again.sse!.events.slice(0, -1).map((e) => Number(e.id))).toEqual(entries.map((e) => e.id));
    const live = await charge();
    await again.sse!.next((e) => e.id === String(live.ledgerId), 'a live charge after the resume');
    again.close();
  });

  it("a member of another organization gets 403 and no stream; a member of A never sees B's changes", async () => {
    const other = await createOrg(db());
    const theirs = { orgId: other.orgId, userId: other.owner };
    await call(db(), 'balances', { p_org_id: other.orgId, p_user_id: other.owner });
    const refused = await open({ user: other.owner });
    expect(refused.response.headers.get('content-type')).toBe('application/problem+json');
    await expectProblem(refused.response, 'not_a_member');
    await expectProblem((await open({ user: other.owner, lastEventId: 0 })).response, 'not_a_member');

    const a = await open();
    const b = await open({ orgId: other.orgId, user: other.owner });
    await Promise.all([snapshotOf(a.sse!), snapshotOf(b.sse!)]);
    const theirCharges = [await charge(theirs), await charge(theirs), await charge(theirs)];
    const ours = await charge();
    const theirLast = await charge(theirs);
    const ourLast = await charge();
    await a.sse!.next((e) => e.id === String(ourLast.ledgerId), "A's last charge");
    await b.sse!.next((e) => e.id === String(theirLast.ledgerId), "B's last charge");
    expect(a.sse!.balances().map((e) => e.id)).toEqual([ours.ledgerId, ourLast.ledgerId]);
    expect(b.sse!.balances().map((e) => e.id)).toEqual([...theirCharges, theirLast].map((c) => c.ledgerId));
    expect(new Set(b.sse!.balances().map((e) => e.data.orgId))).toEqual(new Set([other.orgId]));
    a.close();
    b.close();
  });

  it('a rolled-back charge sends nothing; heartbeats keep the stream alive', async () => {
    const { sse, close } = await open();
    await snapshotOf(sse!);
    let rolledBack = 0;
    await expect(
      db().as({ role: 'service_role' }, async (q) => {
        rolledBack = (await call(q, 'deduct', { p_org_id: org.orgId, p_user_id: member.userId, p_token_type: 'quest_generation', p_idempotency_key: `rollback-${++keys}` })).ledgerId;
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(rolledBack).toBeGreaterThan(0);
    const marker = await charge();
    await sse!.next((e) => e.id === String(marker.ledgerId), 'the committed charge after the rolled-back one');
    expect(sse!.balances().map((e) => e.id)).toEqual([marker.ledgerId]);
    const heartbeats = sse!.comments;
    await waitFor(() => sse!.comments >= heartbeats + 2, { what: 'two heartbeats (every 200 ms)' });
    close();
  });

  it(`${SUBSCRIBERS} concurrent subscribers in ${ORGS} organizations on one process share ONE listening database connection, and each receives its organization's change`, { timeout: 180_000 }, async () => {
    const orgs: { org: SeededOrg; users: string[]; streams: SseReader[] }[] = [];
    for (let i = 0; i < ORGS; i++) {
      const o = await createOrg(db(), { members: SUBSCRIBERS / ORGS / PER_USER - 2 });
      await call(db(), 'balances', { p_org_id: o.orgId, p_user_id: o.owner });
      orgs.push({ org: o, users: [o.owner, o.admin, ...o.members], streams: [] });
    }
    const opened = hub.subscribers;
    // Open them in waves (a loaded 2-core machine), all held open together.
    for (const o of orgs) {
      const streams = await Promise.all(
        Array.from({ length: SUBSCRIBERS / ORGS }, async (_, i) => {
          const { response, sse } = await open({ orgId: o.org.orgId, user: o.users[i % o.users.length]! });
          expect(response.status).toBe(200);
          await snapshotOf(sse!);
          return sse!;
        }),
      );
      o.streams.push(...streams);
    }
    expect(hub.subscribers - opened).toBe(SUBSCRIBERS);
    const listeners = await db().query(`select pid from pg_stat_activity where datname = current_database() and application_name = $1`, [LISTEN_APPLICATION_NAME]);
    expect(listeners).toHaveLength(1);

    // Past the limits: a sixth stream of one user, a 101st of one organization.
    const sixth = await open({ orgId: orgs[0]!.org.orgId, user: orgs[0]!.users[0]! });
    expect(sixth.response.headers.get('retry-after')).toBe('10');
    expect((await expectProblem(sixth.response, 'too_many_connections')).facts).toMatchObject({ limit: 'user' });
    const extra = await createOrg(db(), { members: 0 });
    await call(db(), 'add_member', { p_org_id: orgs[0]!.org.orgId, p_actor_id: null, p_user_id: extra.owner, p_role: 'member' });
    expect((await expectProblem((await open({ orgId: orgs[0]!.org.orgId, user: extra.owner })).response, 'too_many_connections')).facts).toMatchObject({ limit: 'organization' });

    const charged = new Map<string, number>();
    for (const o of orgs) charged.set(o.org.orgId, (await charge({ orgId: o.org.orgId, userId: o.org.owner })).ledgerId);
    await waitFor(() => orgs.every((o) => o.streams.every((s) => s.balances().some((b) => b.id === charged.get(o.org.orgId)))), {
      what: `all ${SUBSCRIBERS} subscribers to receive their organization's change`,
      timeoutMs: 60_000,
    });
    for (const o of orgs) {
      for (const s of o.streams) expect(s.balances().map((b) => (b.data as unknown as BalanceChange).orgId)).toEqual([o.org.orgId]);
    }
    for (const a of aborts) a.abort();
    await waitFor(() => hub.subscribers === 0, { what: 'every stream to end', timeoutMs: 60_000 });
  });
});
