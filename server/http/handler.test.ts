import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { createTokenGate } from '../gate.ts';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { call, createOrg, expectReconciled, type SeededOrg } from '../../test/ledger.ts';
import { BASE, createApp, expectProblem, fingerprint, jsonOf, type App } from '../../test/http/fixture.ts';
import { createHandler } from './handler.ts';

const NOW = '2028-01-10T12:00:00Z';

describe('HTTP handler: member routes [pglite]', () => {
  let db: TestDb;
  let app: App;
  let org: SeededOrg;
  let user: string;
  const outsider = randomUUID();
  const at = (path: string) => `/orgs/${org.orgId}${path}`;
  let key = 0;
  const nextKey = () => `key-${++key}`;

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow(NOW);
    app = await createApp(db);
    org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 2 });
    user = org.members[0]!;
  });
  afterAll(async () => db?.close());

  /** Assert that `run` answers with problem `code` and writes nothing. */
  async function rejects(run: () => Promise<Response>, code: Parameters<typeof expectProblem>[1]) {
    const before = await fingerprint(db);
    const problem = await expectProblem(await run(), code);
    expect(await fingerprint(db)).toEqual(before);
    return problem;
  }

  describe('routing', () => {
    it('answers 404 not_found for unknown paths, before authenticating', async () => {
      const calls = app.calls.length;
      for (const path of ['http://localhost/api/tokengate/nope', 'http://localhost/elsewhere', `${BASE}/orgs/${randomUUID()}/balances/`, `${BASE}`, `${BASE}/orgs/%E0%A4%A/balances`, `${BASE}/orgs`]) {
        await expectProblem(await app.handler(new Request(path)), 'not_found');
      }
      expect(app.calls.length).toBe(calls);
    });

    it('answers 405 with Allow for a known path and another method', async () => {
      const cases: [string, string, string][] = [
        ['POST', at('/balances'), 'GET'],
        ['GET', at('/deduct'), 'POST'],
        ['PATCH', at(`/admin/members/${user}`), 'PUT, DELETE'],
        ['HEAD', at('/stats'), 'GET'],
        ['GET', '/admin/accounts', 'POST'],
      ];
      for (const [method, path, allow] of cases) {
        const res = await app.request(path, { method });
        expect(res.headers.get('allow')).toBe(allow);
        const problem = await expectProblem(res, 'method_not_allowed');
        expect(problem.facts).toEqual({ allow });
      }
    });

    it('honours a custom base path', async () => {
      const handler = createHandler({ gate: app.gate, authenticate: async () => ({ userId: user }), basePath: 'v1/tokens/' });
      const res = await handler(new Request(`http://x/v1/tokens/orgs/${org.orgId}/balances`));
      expect((await jsonOf(res)).orgId).toBe(org.orgId);
      await expectProblem(await handler(new Request(`http://x/api/tokengate/orgs/${org.orgId}/balances`)), 'not_found');
    });
  });

  describe('authentication', () => {
    it('answers 401 with WWW-Authenticate and never reaches the ledger without a valid token', async () => {
      const calls = app.calls.length;
      await rejects(() => app.request(at('/balances')), 'unauthorized');
      await rejects(() => app.request(at('/deduct'), { json: { tokenType: 'goal_generation' }, idempotencyKey: 'k' }), 'unauthorized');
      expect(app.calls.length).toBe(calls);
    });

    it('accepts ES256, RS256 and HS256 tokens of the project', async () => {
      for (const alg of ['ES256', 'RS256', 'HS256'] as const) {
        const body = await jsonOf(await app.request(at('/balances'), { user, sign: { alg } }));
        expect(body.member.userId).toBe(user);
      }
    });

    it('refuses a user id that is not a uuid from a custom authenticator', async () => {
      const handler = createHandler({ gate: app.gate, authenticate: async () => ({ userId: 'user_2abc' }) });
      const calls = app.calls.length;
      await expectProblem(await handler(new Request(`${BASE}/orgs/${org.orgId}/balances`)), 'unauthorized');
      expect(app.calls.length).toBe(calls);
    });

    it('lets an authenticator that fails unexpectedly answer 500 internal without detail', async () => {
      const handler = createHandler({
        gate: app.gate,
        authenticate: async () => {
          throw new Error('connection string postgres://secret@db');
        },
      });
      const res = await handler(new Request(`${BASE}/orgs/${org.orgId}/balances`));
      const text = await res.clone().text();
      expect(text).not.toContain('secret');
      await expectProblem(res, 'internal');
    });
  });

  describe('GET balances', () => {
    it('returns every token type, the plan and the member', async () => {
      const body = await jsonOf(await app.request(at('/balances'), { user }));
      expect(body).toMatchObject({ orgId: org.orgId, plan: { id: 'pro', access: 'metered' }, member: { userId: user, role: 'member', quotas: [] } });
      expect(body.tokenTypes.map((t: { tokenType: string }) => t.tokenType)).toEqual([
        'goal_generation',
        'quest_generation',
        'lead_generation',
        'revenue_forecast',
        'strategy_analysis',
      ]);
      expect(body.tokenTypes[1]).toMatchObject({ cost: 3, allowance: 60, available: 60, refreshesAt: '2028-02-01T00:00:00+00:00' });
    });

    it('refuses non-members (403), unknown organizations (404), bad ids and stray parameters (400)', async () => {
      await rejects(() => app.request(at('/balances'), { user: outsider }), 'not_a_member');
      await rejects(() => app.request(`/orgs/${randomUUID()}/balances`, { user }), 'unknown_organization');
      const calls = app.calls.length;
      const bad = await rejects(() => app.request('/orgs/not-a-uuid/balances', { user }), 'invalid_request');
      expect(bad.errors).toEqual([{ path: 'params.orgId', message: 'must be a uuid' }]);
      const stray = await rejects(() => app.request(at('/balances?userId=' + outsider), { user }), 'invalid_request');
      expect(stray.errors).toEqual([{ path: 'query.userId', message: 'is not a parameter of this route' }]);
      expect(app.calls.length).toBe(calls);
    });
  });

  describe('GET check-balance', () => {
    it('answers whether one use (or an amount) can run, with the catalog cost', async () => {
      const one = await jsonOf(await app.request(at('/check-balance?tokenType=quest_generation'), { user }));
      expect(one).toMatchObject({ allowed: true, reason: null, tokenType: 'quest_generation', cost: 3, required: 3 });
      const many = await jsonOf(await app.request(at('/check-balance?tokenType=quest_generation&amount=61'), { user }));
      expect(many).toMatchObject({ allowed: false, reason: 'insufficient_tokens', required: 61 });
    });

    it('validates the query', async () => {
      const cases: [string, string][] = [
        ['', 'query.tokenType'],
        ['?tokenType=Quest', 'query.tokenType'],
        ['?tokenType=quest_generation&amount=0', 'query.amount'],
        ['?tokenType=quest_generation&amount=1000001', 'query.amount'],
        ['?tokenType=quest_generation&amount=2.5', 'query.amount'],
        ['?tokenType=quest_generation&amount=-1', 'query.amount'],
        ['?tokenType=quest_generation&amount=', 'query.amount'],
        ['?tokenType=quest_generation&tokenType=goal_generation', 'query.tokenType'],
        ['?tokenType=quest_generation&cost=1', 'query.cost'],
      ];
      for (const [query, path] of cases) {
        const problem = await rejects(() => app.request(at('/check-balance' + query), { user }), 'invalid_request');
        expect(problem.errors?.map((e) => e.path), query).toContain(path);
      }
    });

    it('passes the ledger errors through', async () => {
      await rejects(() => app.request(at('/check-balance?tokenType=teleportation'), { user }), 'unknown_token_type');
      await rejects(() => app.request(at('/check-balance?tokenType=goal_generation'), { user: outsider }), 'not_a_member');
    });
  });

  describe('POST deduct', () => {
    const deduct = (body: unknown, opts: { key?: string | null; as?: string; headers?: Record<string, string> } = {}) =>
      app.request(at('/deduct'), {
        user: opts.as ?? user,
        json: body,
        ...(opts.key === null ? {} : { idempotencyKey: opts.key ?? nextKey() }),
        ...(opts.headers ? { headers: opts.headers } : {}),
      });

    it('charges the catalog cost exactly once per Idempotency-Key', async () => {
      const k = nextKey();
      const first = await jsonOf(await deduct({ tokenType: 'quest_generation', units: 2, metadata: { goalId: 'g1' } }, { key: k }));
      expect(first).toMatchObject({ tokenType: 'quest_generation', charged: 6, fromAllowance: 6, fromPurchased: 0, replayed: false });
      expect(first.balance).toMatchObject({ used: 6, available: 54 });

      const replay = await deduct({ tokenType: 'quest_generation', units: 2, metadata: { goalId: 'g1' } }, { key: k });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await jsonOf(replay)).toMatchObject({ ledgerId: first.ledgerId, charged: 6, replayed: true });

      await rejects(() => deduct({ tokenType: 'quest_generation', units: 3 }, { key: k }), 'idempotency_conflict');
      const [entry] = await db.query<{ metadata: unknown; user_id: string }>('select metadata, user_id from tokengate.ledger where id = $1', [first.ledgerId]);
      expect(entry).toEqual({ metadata: { goalId: 'g1', units: 2 }, user_id: user });
      await expectReconciled(db, org.orgId);
    });

    it('never takes a cost, a user or an organization from the body', async () => {
      for (const extra of [{ cost: 0 }, { amount: 1 }, { userId: org.owner }, { orgId: randomUUID() }, { charged: 0 }]) {
        const problem = await rejects(() => deduct({ tokenType: 'goal_generation', ...extra }), 'invalid_request');
        expect(problem.errors).toEqual([{ path: `body.${Object.keys(extra)[0]}`, message: 'is not a field of this request' }]);
      }
    });

    it('requires a valid Idempotency-Key header', async () => {
      // (Header values are byte strings: 'clé' arrives as Latin-1, which is not visible ASCII.)
      for (const k of [null, '', 'a'.repeat(256), 'has space', 'tab\there', 'clé']) {
        const problem = await rejects(
          () => app.request(at('/deduct'), { user, json: { tokenType: 'goal_generation' }, ...(k === null ? {} : { headers: { 'idempotency-key': k } }) }),
          'invalid_request',
        );
        expect(problem.errors?.[0]?.path, String(k)).toBe('headers.idempotency-key');
      }
      expect(await jsonOf(await deduct({ tokenType: 'goal_generation' }, { key: '~'.repeat(255) }))).toMatchObject({ charged: 1 });
    });

    it('validates the body: bounded units, known fields, metadata Postgres can store', async () => {
      const cases: [unknown, string][] = [
        [{}, 'body.tokenType'],
        [{ tokenType: '' }, 'body.tokenType'],
        [{ tokenType: 'x'.repeat(64) }, 'body.tokenType'],
        [{ tokenType: 7 }, 'body.tokenType'],
        [{ tokenType: 'goal_generation', units: 0 }, 'body.units'],
        [{ tokenType: 'goal_generation', units: 1001 }, 'body.units'],
        [{ tokenType: 'goal_generation', units: 1.5 }, 'body.units'],
        [{ tokenType: 'goal_generation', units: '2' }, 'body.units'],
        [{ tokenType: 'goal_generation', units: null }, 'body.units'],
        [{ tokenType: 'goal_generation', metadata: [1] }, 'body.metadata'],
        [{ tokenType: 'goal_generation', metadata: 'x' }, 'body.metadata'],
        [{ tokenType: 'goal_generation', metadata: null }, 'body.metadata'],
        [{ tokenType: 'goal_generation', metadata: { blob: 'x'.repeat(4100) } }, 'body.metadata'],
        [{ tokenType: 'goal_generation', metadata: { nul: 'a\u0000b' } }, 'body.metadata'],
        [{ tokenType: 'goal_generation', metadata: { ['k\u0000']: 1 } }, 'body.metadata'],
        [{ tokenType: 'goal_generation', metadata: { s: '\ud800' } }, 'body.metadata'],
        [{ tokenType: 'goal_generation', metadata: nested(17) }, 'body.metadata'],
        [[], 'body'],
        ['goal_generation', 'body'],
        [null, 'body'],
      ];
      for (const [body, path] of cases) {
        const problem = await rejects(() => deduct(body), 'invalid_request');
        expect(problem.errors?.map((e) => e.path), JSON.stringify(body).slice(0, 80)).toContain(path);
      }
      // The limits themselves are fine.
      expect(await jsonOf(await deduct({ tokenType: 'goal_generation', metadata: nested(16) }))).toMatchObject({ charged: 1 });
      expect(await jsonOf(await deduct({ tokenType: 'goal_generation', metadata: { emoji: '🪙', n: 1.5, ok: true, none: null } }))).toMatchObject({ charged: 1 });
    });

    it('reports every problem of a request at once', async () => {
      const problem = await rejects(() => deduct({ tokenType: 'Goal', units: 0, extra: 1 }, { key: null }), 'invalid_request');
      expect(problem.errors?.map((e) => e.path).sort()).toEqual(['body.extra', 'body.tokenType', 'body.units', 'headers.idempotency-key']);
    });

    it('accepts only application/json bodies (415), of bounded size (413), that parse (400)', async () => {
      const send = (body: BodyInit | undefined, headers: Record<string, string>) =>
        app.request(at('/deduct'), { user, method: 'POST', body, idempotencyKey: nextKey(), headers });
      const json = JSON.stringify({ tokenType: 'goal_generation' });
      await rejects(() => send(json, {}), 'unsupported_media_type');
      await rejects(() => send(json, { 'content-type': 'text/plain' }), 'unsupported_media_type');
      await rejects(() => send(json, { 'content-type': 'application/x-www-form-urlencoded' }), 'unsupported_media_type');
      await rejects(() => send(json, { 'content-type': 'application/json; charset=latin1' }), 'unsupported_media_type');
      await rejects(() => send(json, { 'content-type': 'application/jsonp' }), 'unsupported_media_type');
      expect(await jsonOf(await send(json, { 'content-type': 'Application/JSON; charset="UTF-8"' }))).toMatchObject({ charged: 1 });

      const invalid = await rejects(() => send('{"tokenType":', { 'content-type': 'application/json' }), 'invalid_request');
      expect(invalid.errors).toEqual([{ path: 'body', message: 'The body is not valid JSON.' }]);
      await rejects(() => send('', { 'content-type': 'application/json' }), 'invalid_request');
      await rejects(() => send(new Uint8Array([0x7b, 0xff, 0x7d]), { 'content-type': 'application/json' }), 'invalid_request');

      const big = JSON.stringify({ tokenType: 'goal_generation', metadata: { pad: 'x'.repeat(17_000) } });
      const tooLarge = await rejects(() => send(big, { 'content-type': 'application/json' }), 'payload_too_large');
      expect(tooLarge.facts).toEqual({ maxBytes: 16384 });
    });

    it('enforces the size limit while streaming a body of unknown length', async () => {
      let pulled = 0;
      const chunk = new TextEncoder().encode(' '.repeat(1024));
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++;
          controller.enqueue(chunk);
        },
      });
      const request = new Request(BASE + at('/deduct'), {
        method: 'POST',
        body: endless,
        headers: { authorization: await app.issuer.bearer(user), 'content-type': 'application/json', 'idempotency-key': nextKey() },
        duplex: 'half',
      } as RequestInit);
      const before = await fingerprint(db);
      await expectProblem(await app.handler(request), 'payload_too_large');
      expect(pulled).toBeLessThan(40); // stopped soon after 16 KiB, never read the endless rest
      expect(await fingerprint(db)).toEqual(before);
    });

    it('passes denials through as problems with facts, and writes nothing', async () => {
      const tight = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
      const member = tight.members[0]!;
      const path = `/orgs/${tight.orgId}/deduct`;
      const insufficient = await rejects(
        () => app.request(path, { user: member, json: { tokenType: 'strategy_analysis', units: 11 }, idempotencyKey: nextKey() }),
        'insufficient_tokens',
      );
      expect(insufficient.facts).toMatchObject({ tokenType: 'strategy_analysis', available: 100, required: 110 });

      await call(db, 'set_member_quota', { p_org_id: tight.orgId, p_actor_id: null, p_user_id: member, p_token_type: 'goal_generation', p_quota: 1 });
      await jsonOf(await app.request(path, { user: member, json: { tokenType: 'goal_generation' }, idempotencyKey: nextKey() }));
      await rejects(() => app.request(path, { user: member, json: { tokenType: 'goal_generation' }, idempotencyKey: nextKey() }), 'member_quota_exceeded');

      const starter = await createOrg(db, { plan: 'starter' });
      await rejects(
        () => app.request(`/orgs/${starter.orgId}/deduct`, { user: starter.owner, json: { tokenType: 'goal_generation' }, idempotencyKey: nextKey() }),
        'plan_blocked',
      );
      await rejects(() => deduct({ tokenType: 'goal_generation' }, { as: outsider }), 'not_a_member');
      await rejects(() => deduct({ tokenType: 'teleportation' }), 'unknown_token_type');
      await expectReconciled(db);
    });
  });

  describe('reservations', () => {
    const reserve = (body: unknown, key = nextKey(), as = user) => app.request(at('/reservations'), { user: as, json: body, idempotencyKey: key });
    const commit = (id: string, body: unknown, as = user) => app.request(at(`/reservations/${id}/commit`), { user: as, json: body });
    const release = (id: string, opts: { json?: unknown; as?: string; headers?: Record<string, string>; body?: BodyInit } = {}) =>
      app.request(at(`/reservations/${id}/release`), { user: opts.as ?? user, method: 'POST', ...opts });

    it('reserve answers 201 with the hold (estimate defaults to one use); a replay answers the same', async () => {
      const k = nextKey();
      const r = await jsonOf(await reserve({ tokenType: 'lead_generation' }, k), 201);
      expect(r).toMatchObject({ status: 'pending', tokenType: 'lead_generation', estimate: 2, held: 2, expiresAt: '2028-01-10T12:05:00+00:00', replayed: false });
      const again = await reserve({ tokenType: 'lead_generation' }, k);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await jsonOf(again, 201)).toMatchObject({ reservationId: r.reservationId, replayed: true });
      await rejects(() => reserve({ tokenType: 'lead_generation', estimate: 5 }, k), 'idempotency_conflict');
    });

    it('commit charges the actual and refunds the rest; a second commit replays', async () => {
      const r = await jsonOf(await reserve({ tokenType: 'lead_generation', estimate: 30, ttlSeconds: 600, metadata: { model: 'gpt' } }), 201);
      expect(r.expiresAt).toBe('2028-01-10T12:10:00+00:00');
      const c = await jsonOf(await commit(r.reservationId, { actual: 12, metadata: { tokens: 1234 } }));
      expect(c).toMatchObject({ reservationId: r.reservationId, status: 'committed', charged: 12, refunded: 18, uncharged: 0, replayed: false });
      const again = await commit(r.reservationId, { actual: 12 });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await jsonOf(again)).toMatchObject({ ledgerId: c.ledgerId, replayed: true });
      await rejects(() => commit(r.reservationId, { actual: 13 }), 'reservation_not_pending');
      await rejects(() => release(r.reservationId), 'reservation_not_pending');
      await expectReconciled(db, org.orgId);
    });

    it('release refunds in full, with or without a body, and is idempotent', async () => {
      const r = await jsonOf(await reserve({ tokenType: 'lead_generation', estimate: 10 }), 201);
      const rel = await jsonOf(await release(r.reservationId));
      expect(rel).toMatchObject({ status: 'released', charged: 0, refunded: 10, replayed: false });
      expect(await jsonOf(await release(r.reservationId, { json: {} }))).toMatchObject({ replayed: true });
      const r2 = await jsonOf(await reserve({ tokenType: 'lead_generation', estimate: 10 }), 201);
      expect(await jsonOf(await release(r2.reservationId, { json: { metadata: { error: 'timeout' } } }))).toMatchObject({ refunded: 10 });
      await rejects(() => release(r2.reservationId, { body: 'oops', headers: { 'content-type': 'text/plain' } }), 'unsupported_media_type');
      await rejects(() => release(r2.reservationId, { body: '{"metadata":{}}' }), 'unsupported_media_type');
      await rejects(() => release(r2.reservationId, { json: { reason: 'x' } }), 'invalid_request');
      await rejects(() => release(r2.reservationId, { json: null }), 'invalid_request');
      await expectReconciled(db, org.orgId);
    });

    it('a stale reservation cannot be committed (410) and was refunded', async () => {
      const r = await jsonOf(await reserve({ tokenType: 'lead_generation', estimate: 7, ttlSeconds: 1 }), 201);
      await db.setNow('2028-01-10T12:00:05Z');
      try {
        const problem = await expectProblem(await commit(r.reservationId, { actual: 7 }), 'reservation_expired');
        expect(problem.facts).toMatchObject({ reservationId: r.reservationId });
        expect(await jsonOf(await release(r.reservationId))).toMatchObject({ status: 'expired', replayed: true });
      } finally {
        await db.setNow(NOW);
      }
      await expectReconciled(db, org.orgId);
    });

    it("hides other members' reservations, and validates ids and bodies", async () => {
      const r = await jsonOf(await reserve({ tokenType: 'goal_generation' }), 201);
      await rejects(() => commit(r.reservationId, { actual: 1 }, org.members[1]), 'reservation_not_found');
      await rejects(() => release(r.reservationId, { as: outsider }), 'not_a_member');
      await rejects(() => commit(randomUUID(), { actual: 1 }), 'reservation_not_found');
      const bad = await rejects(() => commit('r-1', { actual: 1 }), 'invalid_request');
      expect(bad.errors).toEqual([{ path: 'params.reservationId', message: 'must be a uuid' }]);
      for (const body of [{}, { actual: -1 }, { actual: 1_000_001 }, { actual: 0.5 }, { actual: '3' }, { actual: 1, estimate: 1 }]) {
        const problem = await rejects(() => commit(r.reservationId, body), 'invalid_request');
        expect(problem.errors?.[0]?.path).toMatch(/^body\./);
      }
      for (const body of [{ tokenType: 'goal_generation', estimate: 0 }, { tokenType: 'goal_generation', estimate: 1_000_001 }, { tokenType: 'goal_generation', ttlSeconds: 0 }, { tokenType: 'goal_generation', ttlSeconds: 86_401 }, { estimate: 3 }]) {
        await rejects(() => reserve(body), 'invalid_request');
      }
      await rejects(() => app.request(at('/reservations'), { user, json: { tokenType: 'goal_generation' } }), 'invalid_request');
      // An owner may resolve a member's reservation.
      expect(await jsonOf(await commit(r.reservationId, { actual: 0 }, org.owner))).toMatchObject({ charged: 0, refunded: 1 });
    });
  });

  describe('GET stats', () => {
    it('returns usage for a date range', async () => {
      const s = await jsonOf(await app.request(at('/stats?from=2028-01-01&to=2028-01-31'), { user }));
      expect(s).toMatchObject({ orgId: org.orgId, from: '2028-01-01', to: '2028-01-31' });
      expect(s.totals.tokens).toBeGreaterThan(0);
      expect(Object.keys(s).sort()).toEqual(['byDay', 'byMember', 'byType', 'forecast', 'from', 'orgId', 'to', 'totals']);
      expect(s.forecast).toHaveLength(5);
    });

    it('validates the range', async () => {
      const cases: [string, string][] = [
        ['', 'query.from'],
        ['?from=2028-01-01', 'query.to'],
        ['?from=2028-01-31&to=2028-01-01', 'query.to'],
        ['?from=2028-01-01&to=2029-01-02', 'query.to'],
        ['?from=2028-02-30&to=2028-03-01', 'query.from'],
        ['?from=1969-12-31&to=2028-01-01', 'query.from'],
        ['?from=2028-1-1&to=2028-01-02', 'query.from'],
        ['?from=2028-01-01T00:00:00Z&to=2028-01-02', 'query.from'],
        ['?from=2028-01-01&to=2028-01-02&by=day', 'query.by'],
      ];
      for (const [query, path] of cases) {
        const problem = await rejects(() => app.request(at('/stats' + query), { user }), 'invalid_request');
        expect(problem.errors?.map((e) => e.path), query).toContain(path);
      }
      expect(await jsonOf(await app.request(at('/stats?from=2028-01-01&to=2029-01-01'), { user }))).toMatchObject({ to: '2029-01-01' });
      await rejects(() => app.request(at('/stats?from=2028-01-01&to=2028-01-31'), { user: outsider }), 'not_a_member');
    });
  });

  describe('unexpected failures', () => {
    it('answers 500 internal without details, and 503 unavailable when the ledger is down', async () => {
      const broken = (error: unknown) =>
        createHandler({
          gate: createTokenGate({ store: { rpc: async () => Promise.reject(error) } }),
          authenticate: async () => ({ userId: user }),
        });
      const res = await broken(new Error('relation "tokengate.secret_table" does not exist'))(new Request(`${BASE}/orgs/${org.orgId}/balances`));
      expect(await res.clone().text()).not.toMatch(/secret_table|relation/);
      const problem = await expectProblem(res, 'internal');
      expect(problem.detail).toBe('Unexpected error.');
      await expectProblem(
        await broken(new TokenGateError('unavailable', 'The token ledger is unavailable. Try again shortly.'))(new Request(`${BASE}/orgs/${org.orgId}/balances`)),
        'unavailable',
      );
    });
  });
});

