/**
 * One contract for every store: the same calls through `createTokenGate` must give the same
 * results and the same `TokenGateError`s whether the ledger is reached through PGlite, node-postgres
 * or supabase-js over PostgREST (the fixture in test/postgrest-fixture.ts, on the real database).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenGate, type GateContext, type TokenGate } from '../server/gate.ts';
import type { TokenStore } from '../server/store.ts';
import { batchingStore } from '../server/stores/batching-store.ts';
import { pgliteStore } from '../server/stores/pglite-store.ts';
import { postgresStore } from '../server/stores/postgres-store.ts';
import { postgrestError, supabaseStore } from '../server/stores/supabase-store.ts';
import { TokenGateError } from '../src/core/token-gate-error.ts';
import { describeEachDb, type TestDb } from './db.ts';
import { countRows } from './ledger.ts';
import { start, type PostgrestFixture } from './postgrest-fixture.ts';

const SECRET = 'tokengate-fixture-secret-of-at-least-32-chars';

/** Await a call that must fail with a TokenGateError, and return it. */
async function rejection(promise: Promise<unknown>): Promise<TokenGateError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenGateError);
    return error as TokenGateError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Today and tomorrow as UTC days (stats and exports of what the tests just wrote). */
function days(): { from: string; to: string } {
  const today = new Date();
  const tomorrow = new Date(today.getTime() + 86_400_000);
  return { from: today.toISOString().slice(0, 10), to: tomorrow.toISOString().slice(0, 10) };
}

/** A PGlite-shaped view of a test database (pgliteStore on the harness's PGlite). */
function pgliteOf(db: TestDb) {
  return { query: async <T>(sql: string, params?: unknown[]) => ({ rows: (await db.query(sql, params)) as T[] }) };
}

interface StoreUnderTest {
  store: TokenStore;
  /** Whether the store can pin the ledger clock (`now`). */
  supportsNow: boolean;
  close(): Promise<void>;
}

/**
 * The contract: every store must pass it.
 */
