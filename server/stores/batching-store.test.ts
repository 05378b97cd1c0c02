/**
 * batchingStore on a real ledger (PGlite and the server): a lone charge goes at once as a plain
 * deduct; charges of one bucket that arrive while its call is in flight go together as one
 * deduct_batch; each caller gets exactly what an unbatched deduct gives (checked against the same
 * calls, unbatched and one after another, on a twin organization); a batch that fails as a whole
 * fails every caller (unavailable) or is charged again one by one (anything else).
 *
 * `recording()` only watches the real store's calls (so the tests can see what was batched); every
 * call still reaches the database.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { describeEachDb, type TestDb } from '../../test/db.ts';
import { call, expectReconciled } from '../../test/ledger.ts';
import { createTokenGate, type GateContext } from '../gate.ts';
import type { LedgerArgs } from '../ledger-call.ts';
import type { DeductBatchStore } from '../store.ts';
import { batchingStore } from './batching-store.ts';
import { pgliteStore } from './pglite-store.ts';
import { postgresStore } from './postgres-store.ts';

const NOW = '2028-01-10T12:00:00Z';
const ANCHOR = '2028-01-01T00:00:00Z';

/** What reached the real store: `deduct`, `deduct_batch ×n`, or another function's name. */
function recording(inner: DeductBatchStore) {
  const calls: string[] = [];
  const store: DeductBatchStore = {
    rpc(fn, args, options) {
      calls.push(fn);
      return inner.rpc(fn, args, options);
    },
    deductBatch(items, options) {
      calls.push(`deduct_batch ×${items.length}`);
      return inner.deductBatch(items, options);
    },
  };
  return { store, calls };
}

/** A caller's answer, comparable with an unbatched one (the ledger id is a global sequence). */
type Answer = { ok: true; value: Record<string, unknown> } | { ok: false; error: Pick<TokenGateError, 'code' | 'status' | 'message' | 'facts'> };

async function answer(promise: Promise<unknown>): Promise<Answer> {
  try {
    const value = (await promise) as Record<string, unknown>;
    return { ok: true, value: { ...value, ledgerId: typeof value.ledgerId } };
  } catch (error) {
    if (!(error instanceof TokenGateError)) throw error;
    return { ok: false, error: { code: error.code, status: error.status, message: error.message, facts: error.facts } };
  }
}