describe('HTTP handler: admin and server routes [pglite]', () => {
  let db: TestDb;
  let app: App;
  let org: SeededOrg;
  let user: string;
  const outsider = randomUUID();
  const at = (path: string) => `/orgs/${org.orgId}/admin${path}`;
  let key = 0;
  const nextKey = () => `admin-key-${++key}`;

  /** The default handler: billing routes are the server's only. */
  let serverBilling: App;

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow(NOW);
    // The SQL rules for owners/admins are exercised with every billing operation opened to them.
    app = await createApp(db, { selfServiceBilling: ['grant', 'adjust', 'setPlan'] });
    serverBilling = await createApp(db);
  });
  beforeEach(async () => {
    org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    user = org.members[0]!;
  });
  afterAll(async () => db?.close());

  async function rejects(run: () => Promise<Response>, code: Parameters<typeof expectProblem>[1]) {
    const before = await fingerprint(db);
    const problem = await expectProblem(await run(), code);
    expect(await fingerprint(db)).toEqual(before);
    return problem;
  }

  it('billing is the server\'s by default: owners and admins get 403 server_only for grant, plan and adjust, and mint nothing', async () => {
    const attempts: [string, unknown, boolean][] = [
      ['/grant', { tokenType: 'goal_generation', amount: 1_000_000_000 }, true],
      ['/adjust', { tokenType: 'goal_generation', amount: 1_000_000, reason: 'mine' }, true],
      ['/plan', { planId: 'enterprise' }, false],
    ];
    for (const [path, json, idempotent] of attempts) {
      for (const who of [org.owner, org.admin]) {
        await rejects(() => serverBilling.request(at(path), { user: who, json, ...(idempotent ? { idempotencyKey: nextKey() } : {}) }), 'server_only');
      }
      await rejects(() => serverBilling.request(at(path), { json, ...(idempotent ? { idempotencyKey: nextKey() } : {}) }), 'unauthorized');
      // The server's credential still may.
      expect((await serverBilling.request(at(path), { server: true, json, ...(idempotent ? { idempotencyKey: nextKey() } : {}) })).status).toBe(200);
    }
    // Members and quotas stay with owners/admins.
    expect((await serverBilling.request(at(`/members/${randomUUID()}`), { user: org.admin, method: 'PUT', json: { role: 'member' } })).status).toBe(200);
    // Opening one operation opens only that one.
    const grantsOnly = await createApp(db, { selfServiceBilling: ['grant'] });
    expect((await grantsOnly.request(at('/grant'), { user: org.owner, json: { tokenType: 'goal_generation', amount: 5 }, idempotencyKey: nextKey() })).status).toBe(200);
    await rejects(() => grantsOnly.request(at('/plan'), { user: org.owner, json: { planId: 'enterprise' } }), 'server_only');
    expect(() => createHandler({ gate: app.gate, authenticate: async () => ({ userId: user }), selfServiceBilling: ['mint' as never] })).toThrow(/selfServiceBilling/);
    await expectReconciled(db, org.orgId);
  });

  it('grant (opened to owners/admins): adds purchased tokens exactly once; members may not', async () => {
    const k = nextKey();
    const g = await jsonOf(await app.request(at('/grant'), { user: org.owner, json: { tokenType: 'goal_generation', amount: 50, metadata: { paymentId: 'pi_1' } }, idempotencyKey: k }));
    expect(g).toMatchObject({ tokenType: 'goal_generation', granted: 50, replayed: false });
    expect(g.balance).toMatchObject({ purchased: 50, available: 70 });
    const again = await app.request(at('/grant'), { user: org.owner, json: { tokenType: 'goal_generation', amount: 50, metadata: { paymentId: 'pi_1' } }, idempotencyKey: k });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await jsonOf(again)).toMatchObject({ ledgerId: g.ledgerId, replayed: true });

    const s = await jsonOf(await app.request(at('/grant'), { server: true, json: { tokenType: 'goal_generation', amount: 5 }, idempotencyKey: nextKey() }));
    const [entry] = await db.query<{ user_id: string | null }>('select user_id from tokengate.ledger where id = $1', [s.ledgerId]);
    expect(entry!.user_id).toBeNull();
    const byAdmin = await jsonOf(await app.request(at('/grant'), { user: org.admin, json: { tokenType: 'goal_generation', amount: 5 }, idempotencyKey: nextKey() }));
    expect(byAdmin.granted).toBe(5);

    await rejects(() => app.request(at('/grant'), { user, json: { tokenType: 'goal_generation', amount: 5 }, idempotencyKey: nextKey() }), 'admin_required');
    await rejects(() => app.request(at('/grant'), { user: outsider, json: { tokenType: 'goal_generation', amount: 5 }, idempotencyKey: nextKey() }), 'not_a_member');
    await rejects(() => app.request(at('/grant'), { json: { tokenType: 'goal_generation', amount: 5 }, idempotencyKey: nextKey() }), 'unauthorized');
    await rejects(() => app.request(at('/grant'), { headers: { authorization: 'Bearer not-the-service-secret-0123456789abcdef' }, json: { tokenType: 'goal_generation', amount: 5 }, idempotencyKey: nextKey() }), 'unauthorized');
    for (const body of [{ tokenType: 'goal_generation', amount: 0 }, { tokenType: 'goal_generation', amount: 1_000_000_001 }, { tokenType: 'goal_generation', amount: -5 }, { tokenType: 'goal_generation' }, { amount: 5 }]) {
      await rejects(() => app.request(at('/grant'), { user: org.owner, json: body, idempotencyKey: nextKey() }), 'invalid_request');
    }
    const noKey = await rejects(() => app.request(at('/grant'), { user: org.owner, json: { tokenType: 'goal_generation', amount: 5 } }), 'invalid_request');
    expect(noKey.errors).toEqual([{ path: 'headers.idempotency-key', message: 'is required' }]);
    await expectReconciled(db, org.orgId);
  });

  it('plan: moves the organization to another plan', async () => {
    const p = await jsonOf(await app.request(at('/plan'), { user: org.owner, json: { planId: 'enterprise' } }));
    expect(p).toMatchObject({ orgId: org.orgId, plan: { id: 'enterprise', access: 'unlimited' } });
    expect(await jsonOf(await app.request(at('/plan'), { server: true, json: { planId: 'starter' } }))).toMatchObject({ plan: { id: 'starter' } });
    await rejects(() => app.request(at('/plan'), { user: org.owner, json: { planId: 'platinum' } }), 'unknown_plan');
    await rejects(() => app.request(at('/plan'), { user, json: { planId: 'pro' } }), 'admin_required');
    for (const body of [{ planId: 'Pro!' }, {}, { planId: 'pro', allowance: 1e9 }]) {
      await rejects(() => app.request(at('/plan'), { user: org.owner, json: body }), 'invalid_request');
    }
    await expectReconciled(db, org.orgId);
  });

  it('adjust: credits and debits with a reason, never below zero', async () => {
    const credit = await jsonOf(await app.request(at('/adjust'), { user: org.owner, json: { tokenType: 'goal_generation', amount: 10, reason: 'support goodwill' }, idempotencyKey: nextKey() }));
    expect(credit).toMatchObject({ amount: 10, balance: { purchased: 10, available: 30 } });
    const debit = await jsonOf(await app.request(at('/adjust'), { server: true, json: { tokenType: 'goal_generation', amount: -25, reason: 'chargeback' }, idempotencyKey: nextKey() }));
    expect(debit.balance).toMatchObject({ available: 5 });
    const problem = await rejects(
      () => app.request(at('/adjust'), { user: org.owner, json: { tokenType: 'goal_generation', amount: -6, reason: 'too much' }, idempotencyKey: nextKey() }),
      'insufficient_tokens',
    );
    expect(problem.facts).toMatchObject({ available: 5, required: 6 });
    for (const body of [
      { tokenType: 'goal_generation', amount: 0, reason: 'x' },
      { tokenType: 'goal_generation', amount: 5 },
      { tokenType: 'goal_generation', amount: 5, reason: '' },
      { tokenType: 'goal_generation', amount: 5, reason: 'x'.repeat(501) },
      { tokenType: 'goal_generation', amount: 5, reason: 'nul\u0000' },
      { tokenType: 'goal_generation', amount: 1_000_000_001, reason: 'x' },
    ]) {
      await rejects(() => app.request(at('/adjust'), { user: org.owner, json: body, idempotencyKey: nextKey() }), 'invalid_request');
    }
    expect(await jsonOf(await app.request(at('/adjust'), { user: org.owner, json: { tokenType: 'goal_generation', amount: 1, reason: '🪙'.repeat(500) }, idempotencyKey: nextKey() }))).toMatchObject({ amount: 1 });
    await expectReconciled(db, org.orgId);
  });

  it('members: add, change role, remove; only owners/admins', async () => {
    const newbie = randomUUID();
    expect(await jsonOf(await app.request(at(`/members/${newbie}`), { user: org.admin, method: 'PUT', json: { role: 'member' } }))).toEqual({ orgId: org.orgId, userId: newbie, role: 'member' });
    expect(await jsonOf(await app.request(at(`/members/${newbie}`), { server: true, method: 'PUT', json: { role: 'admin' } }))).toMatchObject({ role: 'admin' });
    await rejects(() => app.request(at(`/members/${randomUUID()}`), { user, method: 'PUT', json: { role: 'owner' } }), 'admin_required');
    for (const body of [{ role: 'king' }, {}, { role: 'member', userId: user }]) {
      await rejects(() => app.request(at(`/members/${randomUUID()}`), { user: org.owner, method: 'PUT', json: body }), 'invalid_request');
    }
    await rejects(() => app.request(at('/members/not-a-user'), { user: org.owner, method: 'PUT', json: { role: 'member' } }), 'invalid_request');

    expect(await jsonOf(await app.request(at(`/members/${newbie}`), { user: org.owner, method: 'DELETE' }))).toEqual({ orgId: org.orgId, userId: newbie, removed: true });
    await rejects(() => app.request(at(`/members/${newbie}`), { user: org.owner, method: 'DELETE' }), 'not_a_member');
    await rejects(() => app.request(at(`/members/${org.owner}`), { user, method: 'DELETE' }), 'admin_required');
  });

  it('quotas: cap a member per token type, null removes the cap', async () => {
    const path = at(`/members/${user}/quotas/goal_generation`);
    expect(await jsonOf(await app.request(path, { user: org.owner, method: 'PUT', json: { quota: 2 } }))).toEqual({ orgId: org.orgId, userId: user, tokenType: 'goal_generation', quota: 2 });
    const balances = await jsonOf(await app.request(`/orgs/${org.orgId}/balances`, { user }));
    expect(balances.member.quotas).toEqual([{ tokenType: 'goal_generation', quota: 2, spent: 0 }]);
    expect(await jsonOf(await app.request(path, { server: true, method: 'PUT', json: { quota: null } }))).toMatchObject({ quota: null });
    for (const body of [{ quota: -1 }, { quota: 1.5 }, { quota: 1_000_000_001 }, {}, { quota: '3' }]) {
      await rejects(() => app.request(path, { user: org.owner, method: 'PUT', json: body }), 'invalid_request');
    }
    await rejects(() => app.request(at(`/members/${user}/quotas/Goal`), { user: org.owner, method: 'PUT', json: { quota: 1 } }), 'invalid_request');
    await rejects(() => app.request(at(`/members/${user}/quotas/teleportation`), { user: org.owner, method: 'PUT', json: { quota: 1 } }), 'unknown_token_type');
    await rejects(() => app.request(at(`/members/${randomUUID()}/quotas/goal_generation`), { user: org.owner, method: 'PUT', json: { quota: 1 } }), 'not_a_member');
    await rejects(() => app.request(path, { user, method: 'PUT', json: { quota: 100 } }), 'admin_required');
  });

  it('accounts: only the server registers organizations (201 created, 200 existing)', async () => {
    const orgId = randomUUID();
    const owner = randomUUID();
    const body = { orgId, planId: 'pro', ownerId: owner, periodAnchor: '2028-01-05T08:00:00+02:00' };
    expect(await jsonOf(await app.request('/admin/accounts', { server: true, json: body }), 201)).toMatchObject({ orgId, created: true, planId: 'pro' });
    expect(await jsonOf(await app.request('/admin/accounts', { server: true, json: body }), 200)).toMatchObject({ orgId, created: false });
    const b = await jsonOf(await app.request(`/orgs/${orgId}/balances`, { user: owner }));
    expect(b).toMatchObject({ periodAnchor: '2028-01-05T06:00:00+00:00', member: { role: 'owner' } });

    await rejects(() => app.request('/admin/accounts', { user: org.owner, json: { ...body, orgId: randomUUID() } }), 'unauthorized');
    await rejects(() => app.request('/admin/accounts', { json: { ...body, orgId: randomUUID() } }), 'unauthorized');
    for (const bad of [
      { ...body, orgId: 'x' },
      { ...body, planId: 'Pro' },
      { ...body, ownerId: undefined },
      { ...body, periodAnchor: '2028-01-05' },
      { ...body, periodAnchor: '0000-01-01T00:00:00Z' },
      { ...body, periodAnchor: '2028-13-01T00:00:00Z' },
      { ...body, extra: true },
    ]) {
      await rejects(() => app.request('/admin/accounts', { server: true, json: bad }), 'invalid_request');
    }
    await rejects(() => app.request('/admin/accounts', { server: true, json: { orgId: randomUUID(), planId: 'platinum', ownerId: owner } }), 'unknown_plan');

    const noServer = createHandler({ gate: app.gate, authenticate: async () => ({ userId: owner }) });
    const res = await noServer(new Request(`${BASE}/admin/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
    await expectProblem(res, 'unauthorized');
  });

  it('expire-reservations: the server sweeps stale reservations', async () => {
    const r = await jsonOf(await app.request(`/orgs/${org.orgId}/reservations`, { user, json: { tokenType: 'goal_generation', ttlSeconds: 1 }, idempotencyKey: nextKey() }), 201);
    await db.setNow('2028-01-10T12:00:10Z');
    try {
      await rejects(() => app.request('/admin/expire-reservations', { user: org.owner, method: 'POST' }), 'unauthorized');
      await rejects(() => app.request('/admin/expire-reservations', { server: true, json: { limit: 0 } }), 'invalid_request');
      const swept = await jsonOf(await app.request('/admin/expire-reservations', { server: true, method: 'POST' }));
      expect(swept.expired).toBeGreaterThanOrEqual(1);
      expect(await jsonOf(await app.request('/admin/expire-reservations', { server: true, json: { limit: 10 } }))).toEqual({ expired: 0, buckets: 0 });
      const [row] = await db.query<{ status: string }>('select status from tokengate.reservations where id = $1', [r.reservationId]);
      expect(row!.status).toBe('expired');
    } finally {
      await db.setNow(NOW);
    }
    await expectReconciled(db);
  });
});

/** `{ a: { a: … } }` nested `depth` objects deep (the outer object counts as 1). */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}