function storeContract(name: string, db: () => TestDb, open: () => Promise<StoreUnderTest>) {
  describe(name, () => {
    let subject: StoreUnderTest;
    let gate: TokenGate;

    beforeAll(async () => {
      subject = await open();
      gate = createTokenGate({ store: subject.store });
    });
    afterAll(async () => {
      await subject?.close();
    });

    /** An organization on a plan with its owner and one member, created through the gate. */
    async function organization(planId = 'pro') {
      const orgId = randomUUID();
      const owner = randomUUID();
      const user = randomUUID();
      const created = await gate.createAccount({ orgId, planId, ownerId: owner, periodAnchor: new Date(Date.now() - 86_400_000) });
      expect(created).toMatchObject({ orgId, created: true });
      expect(await gate.addMember({ orgId, actorId: owner }, user)).toEqual({ orgId, userId: user, role: 'member' });
      const ctx: GateContext = { orgId, userId: user };
      return { orgId, owner, user, ctx };
    }

    it('creates an account with members and reads its balances', async () => {
      const { orgId, owner, user, ctx } = await organization();
      // Creating again is idempotent.
      expect(await gate.createAccount({ orgId, planId: 'pro', ownerId: owner })).toMatchObject({ orgId, created: false });
      const balances = await gate.balances(ctx);
      expect(balances).toMatchObject({ orgId, plan: { id: 'pro', access: 'metered' }, member: { userId: user, role: 'member', quotas: [] } });
      expect(balances.tokenTypes.map((t) => t.tokenType).sort()).toEqual(
        ['goal_generation', 'lead_generation', 'quest_generation', 'revenue_forecast', 'strategy_analysis'],
      );
      expect(balances.tokenTypes.find((t) => t.tokenType === 'quest_generation')).toMatchObject({
        cost: 3,
        allowance: 60,
        allowanceRemaining: 60,
        purchased: 0,
        held: 0,
        used: 0,
        available: 60,
        unlimited: false,
        blocked: false,
      });
      const ownerView = await gate.balances({ orgId, userId: owner });
      expect(ownerView.member.role).toBe('owner');
    });

    it('checks, and deducts exactly once per idempotency key', async () => {
      const { ctx } = await organization();
      expect(await gate.check(ctx, 'quest_generation')).toMatchObject({ allowed: true, reason: null, cost: 3, required: 3 });
      expect(await gate.check(ctx, 'quest_generation', { amount: 61 })).toMatchObject({ allowed: false, reason: 'insufficient_tokens', required: 61 });

      const first = await gate.deduct(ctx, 'quest_generation', { idempotencyKey: 'req-1', metadata: { model: 'm' } });
      expect(first).toMatchObject({ tokenType: 'quest_generation', charged: 3, fromAllowance: 3, fromPurchased: 0, replayed: false });
      expect(first.balance).toMatchObject({ available: 57, used: 3 });
      expect(typeof first.ledgerId).toBe('number');

      const replay = await gate.deduct(ctx, 'quest_generation', { idempotencyKey: 'req-1', metadata: { model: 'm' } });
      expect(replay).toMatchObject({ ledgerId: first.ledgerId, charged: 3, replayed: true });
      expect((await gate.balances(ctx)).tokenTypes.find((t) => t.tokenType === 'quest_generation')).toMatchObject({ used: 3 });

      const conflict = await rejection(gate.deduct(ctx, 'goal_generation', { idempotencyKey: 'req-1' }));
      expect(conflict).toMatchObject({ code: 'idempotency_conflict', status: 409, facts: { idempotencyKey: 'req-1', operation: 'deduct' } });
    });

    it('refuses what the organization cannot pay, and writes nothing', async () => {
      const { orgId, ctx } = await organization();
      await gate.deduct(ctx, 'strategy_analysis', { idempotencyKey: 'a', units: 9 }); // 90 of 100
      const before = await countRows(db(), 'ledger', orgId);
      const short = await rejection(gate.deduct(ctx, 'strategy_analysis', { idempotencyKey: 'b', units: 2 }));
      expect(short).toMatchObject({ code: 'insufficient_tokens', status: 402, facts: { available: 10, required: 20, tokenType: 'strategy_analysis' } });
      expect(await countRows(db(), 'ledger', orgId)).toBe(before);

      const starter = await organization('starter');
      const blocked = await rejection(gate.deduct(starter.ctx, 'goal_generation', { idempotencyKey: 'c' }));
      expect(blocked).toMatchObject({ code: 'plan_blocked', status: 403, facts: { planId: 'starter' } });
    });

    it('refuses non-members and unknown organizations', async () => {
      const { orgId } = await organization();
      const stranger = randomUUID();
      const notMember = await rejection(gate.balances({ orgId, userId: stranger }));
      expect(notMember).toMatchObject({ code: 'not_a_member', status: 403, facts: { orgId, userId: stranger } });
      const nowhere = randomUUID();
      const unknown = await rejection(gate.deduct({ orgId: nowhere, userId: stranger }, 'goal_generation', { idempotencyKey: 'k' }));
      expect(unknown).toMatchObject({ code: 'unknown_organization', status: 404, facts: { orgId: nowhere } });
    });

    it('reserves, then commits (refunding the rest) or releases', async () => {
      const { ctx } = await organization();
      const held = await gate.reserve(ctx, 'lead_generation', { idempotencyKey: 'r1', estimate: 30 });
      expect(held).toMatchObject({ status: 'pending', estimate: 30, held: 30, replayed: false });
      expect(held.balance).toMatchObject({ available: 70, held: 30 });
      const committed = await gate.commit(ctx, held.reservationId, { actual: 12 });
      expect(committed).toMatchObject({ status: 'committed', charged: 12, refunded: 18, uncharged: 0, replayed: false });
      expect(committed.balance).toMatchObject({ available: 88, held: 0, used: 12 });

      const other = await gate.reserve(ctx, 'lead_generation', { idempotencyKey: 'r2', estimate: 20 });
      const released = await gate.release(ctx, other.reservationId, { metadata: { error: 'model timeout' } });
      expect(released).toMatchObject({ status: 'released', charged: 0, refunded: 20, replayed: false });
      expect(released.balance).toMatchObject({ available: 88, held: 0, used: 12 });
      expect(await gate.release(ctx, other.reservationId)).toMatchObject({ replayed: true, refunded: 20 });
    });

    it('refuses to commit an expired reservation (410), with the clock pinned by `now`', async () => {
      const { ctx } = await organization();
      let clock = new Date(Date.now() + 3_600_000);
      const timed = createTokenGate({ store: subject.store, now: () => clock });
      if (!subject.supportsNow) {
        const error = await timed.balances(ctx).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(TypeError);
        expect((error as Error).message).toMatch(/cannot pin the ledger clock/);
        return;
      }
      const held = await timed.reserve(ctx, 'goal_generation', { idempotencyKey: 'r', ttlSeconds: 60 });
      expect(new Date(held.expiresAt).getTime()).toBe(clock.getTime() + 60_000);
      clock = new Date(clock.getTime() + 120_000);
      const expired = await rejection(timed.commit(ctx, held.reservationId, { actual: 1 }));
      expect(expired).toMatchObject({ code: 'reservation_expired', status: 410, facts: { reservationId: held.reservationId } });
    });

    it('reports stats and exports the ledger page by page', async () => {
      const { ctx } = await organization();
      for (const key of ['e1', 'e2', 'e3']) await gate.deduct(ctx, 'goal_generation', { idempotencyKey: key });
      const range = days();
      const stats = await gate.stats(ctx, range);
      expect(stats).toMatchObject({ orgId: ctx.orgId, from: range.from, to: range.to, totals: { tokens: 3, events: 3 } });
      expect(stats.byMember).toEqual([{ userId: ctx.userId, tokens: 3, events: 3 }]);

      const all = await gate.exportPage(ctx, range);
      expect(all.nextAfterId).toBeNull();
      expect(all.entries.filter((e) => e.kind === 'deduct')).toHaveLength(3);
      const paged = [];
      let afterId = 0;
      for (let page = 0; page < 10; page++) {
        const { entries, nextAfterId } = await gate.exportPage(ctx, { ...range, afterId, limit: 2 });
        expect(entries.length).toBeLessThanOrEqual(2);
        paged.push(...entries);
        if (nextAfterId === null) break;
        expect(nextAfterId).toBe(entries.at(-1)!.id);
        afterId = nextAfterId;
      }
      expect(paged).toEqual(all.entries);
    });

    it('names the invalid argument', async () => {
      const { ctx } = await organization();
      const emptyKey = await rejection(gate.deduct(ctx, 'goal_generation', { idempotencyKey: '' }));
      expect(emptyKey).toMatchObject({ code: 'invalid_argument', status: 400, facts: { argument: 'p_idempotency_key' } });
      const units = await rejection(gate.deduct(ctx, 'goal_generation', { idempotencyKey: 'u', units: 0 }));
      expect(units).toMatchObject({ code: 'invalid_argument', status: 400, facts: { argument: 'p_units' } });
    });

    it('charges a batch (deductBatch): each item answered as deduct would, refusals as the same TokenGateError', async () => {
      const { ctx } = await organization();
      if (!subject.store.deductBatch) throw new Error('every built-in store has deductBatch');
      const item = (key: string, units = 1, tokenType = 'strategy_analysis') =>
        ({ p_org_id: ctx.orgId, p_user_id: ctx.userId, p_token_type: tokenType, p_idempotency_key: key, p_metadata: { key }, p_units: units });
      const outcomes = await subject.store.deductBatch<{ charged: number; replayed: boolean }>([
        item('b1', 6), item('b2', 5), item('b1', 6), item('b1', 1), item('b3', 1, 'no_such_type'), item('b4', 4),
      ]);
      expect(outcomes.map((o) => (o.ok ? { charged: o.value.charged, replayed: o.value.replayed } : o.error.code))).toEqual([
        { charged: 60, replayed: false }, 'insufficient_tokens', { charged: 60, replayed: true }, 'idempotency_conflict', 'unknown_token_type', { charged: 40, replayed: false },
      ]);
      // The same refusal, raised by an unbatched deduct: the same error.
      const alone = await rejection(gate.deduct(ctx, 'strategy_analysis', { idempotencyKey: 'b5', units: 5 }));
      const batched = outcomes[1]!.ok ? null : outcomes[1]!.error;
      expect(batched).toBeInstanceOf(TokenGateError);
      expect({ code: batched!.code, status: batched!.status, message: batched!.message, facts: batched!.facts }).toEqual({
        code: alone.code, status: alone.status, message: alone.message, facts: { ...alone.facts, available: 40, required: 50 },
      });
    });

    it('reconciles the whole ledger', async () => {
      expect(await gate.verifyLedger()).toEqual([]);
    });
  });
}

