/**
 * `GET /orgs/:orgId/events` in-process: the real handler, gate, hub and ledger on PGlite (with its
 * `listen`), real JWTs. What each stream carries and in which order (replay, snapshot, live), who
 * gets no stream at all, the limits, heartbeats, lifetime, slow clients and gaps. Over real HTTP
 * on a Postgres server: test/http/events.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Balances, BalanceChange } from '../../src/core/types.ts';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { expectProblem } from '../../test/http/fixture.ts';
import { readSse } from '../../test/http/sse.ts';
import { createTestIssuer, type TestIssuer } from '../../test/jwt.ts';
import { createOrg, type SeededOrg } from '../../test/ledger.ts';
import { waitFor } from '../../test/wait-for.ts';
import { supabaseAuth } from '../auth.ts';
import { createTokenGate, type GateContext, type TokenGate } from '../gate.ts';
import { createHandler } from '../http/handler.ts';
import type { TokenStore } from '../store.ts';
import { pgliteStore, type PgliteLike } from '../stores/pglite-store.ts';
import { CHANGES_CHANNEL, createChangeHub, type ChangeHub } from './change-hub.ts';
import type { LiveEventsOptions } from './live-events-options.ts';

const BASE = 'http://localhost/api/tokengate';

const asPglite = (db: TestDb): PgliteLike => ({
  query: async <T,>(sql: string, params?: unknown[]) => ({ rows: (await db.query(sql, params)) as T[] }),
  listen: (channel, callback) => db.listen(channel, callback),
});

describe('GET /orgs/:orgId/events (in-process, PGlite)', () => {
  let db: TestDb;
  let store: TokenStore;
  let gate: TokenGate;
  /** The hub of the handler the test made last (each handler gets its own: a failed test leaves none behind). */
  let hub: ChangeHub;
  const hubs: ChangeHub[] = [];
  let issuer: TestIssuer;
  let org: SeededOrg;
  let other: SeededOrg;
  let member: GateContext;
  let keys = 0;
  const aborts: AbortController[] = [];

  beforeAll(async () => {
    db = await freshPglite();
    store = pgliteStore(asPglite(db));
    gate = createTokenGate({ store });
    issuer = await createTestIssuer();
    org = await createOrg(db, { members: 2 });
    other = await createOrg(db);
    member = { orgId: org.orgId, userId: org.members[0]! };
    await gate.balances(member);
    await gate.balances({ orgId: other.orgId, userId: other.owner });
  });
  afterEach(async () => {
    for (const a of aborts.splice(0)) a.abort();
    for (const h of hubs.splice(0)) await h.close();
  });
  afterAll(async () => {
    await db.close();
  });

  const handlerWith = (events: LiveEventsOptions | false = {}, g: TokenGate = gate) => {
    hub = createChangeHub(store, { lingerMs: 0 });
    hubs.push(hub);
    return createHandler({ gate: g, authenticate: supabaseAuth(issuer.authOptions), events: events === false ? false : { hub, ...events } });
  };

  async function open(handler: (r: Request) => Promise<Response>, opts: { orgId?: string; user?: string | null; headers?: Record<string, string>; query?: string } = {}) {
    const abort = new AbortController();
    aborts.push(abort);
    const headers = new Headers(opts.headers);
    if (opts.user !== null) headers.set('authorization', await issuer.bearer(opts.user ?? member.userId));
    const response = await handler(new Request(`${BASE}/orgs/${opts.orgId ?? org.orgId}/events${opts.query ?? ''}`, { headers, signal: abort.signal }));
    return { response, close: () => abort.abort() };
  }
  const charge = () => gate.deduct(member, 'quest_generation', { idempotencyKey: `live-${++keys}` });
  const notify = (change: BalanceChange) => db.query(`select pg_notify($1, $2)`, [CHANGES_CHANNEL, JSON.stringify(change)]);

  it('streams a snapshot first, then each change of the organization as it commits', async () => {
    const { response, close } = await open(handlerWith());
    expect(response.status).toBe(200);
    expect(Object.fromEntries(response.headers)).toEqual({
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    const sse = readSse(response);
    const snapshot = await sse.next((e) => e.event === 'snapshot', 'the snapshot');
    expect(sse.events.indexOf(snapshot)).toBe(0);
    expect(sse.retry).toBe(2000);
    expect(JSON.parse(snapshot.data)).toEqual(await gate.balances(member));

    const result = await charge();
    await gate.deduct({ orgId: other.orgId, userId: other.owner }, 'quest_generation', { idempotencyKey: `other-${++keys}` });
    const second = await charge();
    await sse.next((e) => e.id === String(second.ledgerId), 'the second charge');
    expect(sse.balances()).toEqual([
      { id: result.ledgerId, data: expect.objectContaining({ orgId: org.orgId, ledgerId: result.ledgerId, kind: 'deduct', available: result.balance.available }) },
      { id: second.ledgerId, data: expect.objectContaining({ ledgerId: second.ledgerId, available: second.balance.available }) },
    ]);
    close();
    await sse.done;
    await waitFor(() => hub.subscribers === 0, { what: 'the subscription to end with the client' });
  });

  it('resumes after Last-Event-ID: the changes since, oldest first, then a snapshot, then live; the header wins over the query', async () => {
    for (const resume of [(id: number) => ({ headers: { 'last-event-id': String(id) }, query: '?lastEventId=0' }), (id: number) => ({ query: `?lastEventId=${id}` })]) {
      const seen = await charge();
      const missed = [await charge(), await charge()];
      const granted = await gate.grant({ orgId: org.orgId, actorId: null }, 'quest_generation', { amount: 5, idempotencyKey: `grant-${++keys}` });
      const { response, close } = await open(handlerWith(), resume(seen.ledgerId));
      const sse = readSse(response);
      await sse.next((e) => e.event === 'snapshot', 'the snapshot');
      expect(sse.events.map((e) => [e.event, e.id])).toEqual([
        ['balance', String(missed[0]!.ledgerId)],
        ['balance', String(missed[1]!.ledgerId)],
        ['balance', String(granted.ledgerId)],
        ['snapshot', undefined],
      ]);
      expect(sse.balances()[2]!.data).toMatchObject({ kind: 'grant', purchased: granted.balance.purchased });
      const live = await charge();
      await sse.next((e) => e.id === String(live.ledgerId), 'a live charge after the replay');
      close();
      await sse.done;
    }
  });

  it('replays at most maxReplay changes, then the snapshot stands for the rest', async () => {
    const seen = await charge();
    const missed = [await charge(), await charge(), await charge()];
    const { response, close } = await open(handlerWith({ maxReplay: 2 }), { headers: { 'last-event-id': String(seen.ledgerId) } });
    const sse = readSse(response);
    const snapshot = await sse.next((e) => e.event === 'snapshot', 'the snapshot');
    expect(sse.events.map((e) => e.id ?? e.event)).toEqual([String(missed[0]!.ledgerId), String(missed[1]!.ledgerId), 'snapshot']);
    expect((JSON.parse(snapshot.data) as Balances).tokenTypes.find((t) => t.tokenType === 'quest_generation')!.available).toBe(missed[2]!.balance.available);
    close();
  });

  it('sends a change both replayed and heard live once, and a live change with a lower id than the replayed ones still', async () => {
    const seen = await charge();
    let during: Awaited<ReturnType<typeof charge>> | undefined;
    // A charge that commits after the subscription and before the replay reads: heard live AND replayed.
    const racing = {
      ...gate,
      changes: async (ctx: GateContext, opts: { afterId: number; limit?: number }) => {
        const heard: number[] = [];
        const stop = await hub.subscribe(org.orgId, { onChange: (c) => heard.push(c.ledgerId), onGap: () => {} });
        during = await charge();
        await waitFor(() => heard.includes(during!.ledgerId), { what: 'the racing charge heard live' });
        stop();
        return gate.changes(ctx, opts);
      },
    } as TokenGate;
    const { response, close } = await open(handlerWith({}, racing), { headers: { 'last-event-id': String(seen.ledgerId) } });
    const sse = readSse(response);
    await sse.next((e) => e.event === 'snapshot', 'the snapshot');
    const marker = await charge();
    await sse.next((e) => e.id === String(marker.ledgerId), 'the charge after the snapshot');
    expect(sse.balances().map((b) => b.id)).toEqual([during!.ledgerId, marker.ledgerId]);

    // Ledger ids are not in commit order across token types: a lower id than any sent still goes out.
    await notify({ orgId: org.orgId, tokenType: 'goal_generation', ledgerId: 1, kind: 'deduct', available: 5, allowanceRemaining: 5, purchased: 0, held: 0 });
    await sse.next((e) => e.id === '1', 'a live change with a low ledger id');
    close();
  });

  it('answers before any stream: 401 without a token, 400 for a malformed Last-Event-ID, 403 not_a_member for another organization — and frees the slot', async () => {
    const handler = handlerWith({ maxPerUser: 1 });
    await expectProblem((await open(handler, { user: null })).response, 'unauthorized');
    for (const bad of ['-1', 'abc', '1.5', '99999999999999999', '0x10']) {
      const problem = await expectProblem((await open(handler, { headers: { 'last-event-id': bad } })).response, 'invalid_request');
      expect(problem.errors).toEqual([{ path: 'headers.last-event-id', message: expect.any(String) }]);
    }
    const query = await expectProblem((await open(handler, { query: '?lastEventId=abc' })).response, 'invalid_request');
    expect(query.errors?.[0]?.path).toBe('query.lastEventId');
    await expectProblem((await open(handler, { query: '?since=3' })).response, 'invalid_request');

    const outsider = other.owner;
    for (const headers of [{}, { 'last-event-id': '0' }] as Record<string, string>[]) {
      const { response } = await open(handler, { user: outsider, headers });
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      await expectProblem(response, 'not_a_member');
    }
    expect(hub.subscribers).toBe(0);
    // The refused attempts hold no slot: the outsider's one connection is still free in their own organization.
    const own = await open(handler, { user: outsider, orgId: other.orgId });
    expect(own.response.status).toBe(200);
    own.close();
  });

  it('answers 501 live_unavailable when turned off or when the store cannot listen (the kit polls)', async () => {
    await expectProblem((await open(handlerWith(false))).response, 'live_unavailable');
    const cannotListen = createTokenGate({ store: { rpc: store.rpc } });
    const handler = createHandler({ gate: cannotListen, authenticate: supabaseAuth(issuer.authOptions) });
    await expectProblem((await open(handler)).response, 'live_unavailable');
  });

  it('answers 429 too_many_connections with Retry-After past a limit; a closed stream frees its slot', async () => {
    const handler = handlerWith({ maxPerUser: 2, maxPerOrg: 3 });
    const a = await open(handler);
    const b = await open(handler);
    const refused = (await open(handler)).response;
    expect(refused.headers.get('retry-after')).toBe('10');
    expect((await expectProblem(refused, 'too_many_connections')).facts).toEqual({ limit: 'user', max: 2, retryAfter: 10 });
    const c = await open(handler, { user: org.members[1]! });
    const byOrg = await open(handler, { user: org.owner });
    expect((await expectProblem(byOrg.response, 'too_many_connections')).facts).toMatchObject({ limit: 'organization', max: 3 });

    a.close();
    await waitFor(() => hub.subscribers === 2, { what: 'the closed stream to leave' });
    const again = await open(handler);
    expect(again.response.status).toBe(200);
    for (const s of [b, c, again]) s.close();
    await waitFor(() => hub.subscribers === 0, { what: 'every stream to leave' });
  });

  it('sends heartbeats, and ends after its lifetime (the client resumes)', async () => {
    const { response } = await open(handlerWith({ heartbeatMs: 20, maxLifetimeMs: 600 }));
    const sse = readSse(response);
    await waitFor(() => sse.comments >= 3, { what: 'three heartbeats' });
    await sse.done;
    expect(sse.error).toBeUndefined();
    expect(sse.events[0]!.event).toBe('snapshot');
    await waitFor(() => hub.subscribers === 0, { what: 'the ended stream to leave the hub' });
  });

  it('cuts off a client that leaves more than maxBufferedBytes unread', async () => {
    const { response } = await open(handlerWith({ maxBufferedBytes: 4096 }));
    await waitFor(() => hub.subscribers === 1, { what: 'the subscription' });
    // Nobody reads the body: the snapshot (~1 KB) fits; 40 changes (~8 KB) do not.
    for (let i = 0; i < 40; i++) await notify({ orgId: org.orgId, tokenType: 'quest_generation', ledgerId: 1_000_000 + i, kind: 'deduct', available: i, allowanceRemaining: i, purchased: 0, held: 0 });
    await waitFor(() => hub.subscribers === 0, { what: 'the slow client to be cut off' });
    const sse = readSse(response);
    await sse.done;
    expect(String(sse.error)).toMatch(/does not read/);
    expect(sse.balances().length).toBeLessThan(40);
  });

  it('ends the stream when the listening connection had a gap, so that the client resumes', async () => {
    let reconnected: (() => void) | undefined;
    const gappy: TokenStore = {
      ...store,
      listen: (channel, onMessage, options) => {
        reconnected = options?.onReconnect;
        return store.listen!(channel, onMessage, options);
      },
    };
    const gappyHub = createChangeHub(gappy, { lingerMs: 0 });
    const handler = createHandler({ gate, authenticate: supabaseAuth(issuer.authOptions), events: { hub: gappyHub } });
    const { response } = await open(handler);
    const sse = readSse(response);
    await sse.next((e) => e.event === 'snapshot', 'the snapshot');
    reconnected!();
    await sse.done;
    expect(sse.error).toBeUndefined();
    await waitFor(() => gappyHub.subscribers === 0, { what: 'the stream to leave the hub' });
    await gappyHub.close();
  });
});