describeEachDb('batchingStore', (db) => {
  const stores: { close(): Promise<void> }[] = [];
  /** The engine's own store (postgresStore with two connections on the server). */
  function realStore(): DeductBatchStore {
    if (db().kind === 'pglite') {
      return pgliteStore({ query: async <T,>(sql: string, params?: unknown[]) => ({ rows: (await db().query(sql, params)) as T[] }) });
    }
    const store = postgresStore({ connectionString: db().url!, max: 2 });
    stores.push(store);
    return store;
  }
  // Each test's pools end with it (the file's share of server connections is small).
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  /** A Pro organization (goal_generation: 20 a month, cost 1) with `purchased` extra goal tokens. */
  async function organization(purchased = 0) {
    const orgId = randomUUID();
    const owner = randomUUID();
    await call(db(), 'create_account', { p_org_id: orgId, p_plan_id: 'pro', p_owner_id: owner, p_period_anchor: ANCHOR });
    if (purchased) await call(db(), 'grant_tokens', { p_org_id: orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: purchased, p_idempotency_key: 'topup' });
    return { orgId, userId: owner } satisfies GateContext;
  }

  it('sends a lone charge at once, as a plain deduct: no window, no batch', async () => {
    await db().setNow(NOW);
    const rec = recording(realStore());
    const gate = createTokenGate({ store: batchingStore(rec.store) });
    const ctx = await organization();
    const charge = gate.deduct(ctx, 'goal_generation', { idempotencyKey: 'lone' });
    // Before anything was awaited: the call already went to the store.
    expect(rec.calls).toEqual(['deduct']);
    expect(await charge).toMatchObject({ charged: 1, replayed: false });
    // Charges of different buckets never wait for each other.
    const other = await organization();
    const both = [gate.deduct(ctx, 'quest_generation', { idempotencyKey: 'q' }), gate.deduct(other, 'goal_generation', { idempotencyKey: 'g' })];
    expect(rec.calls).toEqual(['deduct', 'deduct', 'deduct']);
    await Promise.all(both);
  });

  it('batches concurrent charges of one bucket, and tells each caller exactly what an unbatched deduct tells it', async () => {
    await db().setNow(NOW);
    const rec = recording(realStore());
    const batched = createTokenGate({ store: batchingStore(rec.store) });
    const plain = createTokenGate({ store: realStore() });
    // K = 20 + 5 = 25 goal tokens for 40 callers over 30 keys (10 keys sent twice), 1 or 2 units each.
    const requests = (ctx: GateContext) =>
      Array.from({ length: 40 }, (_, i) => {
        const key = i % 30;
        return { ctx, key: `k${key}`, units: 1 + (key % 2), metadata: { caller: key } };
      });
    const twin = await organization(5);
    const expected: Answer[] = [];
    for (const r of requests(twin)) expected.push(await answer(plain.deduct(r.ctx, 'goal_generation', { idempotencyKey: r.key, units: r.units, metadata: r.metadata })));

    const ctx = await organization(5);
    const got = await Promise.all(
      requests(ctx).map((r) => answer(batched.deduct(r.ctx, 'goal_generation', { idempotencyKey: r.key, units: r.units, metadata: r.metadata }))),
    );
    // The first charge went alone; the 39 that arrived while it was in flight went as one batch.
    expect(rec.calls).toEqual(['deduct', 'deduct_batch ×39']);
    const orgIdsAs = (answers: Answer[], from: string, to: string) => JSON.parse(JSON.stringify(answers).replaceAll(from, to));
    expect(got).toEqual(orgIdsAs(expected, twin.orgId, ctx.orgId));
    expect(got.filter((a) => a.ok && !a.value.replayed).length).toBeGreaterThan(0);
    expect(new Set(got.map((a) => (a.ok ? (a.value.replayed ? 'replayed' : 'charged') : a.error.code)))).toEqual(
      new Set(['charged', 'replayed', 'insufficient_tokens']),
    );
    const [spent] = await db().query<{ used: number; n: number }>(
      `select (select used from tokengate.buckets where org_id = $1 and token_type_id = 'goal_generation')::int as used,
              (select count(*) from tokengate.ledger where org_id = $1 and kind = 'deduct')::int as n`,
      [ctx.orgId],
    );
    expect(spent!.used).toBeLessThanOrEqual(25);
    await expectReconciled(db());
  });

  it('sends at most maxBatch charges per call, and with windowMs waits to gather even the first', async () => {
    await db().setNow(NOW);
    const ctx = await organization(100);
    const rec = recording(realStore());
    const small = createTokenGate({ store: batchingStore(rec.store, { maxBatch: 8 }) });
    await Promise.all(Array.from({ length: 20 }, (_, i) => small.deduct(ctx, 'goal_generation', { idempotencyKey: `m${i}` })));
    expect(rec.calls).toEqual(['deduct', 'deduct_batch ×8', 'deduct_batch ×8', 'deduct_batch ×3']);

    const windowed = recording(realStore());
    const gate = createTokenGate({ store: batchingStore(windowed.store, { windowMs: 5 }) });
    const charges = Array.from({ length: 5 }, (_, i) => gate.deduct(ctx, 'goal_generation', { idempotencyKey: `w${i}` }));
    expect(windowed.calls).toEqual([]); // the window is still open
    expect((await Promise.all(charges)).map((r) => r.charged)).toEqual([1, 1, 1, 1, 1]);
    expect(windowed.calls).toEqual(['deduct_batch ×5']);
    await expectReconciled(db(), ctx.orgId);
  });

  it('charges one by one when a batch fails for a reason other than the connection: one bad charge fails alone', async () => {
    await db().setNow(NOW);
    const ctx = await organization();
    const rec = recording(realStore());
    const store = batchingStore(rec.store);
    const args = (key: string, userId: string = ctx.userId): LedgerArgs => ({
      p_org_id: ctx.orgId, p_user_id: userId, p_token_type: 'goal_generation', p_idempotency_key: key, p_metadata: {}, p_units: 1,
    });
    // A user id that is no uuid: the batch fails as a whole (22P02), not as one item.
    const outcomes = await Promise.allSettled([
      store.rpc('deduct', args('first')),
      store.rpc('deduct', args('a')),
      store.rpc('deduct', args('bad', 'not-a-uuid')),
      store.rpc('deduct', args('b')),
    ]);
    expect(rec.calls).toEqual(['deduct', 'deduct_batch ×3', 'deduct', 'deduct', 'deduct']);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const bad = (outcomes[2] as PromiseRejectedResult).reason;
    expect(bad).toBeInstanceOf(TokenGateError);
    expect(bad.code).toBe('internal');
    const [row] = await db().query<{ n: number }>(`select count(*)::int as n from tokengate.ledger where org_id = $1 and kind = 'deduct'`, [ctx.orgId]);
    expect(row!.n).toBe(3);
    await expectReconciled(db(), ctx.orgId);
  });

  it('passes every other call through, and keeps a pinned clock per batch', async () => {
    await db().setNow(null);
    const ctx = await organization();
    const rec = recording(realStore());
    const at = new Date('2029-03-05T00:00:00Z');
    const gate = createTokenGate({ store: batchingStore(rec.store), now: () => at });
    expect((await gate.balances(ctx)).orgId).toBe(ctx.orgId);
    const [a, b] = await Promise.all([0, 1].map((i) => gate.deduct(ctx, 'goal_generation', { idempotencyKey: `t${i}` })));
    expect(rec.calls).toEqual(['balances', 'deduct', 'deduct']);
    expect(a!.balance.periodStart).toBe(b!.balance.periodStart);
    expect(new Date(a!.balance.refreshesAt!).getTime()).toBeGreaterThan(at.getTime());
  });
});

describe('batchingStore without a database', () => {
  it('gives every caller of a batch the error when the ledger is unreachable, each its own TokenGateError', async () => {
    const store = postgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/test' });
    try {
      const rec = recording(store);
      const gate = createTokenGate({ store: batchingStore(rec.store) });
      const ctx = { orgId: randomUUID(), userId: randomUUID() };
      const outcomes = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => gate.deduct(ctx, 'goal_generation', { idempotencyKey: `u${i}` })));
      expect(rec.calls).toEqual(['deduct', 'deduct_batch ×3']);
      const errors = outcomes.map((o) => (o as PromiseRejectedResult).reason as TokenGateError);
      expect(errors.map((e) => [e instanceof TokenGateError, e.code, e.status])).toEqual(Array(4).fill([true, 'unavailable', 503]));
      expect(new Set(errors).size).toBe(4);
    } finally {
      await store.close();
    }
  });

  it('refuses a store without deductBatch and bad options', () => {
    const store = pgliteStore({ query: async () => ({ rows: [] }) });
    expect(() => batchingStore({ rpc: store.rpc } as DeductBatchStore)).toThrow(/deductBatch/);
    expect(() => batchingStore(store, { maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => batchingStore(store, { maxBatch: 1.5 })).toThrow(/maxBatch/);
    expect(() => batchingStore(store, { windowMs: -1 })).toThrow(/windowMs/);
  });
});