describeEachDb('stores', (db) => {
  storeContract('SQL store (pgliteStore on PGlite, postgresStore on the server)', db, async () => {
    if (db().kind === 'pglite') return { store: pgliteStore(pgliteOf(db())), supportsNow: true, close: async () => {} };
    const store = postgresStore({ connectionString: db().url!, max: 2 });
    return { store, supportsNow: true, close: () => store.close!() };
  });

  storeContract('batchingStore over the SQL store', db, async () => {
    if (db().kind === 'pglite') return { store: batchingStore(pgliteStore(pgliteOf(db()))), supportsNow: true, close: async () => {} };
    const store = batchingStore(postgresStore({ connectionString: db().url!, max: 2 }));
    return { store, supportsNow: true, close: () => store.close() };
  });

  storeContract('supabaseStore (PostgREST fixture)', db, async () => {
    const api = await start(db(), { secret: SECRET });
    return { store: supabaseStore({ url: api.url, serviceRoleKey: api.serviceRoleKey }), supportsNow: false, close: () => api.close() };
  });

  describe('supabaseStore misconfigured', () => {
    let api: PostgrestFixture;
    beforeAll(async () => {
      api = await start(db(), { secret: SECRET });
    });
    afterAll(async () => {
      await api?.close();
    });

    async function seeded() {
      const gate = createTokenGate({ store: supabaseStore({ url: api.url, serviceRoleKey: api.serviceRoleKey }) });
      const orgId = randomUUID();
      const owner = randomUUID();
      await gate.createAccount({ orgId, planId: 'pro', ownerId: owner });
      return { orgId, ctx: { orgId, userId: owner } };
    }

    it('with the anon key is refused as a server misconfiguration, and writes nothing', async () => {
      const { orgId, ctx } = await seeded();
      const anon = createTokenGate({ store: supabaseStore({ url: api.url, serviceRoleKey: api.anonKey }) });
      const before = await countRows(db(), 'ledger', orgId);
      const error = await rejection(anon.deduct(ctx, 'goal_generation', { idempotencyKey: 'anon' }));
      expect(error).toMatchObject({ code: 'internal', status: 500 });
      expect(error.message).toMatch(/service-role key/);
      expect((error.cause as { code?: string }).code).toBe('42501');
      expect(await countRows(db(), 'ledger', orgId)).toBe(before);
      expect(await countRows(db(), 'idempotency_keys', orgId)).toBe(0);
    });

    it('with a key signed by another secret is refused the same way', async () => {
      const other = await start(db(), { secret: `${SECRET}-other` });
      try {
        const gate = createTokenGate({ store: supabaseStore({ url: api.url, serviceRoleKey: other.serviceRoleKey }) });
        const error = await rejection(gate.verifyLedger());
        expect(error).toMatchObject({ code: 'internal', status: 500 });
        expect((error.cause as { code?: string }).code).toBe('PGRST301');
        expect(error.message).toMatch(/service-role key/);
      } finally {
        await other.close();
      }
    });

    it('without the tokengate schema exposed says so', async () => {
      const hidden = await start(db(), { secret: SECRET, schemas: ['public'] });
      try {
        const gate = createTokenGate({ store: supabaseStore({ url: hidden.url, serviceRoleKey: hidden.serviceRoleKey }) });
        const error = await rejection(gate.verifyLedger());
        expect(error).toMatchObject({ code: 'internal', status: 500 });
        expect(error.message).toMatch(/not exposed/);
      } finally {
        await hidden.close();
      }
    });

    it('(the fixture) answers like PostgREST: profiles, scalar bodies, error statuses', async () => {
      const post = (fn: string, body: unknown, headers: Record<string, string>) =>
        fetch(`${api.url}/rest/v1/rpc/${fn}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      const service = { authorization: `Bearer ${api.serviceRoleKey}` };
      const json = async (response: Response) => ({ status: response.status, body: await response.json() });

      // The schema comes from Content-Profile (POST) / Accept-Profile (GET); the default is the first exposed one.
      expect(await json(await post('verify_ledger', {}, service))).toMatchObject({ status: 404, body: { code: 'PGRST202' } });
      expect(await json(await post('verify_ledger', {}, { ...service, 'content-profile': 'tokengate' }))).toEqual({ status: 200, body: [] });
      const get = await fetch(`${api.url}/rest/v1/rpc/verify_ledger`, { headers: { ...service, 'accept-profile': 'tokengate' } });
      expect(await json(get)).toEqual({ status: 200, body: [] });
      expect(await json(await post('verify_ledger', {}, { ...service, 'content-profile': 'private' }))).toMatchObject({ status: 406, body: { code: 'PGRST106' } });

      // Roles from the verified JWT: anon 401 and authenticated 403 on insufficient_privilege; a bad JWT 401 PGRST301.
      const tg = { 'content-profile': 'tokengate' };
      const anon = await post('verify_ledger', {}, { ...tg, apikey: api.anonKey });
      expect(await json(anon)).toMatchObject({ status: 401, body: { code: '42501' } });
      const userToken = await api.sign({ role: 'authenticated', sub: randomUUID() });
      expect(await json(await post('verify_ledger', {}, { ...tg, authorization: `Bearer ${userToken}` }))).toMatchObject({ status: 403, body: { code: '42501' } });
      const forged = await post('verify_ledger', {}, { ...tg, authorization: `Bearer ${api.serviceRoleKey.slice(0, -4)}AAAA` });
      expect(forged.headers.get('www-authenticate')).toBe('Bearer');
      expect(await json(forged)).toMatchObject({ status: 401, body: { code: 'PGRST301' } });

      // A ledger error is a 400 with PostgreSQL's fields.
      const unknown = await json(await post('balances', { p_org_id: randomUUID(), p_user_id: randomUUID() }, { ...service, ...tg }));
      expect(unknown).toMatchObject({ status: 400, body: { code: 'TGA03', message: 'unknown_organization', hint: expect.any(String) } });
      expect(JSON.parse(unknown.body.details)).toHaveProperty('orgId');
    });

    it('accepts a supabase-js client the app already has', async () => {
      const { createClient } = await import('@supabase/supabase-js');
      // Node 20 has no WebSocket: supabase-js then needs a Realtime transport, which is never used here.
      const transport = class {} as never;
      const client = createClient(api.url, api.serviceRoleKey, { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport } });
      const gate = createTokenGate({ store: supabaseStore(client) });
      expect(await gate.verifyLedger()).toEqual([]);
    });
  });
});

describe('an unreachable ledger is unavailable (503)', () => {
  it('postgresStore on a closed port', async () => {
    const store = postgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    try {
      const error = await rejection(createTokenGate({ store }).verifyLedger());
      expect(error).toMatchObject({ code: 'unavailable', status: 503 });
    } finally {
      await store.close!();
    }
  });

  it('supabaseStore on a closed port', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const gate = createTokenGate({ store: supabaseStore({ url: `http://127.0.0.1:${port}`, serviceRoleKey: 'unused' }) });
    const error = await rejection(gate.verifyLedger());
    expect(error).toMatchObject({ code: 'unavailable', status: 503 });
  });

  it('supabaseStore behind a gateway answering 502', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>Bad Gateway</body></html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const gate = createTokenGate({ store: supabaseStore({ url: `http://127.0.0.1:${port}`, serviceRoleKey: 'unused' }) });
      const error = await rejection(gate.verifyLedger());
      expect(error).toMatchObject({ code: 'unavailable', status: 503 });
      expect(error.message).not.toMatch(/html/i);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('supabaseStore refuses bad options up front', () => {
    expect(() => supabaseStore({ url: '', serviceRoleKey: 'k' })).toThrow(TypeError);
    expect(() => supabaseStore({ url: 'http://x', serviceRoleKey: '' })).toThrow(TypeError);
  });
});

describe("supabaseStore's PostgREST error mapping", () => {
  it.each([
    [{ code: 'TGB01', message: 'insufficient_tokens', details: '{"available":1,"required":3}', hint: 'Not enough.' }, 400, 'insufficient_tokens'],
    [{ code: '', message: 'TypeError: fetch failed', details: '', hint: '' }, 0, 'unavailable'],
    [{ code: 'PGRST003', message: 'Timed out acquiring connection from connection pool.' }, 504, 'unavailable'],
    [{ code: 'PGRST000', message: 'Database client error. Retrying the connection.' }, 503, 'unavailable'],
    [{ code: '08006', message: 'connection failure' }, 503, 'unavailable'],
    [{ message: '<html>Bad Gateway</html>' }, 502, 'unavailable'],
    [{ code: '42501', message: 'permission denied for function deduct' }, 401, 'internal'],
    [{ code: 'PGRST301', message: 'JWSError JWSInvalidSignature' }, 401, 'internal'],
    [{ code: 'PGRST106', message: 'Invalid schema: tokengate' }, 406, 'internal'],
    [{ code: 'PGRST202', message: 'Could not find the function tokengate.deduct' }, 404, 'internal'],
    [{ code: '22P02', message: 'invalid input syntax for type uuid: "x"' }, 400, 'internal'],
  ] as const)('%o (HTTP %i) → %s', (error, status, code) => {
    const mapped = postgrestError(error, status);
    expect(mapped).toBeInstanceOf(TokenGateError);
    expect(mapped.code).toBe(code);
    expect(mapped.cause).toBe(error);
    // Never the database's text.
    if (code !== 'insufficient_tokens') expect(mapped.message).not.toContain(error.message);
  });

  it('keeps the facts of a ledger error', () => {
    const mapped = postgrestError({ code: 'TGB01', message: 'insufficient_tokens', details: '{"available":1,"required":3}', hint: 'Not enough.' }, 400);
    expect(mapped).toMatchObject({ code: 'insufficient_tokens', status: 402, facts: { available: 1, required: 3 }, message: 'Not enough.' });
  });

  it('maps what a client throws: a PostgrestError by its code, a failed fetch as unavailable', async () => {
    const throwing = (thrown: unknown) => supabaseStore({ schema: () => ({ rpc: async () => Promise.reject(thrown) }) });
    const ledger = await rejection(throwing({ code: 'TGC01', message: 'idempotency_conflict', details: '{"idempotencyKey":"k"}', hint: '' }).rpc('deduct', {}));
    expect(ledger).toMatchObject({ code: 'idempotency_conflict', facts: { idempotencyKey: 'k' } });
    const refused = await rejection(throwing({ code: '42501', message: 'permission denied for function deduct', details: null, hint: null }).rpc('deduct', {}));
    expect(refused.code).toBe('internal');
    const network = await rejection(throwing(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })).rpc('deduct', {}));
    expect(network.code).toBe('unavailable');
  });
});
