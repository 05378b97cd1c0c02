/**
 * Concurrency of the SQL ledger on a real Postgres server (DESIGN.md §2): many connections race on
 * one bucket, one idempotency key, one stale period or one set of reservations, and every
 * invariant must hold exactly — no overspend, exactly once, one refresh per period, each
 * reservation resolved once, no deadlock.
 *
 * Server only (PGlite has a single connection). The tests run one after another
 * (describe.sequential) on ONE pool of POOL_SIZE connections: up to 50, fewer when this file's
 * share of the run's connections is smaller (test/connection-budget.ts; 9 at the default
 * TOKENGATE_TEST_MAX_CONNECTIONS=24 with two files at once). Any width above 1 races for real: every
 * lane holds a statement on the same rows at once.
 *
 * Role: the harness's pooled connections log in as the superuser; before the pool opens its first
 * connection we add `-c role=service_role` to its startup options (pool.options.options, read by
 * every new client), so every pooled session runs as the server role and the ledger functions run
 * with its privileges, as in production (checked in beforeAll). Assertions read the tables
 * through db(), the superuser.
 *
 * Clock: db().setNow() reaches pooled clients on their next checkout (pool.query checks out per
 * statement), so a race runs entirely at the clock set before it.
 *
 * Who races whom (users, keys, task order, small delays) comes from a seeded PRNG (mulberry32);
 * the seed is in the test name.
 */
import type { Pool } from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { concurrencyPoolSize, describeServer } from '../db.ts';
import { bucket, call, createOrg, expectReconciled, ledgerError, type LedgerError, type SqlRunner } from '../ledger.ts';

const POOL_SIZE = concurrencyPoolSize(50);

/* ───────────────────────────── seeded randomness and racing ───────────────────────────── */

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const intIn = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
function shuffle<T>(rand: () => number, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
const hex = (seed: number) => `0x${seed.toString(16)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Outcome<T = any> = { ok: true; value: T } | { ok: false; error: LedgerError };
type Task<T = any> = () => Promise<T>;

/**
 * Run tasks on `lanes` concurrent lanes (each lane awaits one statement at a time, so at most
 * `lanes` connections are busy); results in task order. A task that the PRNG marked with a delay
 * sleeps 0–3 ms first, to vary the interleaving from seed to seed.
 */
async function race(tasks: Task[], lanes: number, rand?: () => number): Promise<Outcome[]> {
  const delays = tasks.map(() => (rand && rand() < 0.25 ? intIn(rand, 0, 3) : -1));
  const out: Outcome[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        if (delays[i]! >= 0) await sleep(delays[i]!);
        try {
          out[i] = { ok: true, value: await tasks[i]!() };
        } catch (error) {
          out[i] = { ok: false, error: ledgerError(error) };
        }
      }
    }),
  );
  return out;
}

const wins = <T>(outcomes: Outcome<T>[]) => outcomes.flatMap((o) => (o.ok ? [o.value] : []));
const losses = (outcomes: Outcome[]) => outcomes.flatMap((o) => (o.ok ? [] : [o.error]));
/** Failures by "name [SQLSTATE]", e.g. { 'insufficient_tokens [TGB01]': 647 }. */
function tally(errors: LedgerError[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const e of errors) t[`${e.name} [${e.code}]`] = (t[`${e.name} [${e.code}]`] ?? 0) + 1;
  return t;
}
const without = (o: Record<string, unknown>, key: string) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    console.log(`[concurrency] ${label}: ${Math.round(performance.now() - t0)} ms`);
  }
}

/* ───────────────────────────── the suite ───────────────────────────── */

describeServer('ledger concurrency', (db) => {
  describe.sequential('races', () => {
    let pool: Pool;
    /** The pool as the SqlRunner test/ledger.ts's call() takes. */
    let p: SqlRunner;

    beforeAll(async () => {
      pool = db().pool(POOL_SIZE);
      // Before the first connection: every session of this pool starts as the server role.
      pool.options.options = `${pool.options.options ?? ''} -c role=service_role`.trim();
      p = { query: async (sql, params) => (await pool.query(sql, params)).rows };
      // Open every connection up front so races start at full width: all POOL_SIZE clients are
      // checked out at once (none can be reused), then given back.
      const clients = await Promise.all(Array.from({ length: POOL_SIZE }, () => pool.connect()));
      try {
        const roles = await Promise.all(clients.map((c) => c.query<{ who: string }>('select current_user as who')));
        expect(new Set(roles.map((r) => r.rows[0]!.who))).toEqual(new Set(['service_role']));
      } finally {
        for (const c of clients) c.release();
      }
      expect(pool.totalCount).toBe(POOL_SIZE);
    });

    const count = async (sql: string, params: unknown[]) => Number((await db().query<{ n: number }>(sql, params))[0]!.n);

    /* 1 ─ No overspend ─────────────────────────────────────────────────────────────────── */

    // K = plan allowance (Pro) − an optional debit + purchased tokens; never a multiple of the cost except for cost 1.
    const OVERSPEND = [
      { seed: 0x2f6b1c3d, tokenType: 'goal_generation', cost: 1, allowance: 20, debit: 0, purchased: 517, K: 537 },
      { seed: 0x9e3779b9, tokenType: 'quest_generation', cost: 3, allowance: 60, debit: 0, purchased: 1001, K: 1061 },
      { seed: 0x1b873593, tokenType: 'strategy_analysis', cost: 10, allowance: 100, debit: 5, purchased: 2352, K: 2447 },
    ];
    for (const c of OVERSPEND) {
      it(`no overspend: 1000 concurrent deducts from ${POOL_SIZE} connections, ${c.tokenType} (cost ${c.cost}), K = ${c.K} → exactly ${Math.floor(c.K / c.cost)} succeed (seed ${hex(c.seed)})`, async () => {
        const rand = mulberry32(c.seed);
        await db().setNow('2028-01-10T12:00:00Z');
        const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 3 });
        const users = [org.owner, org.admin, ...org.members];
        await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: org.owner, p_token_type: c.tokenType, p_amount: c.purchased, p_idempotency_key: 'topup' });
        if (c.debit) {
          await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: org.owner, p_token_type: c.tokenType, p_amount: -c.debit, p_reason: 'test debit', p_idempotency_key: 'debit' });
        }
        const before = await call(db(), 'check', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: c.tokenType });
        expect(before.cost).toBe(c.cost);
        expect(before.balance).toMatchObject({ allowance: c.allowance, allowanceRemaining: c.allowance - c.debit, purchased: c.purchased, available: c.K });

        const tasks = Array.from({ length: 1000 }, (_, i) => {
          const user = pick(rand, users);
          return () => call(p, 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: c.tokenType, p_idempotency_key: `spend-${i}` });
        });
        const outcomes = await timed(`no overspend ${c.tokenType}`, () => race(shuffle(rand, tasks), POOL_SIZE, rand));

        const n = Math.floor(c.K / c.cost);
        const ok = wins(outcomes);
        const failed = losses(outcomes);
        // Every failure is a clean insufficient_tokens (no deadlock, serialization failure, check violation…),
        // and every one came after the bucket was spent down to the remainder.
        expect(tally(failed)).toEqual(n === 1000 ? {} : { 'insufficient_tokens [TGB01]': 1000 - n });
        expect(ok).toHaveLength(n);
        for (const e of failed) expect(e.detail).toMatchObject({ available: c.K % c.cost, required: c.cost });
        // Each success saw a distinct balance: K − cost, K − 2·cost, … (the charges were serialized).
        expect(ok.map((r) => r.balance.available).sort((a, b) => b - a)).toEqual(Array.from({ length: n }, (_, i) => c.K - (i + 1) * c.cost));
        expect(ok.every((r) => r.charged === c.cost && r.fromAllowance + r.fromPurchased === c.cost)).toBe(true);
        // Allowance first: all of it went, then purchased tokens.
        expect(sum(ok.map((r) => r.fromAllowance))).toBe(c.allowance - c.debit);
        expect(sum(ok.map((r) => r.fromPurchased))).toBe(n * c.cost - (c.allowance - c.debit));

        expect(await bucket(db(), org.orgId, c.tokenType)).toMatchObject({
          allowance_remaining: 0,
          purchased_remaining: c.K - n * c.cost,
          held: 0,
          used: n * c.cost,
        });
        const [ledger] = await db().query<{ n: number; charged: number; keys: number }>(
          `select count(*)::int as n, sum(charged)::int as charged, count(distinct idempotency_key)::int as keys
           from tokengate.ledger where org_id = $1 and kind = 'deduct'`,
          [org.orgId],
        );
        expect(ledger).toEqual({ n, charged: n * c.cost, keys: n });
        // A key is stored only for a request that took effect.
        expect(await count(`select count(*)::int as n from tokengate.idempotency_keys where org_id = $1 and operation = 'deduct'`, [org.orgId])).toBe(n);
        await expectReconciled(db(), org.orgId);
      });
    }

    /* 1b ─ Grants: the burn order under contention ──────────────────────────────────────── */

    it(`grants: 60 concurrent charges against three grants of different expiries (101 tokens after the allowance) → exactly 50 succeed, consumed soonest expiry first, no overspend (seed ${hex(0x3c6ef372)})`, async () => {
      const rand = mulberry32(0x3c6ef372);
      await db().setNow('2028-01-10T12:00:00Z');
      const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 3 });
      const users = [org.owner, org.admin, ...org.members];
      const o = { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation' };
      await call(db(), 'adjust', { ...o, p_amount: -100, p_reason: 'spend the allowance', p_idempotency_key: 'spent' });
      // Made out of order: the never-expiring one first, the latest-expiring one last.
      const grants = {
        never: await call(db(), 'grant_tokens', { ...o, p_amount: 41, p_idempotency_key: 'never' }),
        tenDays: await call(db(), 'grant_tokens', { ...o, p_amount: 30, p_idempotency_key: 'ten', p_expires_at: '2028-01-20T12:00:00Z' }),
        fiveDays: await call(db(), 'grant_tokens', { ...o, p_amount: 30, p_idempotency_key: 'five', p_expires_at: '2028-01-15T12:00:00Z', p_priority: 90 }),
      };
      const tasks = Array.from({ length: 60 }, (_, i) => {
        const user = pick(rand, users);
        return () => call(p, 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'lead_generation', p_idempotency_key: `g-${i}` });
      });
      const outcomes = await timed('grants burn order', () => race(shuffle(rand, tasks), POOL_SIZE, rand));
      expect(tally(losses(outcomes))).toEqual({ 'insufficient_tokens [TGB01]': 10 });
      expect(wins(outcomes)).toHaveLength(50);
      const left = await db().query<{ key: string; remaining: number }>(
        `select idempotency_key as key, remaining::int from tokengate.grants where org_id = $1 order by seq`, [org.orgId]);
      expect(left).toEqual([{ key: 'never', remaining: 1 }, { key: 'ten', remaining: 0 }, { key: 'five', remaining: 0 }]);
      // In commit order (ledger ids), every charge took from the soonest-expiring grant that had tokens:
      // the five-day grant's charges all precede the ten-day one's, which precede the never-expiring one's.
      const spans = await db().query<{ grant_id: string; first: number; last: number }>(
        `select grant_id, min(ledger_id)::int as first, max(ledger_id)::int as last from tokengate.grant_entries
         where org_id = $1 and delta < 0 group by grant_id`, [org.orgId]);
      const span = (g: { grantId: string }) => spans.find((s) => s.grant_id === g.grantId)!;
      expect(span(grants.fiveDays).last).toBeLessThanOrEqual(span(grants.tenDays).first);
      expect(span(grants.tenDays).last).toBeLessThanOrEqual(span(grants.never).first);
      await expectReconciled(db(), org.orgId);
    });

    it(`any-type grant: 90 concurrent charges of three types (deducts, holds committed over their estimate, guarded runs, mixed-type batches) race for one shared grant of 150 → no overspend, no deadlock, every token accounted for (seed ${hex(0x1f83d9ab)})`, async () => {
      const rand = mulberry32(0x1f83d9ab);
      await db().setNow('2028-01-10T12:00:00Z');
      const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 3 });
      const users = [org.owner, org.admin, ...org.members];
      const types = [['lead_generation', 2, 100], ['quest_generation', 3, 60], ['goal_generation', 1, 20]] as const;
      for (const [type, , allowance] of types) {
        await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: type, p_amount: -allowance, p_reason: 'spend the allowance', p_idempotency_key: `spent-${type}` });
      }
      // Each type also has a small grant of its own, so the burn order interleaves (it expires later).
      for (const [type] of types) {
        await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: type, p_amount: 5, p_idempotency_key: `own-${type}`, p_expires_at: '2028-02-01T00:00:00Z' });
      }
      await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: '*', p_amount: 150, p_idempotency_key: 'any', p_expires_at: '2028-01-20T00:00:00Z' });
      const total = 150 + 3 * 5;
      const o = (type: string, key: string) => ({ p_org_id: org.orgId, p_user_id: pick(rand, users), p_token_type: type, p_idempotency_key: key });
      const tasks = Array.from({ length: 90 }, (_, i) => {
        const [type] = pick(rand, types);
        switch (i % 5) {
          case 0: return async () => {
            const args = o(type, `r-${i}`);
            const hold = await call(p, 'reserve', { ...args, p_estimate: 3 });
            return call(p, 'commit', { p_org_id: org.orgId, p_user_id: args.p_user_id, p_reservation_id: hold.reservationId, p_actual: 5 });
          };
          case 1: return async () => {
            const args = o(type, `g-${i}`);
            const run = await call(p, 'guard_begin', { ...args, p_estimate: 4 });
            return call(p, 'guard_commit', { p_org_id: org.orgId, p_user_id: args.p_user_id, p_idempotency_key: args.p_idempotency_key, p_reservation_id: run.reservation.reservationId, p_actual: 4, p_response: null, p_metadata: {} });
          };
          case 2: return () => call(p, 'deduct_batch', { p_items: types.map(([t], k) => ({ orgId: org.orgId, userId: pick(rand, users), tokenType: t, idempotencyKey: `b-${i}-${k}` })) });
          default: return () => call(p, 'deduct', o(type, `d-${i}`));
        }
      });
      const outcomes = await timed('any-type grant race', () => race(shuffle(rand, tasks), POOL_SIZE, rand));
      // Every failure is a refusal for want of tokens: no deadlock, no lock timeout, no internal error.
      const failures = tally(losses(outcomes));
      expect(Object.keys(failures).every((k) => k.startsWith('insufficient_tokens'))).toBe(true);
      const batchErrors = wins(outcomes).flatMap((r) => (Array.isArray(r) ? r : [])).filter((r: any) => r.error).map((r: any) => r.error.code);
      expect(batchErrors.every((code: string) => code === 'insufficient_tokens')).toBe(true);
      // Every token is accounted for: what was charged + what is left (pool, children, own grants) = what was granted.
      const [row] = await p.query<{ charged: number; left: number; held: number; uncharged: number }>(
        `select (select coalesce(sum(charged), 0)::int from tokengate.ledger where org_id = $1 and kind in ('deduct', 'commit')) as charged,
                (select coalesce(sum(remaining), 0)::int from tokengate.grants where org_id = $1 and status = 'active') as left,
                (select coalesce(sum(held), 0)::int from tokengate.buckets where org_id = $1) as held,
                (select coalesce(sum((metadata ->> 'uncharged')::int), 0)::int from tokengate.ledger where org_id = $1) as uncharged`, [org.orgId]);
      expect(row!.held).toBe(0);
      expect(row!.charged + row!.left).toBe(total);
      // The pool was really spent across types, and it ran dry (some charges were refused).
      expect(Object.values(failures).reduce((a, b) => a + b, 0) + batchErrors.length).toBeGreaterThan(0);
      const [moved] = await p.query<{ types: number }>(
        `select count(distinct token_type_id)::int as types from tokengate.ledger where org_id = $1 and kind = 'transfer' and token_type_id <> '*'`, [org.orgId]);
      expect(moved!.types).toBe(3);
      await expectReconciled(db(), org.orgId);
    });

    /* 2 ─ Exactly once ─────────────────────────────────────────────────────────────────── */

    it(`exactly once: 2000 concurrent deducts over 20 keys (100 duplicates each) charge 20 times; duplicates replay; reserve and grant keys too (seed ${hex(0x85ebca6b)})`, async () => {
      const rand = mulberry32(0x85ebca6b);
      await db().setNow('2028-01-10T12:00:00Z');
      const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 3 });
      const users = [org.owner, org.admin, ...org.members];
      // Key i: user i mod 5, i mod 3 + 1 units of lead_generation (cost 2): 78 tokens of the 100 allowance.
      const KEYS = 20;
      const spec = Array.from({ length: KEYS }, (_, i) => ({ key: `dup-${i}`, user: users[i % users.length]!, units: 1 + (i % 3) }));
      const expectedCharge = sum(spec.map((s) => 2 * s.units));
      expect(expectedCharge).toBe(78);
      const deduct = (s: { key: string; user: string; units: number }) => () =>
        call(p, 'deduct', { p_org_id: org.orgId, p_user_id: s.user, p_token_type: 'lead_generation', p_idempotency_key: s.key, p_units: s.units, p_metadata: { request: s.key } });
      const tasks = shuffle(rand, spec.flatMap((s) => Array.from({ length: 100 }, () => ({ s, run: deduct(s) }))));
      const outcomes = await timed('exactly once: 2000 deducts', () => race(tasks.map((t) => t.run), POOL_SIZE, rand));

      expect(tally(losses(outcomes))).toEqual({});
      for (const s of spec) {
        const results = outcomes.flatMap((o, i) => (o.ok && tasks[i]!.s === s ? [o.value] : []));
        expect(results).toHaveLength(100);
        const first = results.filter((r) => r.replayed === false);
        expect(first, s.key).toHaveLength(1);
        expect(first[0]).toMatchObject({ charged: 2 * s.units, tokenType: 'lead_generation' });
        // Every duplicate is the first result (same ledgerId, same balance), marked replayed.
        for (const r of results) expect(without(r, 'replayed')).toEqual(without(first[0]!, 'replayed'));
      }
      const kinds = async () =>
        db().query<{ kind: string; n: number; amount: number; held: number; charged: number }>(
          `select kind, count(*)::int as n, sum(amount)::int as amount, sum(held_delta)::int as held, sum(charged)::int as charged
           from tokengate.ledger where org_id = $1 and kind <> 'refresh' group by kind order by kind`,
          [org.orgId],
        );
      expect(await kinds()).toEqual([{ kind: 'deduct', n: KEYS, amount: -expectedCharge, held: 0, charged: expectedCharge }]);
      // The rollup, brought up to date from the ledger, counts each charge once.
      await db().query(`select tokengate.roll_up_usage()`);
      expect(await count(`select sum(events)::int as n from tokengate.usage_daily where org_id = $1`, [org.orgId])).toBe(KEYS);
      expect(await bucket(db(), org.orgId, 'lead_generation')).toMatchObject({ allowance_remaining: 100 - expectedCharge, used: expectedCharge });

      // The same key with other parameters, or for another operation, is a conflict and charges nothing.
      const conflict = await race(
        [
          () => call(p, 'deduct', { p_org_id: org.orgId, p_user_id: spec[0]!.user, p_token_type: 'lead_generation', p_idempotency_key: 'dup-0', p_units: 3, p_metadata: { request: 'dup-0' } }),
          () => call(p, 'deduct', { p_org_id: org.orgId, p_user_id: spec[0]!.user, p_token_type: 'lead_generation', p_idempotency_key: 'dup-0', p_units: 1, p_metadata: { request: 'other' } }),
          () => call(p, 'reserve', { p_org_id: org.orgId, p_user_id: spec[1]!.user, p_token_type: 'lead_generation', p_idempotency_key: 'dup-1' }),
          () => call(p, 'grant_tokens', { p_org_id: org.orgId, p_actor_id: org.owner, p_token_type: 'lead_generation', p_amount: 5, p_idempotency_key: 'dup-2' }),
        ],
        4,
      );
      expect(tally(losses(conflict))).toEqual({ 'idempotency_conflict [TGC01]': 4 });

      // One fresh key, 50 concurrent calls with two different parameter sets: one set wins, the other conflicts.
      const split = shuffle(rand, Array.from({ length: 50 }, (_, i) => 1 + (i % 2)));
      const splitOut = await race(
        split.map((units) => () => call(p, 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'lead_generation', p_idempotency_key: 'split', p_units: units })),
        POOL_SIZE,
      );
      const [splitRow] = await db().query<{ n: number; charged: number }>(
        `select count(*)::int as n, sum(charged)::int as charged from tokengate.ledger where org_id = $1 and idempotency_key = 'split'`,
        [org.orgId],
      );
      expect(splitRow!.n).toBe(1);
      const winner = splitRow!.charged / 2;
      expect([1, 2]).toContain(winner);
      splitOut.forEach((o, i) => {
        if (split[i] === winner) expect(o.ok).toBe(true);
        else expect(o.ok ? 'succeeded' : o.error.name).toBe('idempotency_conflict');
      });
      expect(wins(splitOut).filter((r) => r.replayed === false)).toHaveLength(1);

      // reserve and grant_tokens keys: 10 keys × 50 duplicates each, all at once.
      const reserves = Array.from({ length: 10 }, (_, j) => ({ key: `res-${j}`, estimate: 3 + j, user: users[j % users.length]! }));
      const grants = Array.from({ length: 10 }, (_, j) => ({ key: `pay-${j}`, amount: 100 + j }));
      type Dup = { key: string; run: Task };
      const dupes: Dup[] = shuffle(rand, [
        ...reserves.flatMap((r) =>
          Array.from({ length: 50 }, (): Dup => ({
            key: r.key,
            run: () => call(p, 'reserve', { p_org_id: org.orgId, p_user_id: r.user, p_token_type: 'strategy_analysis', p_idempotency_key: r.key, p_estimate: r.estimate, p_ttl_seconds: 3600 }),
          })),
        ),
        ...grants.flatMap((g) =>
          Array.from({ length: 50 }, (): Dup => ({
            key: g.key,
            run: () => call(p, 'grant_tokens', { p_org_id: org.orgId, p_actor_id: org.owner, p_token_type: 'goal_generation', p_amount: g.amount, p_idempotency_key: g.key }),
          })),
        ),
      ]);
      const dupOut = await timed('exactly once: 1000 reserve/grant duplicates', () => race(dupes.map((d) => d.run), POOL_SIZE, rand));
      expect(tally(losses(dupOut))).toEqual({});
      for (const key of [...reserves.map((r) => r.key), ...grants.map((g) => g.key)]) {
        const results = dupOut.flatMap((o, i) => (o.ok && dupes[i]!.key === key ? [o.value] : []));
        expect(results).toHaveLength(50);
        expect(results.filter((r) => r.replayed === false), key).toHaveLength(1);
        expect(new Set(results.map((r) => JSON.stringify(without(r, 'replayed')))).size, key).toBe(1);
      }
      const heldTotal = sum(reserves.map((r) => r.estimate));
      const grantTotal = sum(grants.map((g) => g.amount));
      expect([heldTotal, grantTotal]).toEqual([75, 1045]);
      expect(await kinds()).toEqual([
        { kind: 'deduct', n: KEYS + 1, amount: -expectedCharge - 2 * winner, held: 0, charged: expectedCharge + 2 * winner },
        { kind: 'grant', n: 10, amount: grantTotal, held: 0, charged: 0 },
        { kind: 'reserve', n: 10, amount: -heldTotal, held: heldTotal, charged: 0 },
      ]);
      expect(await count(`select count(*)::int as n from tokengate.reservations where org_id = $1`, [org.orgId])).toBe(10);
      expect(await bucket(db(), org.orgId, 'strategy_analysis')).toMatchObject({ allowance_remaining: 100 - heldTotal, held: heldTotal });

      // Releasing each hold 5 times at once refunds it once (and leaves no hold for later tests' sweeps).
      const ids = reserves.map((r) => {
        const o = dupOut.find((x, i) => x.ok && dupes[i]!.key === r.key) as { ok: true; value: { reservationId: string } };
        return { id: o.value.reservationId, user: r.user };
      });
      const releases = await race(
        shuffle(rand, ids.flatMap((x) => Array.from({ length: 5 }, () => () => call(p, 'release', { p_org_id: org.orgId, p_user_id: x.user, p_reservation_id: x.id })))),
        POOL_SIZE,
        rand,
      );
      expect(tally(losses(releases))).toEqual({});
      expect(wins(releases).filter((r) => r.replayed === false)).toHaveLength(10);
      expect(sum(wins(releases).filter((r) => r.replayed === false).map((r) => r.refunded))).toBe(heldTotal);
      expect((await kinds()).find((k) => k.kind === 'release')).toEqual({ kind: 'release', n: 10, amount: heldTotal, held: -heldTotal, charged: 0 });
      expect(await bucket(db(), org.orgId, 'strategy_analysis')).toMatchObject({ allowance_remaining: 100, held: 0 });
      expect(await bucket(db(), org.orgId, 'goal_generation')).toMatchObject({ allowance_remaining: 20, purchased_remaining: grantTotal });
      await expectReconciled(db(), org.orgId);
    });

    /* 3 ─ Refresh once ─────────────────────────────────────────────────────────────────── */

    it(`refresh once: 50 deducts + 10 balances hit a stale period at once → one refresh per bucket, allowance granted once (seed ${hex(0xcc9e2d51)})`, async () => {
      const rand = mulberry32(0xcc9e2d51);
      await db().setNow('2028-01-10T12:00:00Z');
      const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 3 });
      const users = [org.owner, org.admin, ...org.members];
      // January: all five buckets exist; goal_generation has 15 of its 20 left, plus 7 purchased.
      await call(p, 'balances', { p_org_id: org.orgId, p_user_id: org.owner });
      await call(p, 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'jan', p_units: 5 });
      await call(p, 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 7, p_idempotency_key: 'topup' });

      await db().setNow('2028-02-03T08:00:00Z');
      const tasks: { kind: 'deduct' | 'balances'; run: Task }[] = shuffle(rand, [
        ...Array.from({ length: 50 }, (_, i) => {
          const user = pick(rand, users);
          return { kind: 'deduct' as const, run: () => call(p, 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: `feb-${i}` }) };
        }),
        ...Array.from({ length: 10 }, () => {
          const user = pick(rand, users);
          return { kind: 'balances' as const, run: () => call(p, 'balances', { p_org_id: org.orgId, p_user_id: user }) };
        }),
      ]);
      const outcomes = await timed('refresh once', () => race(tasks.map((t) => t.run), POOL_SIZE, rand));
      // One refresh entry per bucket for February, whoever got there first.
      const refreshes = await db().query<{ token_type_id: string; period_start: Date; allowance_delta: number; metadata: Record<string, unknown> }>(
        `select token_type_id, period_start, allowance_delta::int as allowance_delta, metadata from tokengate.ledger
         where org_id = $1 and kind = 'refresh' and period_start = '2028-02-01T00:00:00Z' order by token_type_id`,
        [org.orgId],
      );
      expect(refreshes.map((r) => r.token_type_id)).toEqual(['goal_generation', 'lead_generation', 'quest_generation', 'revenue_forecast', 'strategy_analysis']);
      expect(refreshes[0]).toMatchObject({ allowance_delta: 5, metadata: { allowance: 20, expired: 15 } });
      expect(await count(`select count(*)::int as n from tokengate.ledger where org_id = $1 and kind = 'refresh'`, [org.orgId])).toBe(10);
      const deducts = outcomes.filter((_, i) => tasks[i]!.kind === 'deduct');
      expect(outcomes.filter((o, i) => tasks[i]!.kind === 'balances' && !o.ok)).toEqual([]);
      // February grants 20 (the unspent 15 expire) + 7 purchased = 27 uses, no more.
      expect(wins(deducts)).toHaveLength(27);
      expect(tally(losses(deducts))).toEqual({ 'insufficient_tokens [TGB01]': 23 });
      expect(sum(wins(deducts).map((r) => r.fromAllowance))).toBe(20);

      expect(await bucket(db(), org.orgId, 'goal_generation')).toMatchObject({
        allowance: 20,
        allowance_remaining: 0,
        purchased_remaining: 0,
        used: 27,
        period_start: new Date('2028-02-01T00:00:00Z'),
      });
      expect(await bucket(db(), org.orgId, 'lead_generation')).toMatchObject({ allowance: 100, allowance_remaining: 100, used: 0 });
      await expectReconciled(db(), org.orgId);
    });

    /* 4 ─ Reservations racing their expiry ─────────────────────────────────────────────── */

    it(`reservations racing expiry: 50 commits + 5 sweeps + 10 balances after half the holds expired → each resolves once (seed ${hex(0xe6546b64)})`, async () => {
      const rand = mulberry32(0xe6546b64);
      await db().setNow('2028-03-10T12:00:00Z');
      const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 3 });
      const users = [org.owner, org.admin, ...org.members];
      await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: 1000, p_idempotency_key: 'topup' });
      // 50 holds, reserved concurrently: even ones live 60 s, odd ones an hour.
      const spec = Array.from({ length: 50 }, (_, i) => {
        const estimate = intIn(rand, 1, 10);
        return { i, user: pick(rand, users), estimate, ttl: i % 2 === 0 ? 60 : 3600, actual: intIn(rand, 0, estimate + 3), id: '' };
      });
      const reserved = await race(
        spec.map((s) => () => call(p, 'reserve', { p_org_id: org.orgId, p_user_id: s.user, p_token_type: 'lead_generation', p_idempotency_key: `r-${s.i}`, p_estimate: s.estimate, p_ttl_seconds: s.ttl })),
        POOL_SIZE,
        rand,
      );
      expect(tally(losses(reserved))).toEqual({});
      spec.forEach((s, i) => (s.id = (reserved[i] as { ok: true; value: { reservationId: string } }).value.reservationId));
      const heldTotal = sum(spec.map((s) => s.estimate));
      expect(await bucket(db(), org.orgId, 'lead_generation')).toMatchObject({ held: heldTotal });

      await db().setNow('2028-03-10T12:02:00Z');
      type Job = { kind: 'commit' | 'sweep' | 'balances'; s?: (typeof spec)[number]; run: Task };
      const jobs: Job[] = shuffle(rand, [
        ...spec.map((s): Job => ({ kind: 'commit', s, run: () => call(p, 'commit', { p_org_id: org.orgId, p_user_id: s.user, p_reservation_id: s.id, p_actual: s.actual }) })),
        ...Array.from({ length: 5 }, (): Job => ({ kind: 'sweep', run: () => call(p, 'expire_reservations', {}) })),
        ...Array.from({ length: 10 }, (): Job => ({ kind: 'balances', run: () => call(p, 'balances', { p_org_id: org.orgId, p_user_id: pick(rand, users) }) })),
      ]);
      const outcomes = await timed('reservations racing expiry', () => race(jobs.map((j) => j.run), POOL_SIZE, rand));

      const late = spec.filter((s) => s.ttl === 60);
      const live = spec.filter((s) => s.ttl === 3600);
      outcomes.forEach((o, i) => {
        const job = jobs[i]!;
        if (job.kind === 'commit' && job.s!.ttl === 60) {
          // Late commits charge nothing and say why (answered, not raised, so the expiry is kept).
          expect(o.ok ? o.value : o.error).toMatchObject({ error: 'reservation_expired', reservationId: job.s!.id });
        } else if (job.kind === 'commit') {
          expect(o.ok ? o.value : o.error).toMatchObject({ status: 'committed', charged: job.s!.actual, uncharged: 0, replayed: false });
        } else {
          expect(o.ok ? 'ok' : o.error).toBe('ok');
        }
      });
      // The sweeps count only what they expired themselves (balances expire lazily too).
      const swept = sum(outcomes.flatMap((o, i) => (jobs[i]!.kind === 'sweep' && o.ok ? [o.value.expired] : [])));
      expect(swept).toBeLessThanOrEqual(late.length);

      const rows = await db().query<{ reservation_id: string; kinds: string[]; amounts: number[]; held: number[]; charged: number[]; status: string }>(
        `select l.reservation_id, array_agg(l.kind::text order by l.id) as kinds, array_agg(l.amount::int order by l.id) as amounts,
                array_agg(l.held_delta::int order by l.id) as held, array_agg(l.charged::int order by l.id) as charged, x.status
         from tokengate.ledger l join tokengate.reservations x on x.id = l.reservation_id
         where l.org_id = $1 group by l.reservation_id, x.status`,
        [org.orgId],
      );
      const byId = new Map(rows.map((r) => [r.reservation_id, r]));
      expect(byId.size).toBe(50);
      for (const s of spec) {
        const r = byId.get(s.id)!;
        if (s.ttl === 60) {
          // Expired exactly once, refunding the whole hold.
          expect(r, `#${s.i}`).toMatchObject({ status: 'expired', kinds: ['reserve', 'expire'], amounts: [-s.estimate, s.estimate], held: [s.estimate, -s.estimate], charged: [0, 0] });
        } else {
          expect(r, `#${s.i}`).toMatchObject({ status: 'committed', kinds: ['reserve', 'commit'], amounts: [-s.estimate, s.estimate - s.actual], held: [s.estimate, -s.estimate], charged: [0, s.actual] });
        }
      }
      const refunded = sum(rows.map((r) => (r.kinds[1] === 'expire' ? r.amounts[1]! : 0)));
      expect(refunded).toBe(sum(late.map((s) => s.estimate)));
      const charged = sum(live.map((s) => s.actual));
      const after = (await bucket(db(), org.orgId, 'lead_generation'))!;
      expect(after).toMatchObject({ held: 0, used: charged });
      expect(after.allowance_remaining + after.purchased_remaining).toBe(1100 - charged);
      await expectReconciled(db(), org.orgId);
    });

    /* 5 ─ Sweeps racing commits before expiry ──────────────────────────────────────────── */

    it(`sweeps racing commits before expiry: 50 commits succeed, sweeps expire only another org's 10 stale holds (seed ${hex(0x1b873594)})`, async () => {
      const rand = mulberry32(0x1b873594);
      await db().setNow('2028-05-10T12:00:00Z');
      const fresh = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 3 });
      const stale = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
      const users = [fresh.owner, fresh.admin, ...fresh.members];
      await call(db(), 'grant_tokens', { p_org_id: fresh.orgId, p_actor_id: null, p_token_type: 'revenue_forecast', p_amount: 1000, p_idempotency_key: 'topup' });
      const spec = Array.from({ length: 50 }, (_, i) => {
        const estimate = intIn(rand, 1, 10);
        return { i, user: pick(rand, users), estimate, actual: intIn(rand, 0, estimate), id: '' };
      });
      const reserved = await race(
        [
          ...spec.map((s) => () => call(p, 'reserve', { p_org_id: fresh.orgId, p_user_id: s.user, p_token_type: 'revenue_forecast', p_idempotency_key: `r-${s.i}`, p_estimate: s.estimate, p_ttl_seconds: 60 })),
          ...Array.from({ length: 10 }, (_, i) => () => call(p, 'reserve', { p_org_id: stale.orgId, p_user_id: stale.owner, p_token_type: 'goal_generation', p_idempotency_key: `s-${i}`, p_ttl_seconds: 30 })),
        ],
        POOL_SIZE,
        rand,
      );
      expect(tally(losses(reserved))).toEqual({});
      spec.forEach((s, i) => (s.id = (reserved[i] as { ok: true; value: { reservationId: string } }).value.reservationId));

      // One second before the fresh holds expire; the stale org's expired 29 s ago.
      await db().setNow('2028-05-10T12:00:59Z');
      type Job = { kind: 'commit' | 'sweep'; s?: (typeof spec)[number]; run: Task };
      const jobs: Job[] = shuffle(rand, [
        ...spec.map((s): Job => ({ kind: 'commit', s, run: () => call(p, 'commit', { p_org_id: fresh.orgId, p_user_id: s.user, p_reservation_id: s.id, p_actual: s.actual }) })),
        ...Array.from({ length: 5 }, (): Job => ({ kind: 'sweep', run: () => call(p, 'expire_reservations', {}) })),
      ]);
      const outcomes = await timed('sweeps racing commits', () => race(jobs.map((j) => j.run), POOL_SIZE, rand));
      expect(tally(losses(outcomes))).toEqual({});
      outcomes.forEach((o, i) => {
        const job = jobs[i]!;
        if (job.kind === 'commit') expect((o as { value: unknown }).value).toMatchObject({ status: 'committed', charged: job.s!.actual, replayed: false });
      });
      // Counted under the bucket lock: the sweeps together expired exactly the 10 stale holds, once.
      expect(sum(outcomes.flatMap((o, i) => (jobs[i]!.kind === 'sweep' && o.ok ? [o.value.expired] : [])))).toBe(10);

      const kinds = async (orgId: string) =>
        db().query<{ kind: string; n: number }>(
          `select kind, count(*)::int as n from tokengate.ledger where org_id = $1 and reservation_id is not null group by kind order by kind`,
          [orgId],
        );
      expect(await kinds(fresh.orgId)).toEqual([{ kind: 'commit', n: 50 }, { kind: 'reserve', n: 50 }]);
      expect(await kinds(stale.orgId)).toEqual([{ kind: 'expire', n: 10 }, { kind: 'reserve', n: 10 }]);
      expect(await bucket(db(), fresh.orgId, 'revenue_forecast')).toMatchObject({ held: 0, used: sum(spec.map((s) => s.actual)) });
      expect(await bucket(db(), stale.orgId, 'goal_generation')).toMatchObject({ held: 0, used: 0, allowance_remaining: 20 });
      await expectReconciled(db(), fresh.orgId);
      await expectReconciled(db(), stale.orgId);
    });

    /* 6 ─ No deadlocks ─────────────────────────────────────────────────────────────────── */

    const STORM_LANES = Math.min(40, POOL_SIZE);
    it(`no deadlocks: a 2000-op storm of every write from ${STORM_LANES} connections over 2 orgs, across a period boundary (seed ${hex(0x27d4eb2f)})`, async () => {
      const rand = mulberry32(0x27d4eb2f);
      const LANES = STORM_LANES;
      const TYPES = ['goal_generation', 'quest_generation', 'lead_generation', 'revenue_forecast', 'strategy_analysis'];
      // Periods end 2028-03-31T10:00Z; the storm runs in four phases of 500 ops, the third just past the boundary.
      const PHASES = ['2028-03-31T09:58:00Z', '2028-03-31T09:59:30Z', '2028-03-31T10:00:20Z', '2028-03-31T10:02:00Z'];
      await db().setNow('2028-03-20T00:00:00Z');
      const orgs = [
        await createOrg(db(), { plan: 'pro', anchor: '2028-01-31T10:00:00Z', members: 3 }),
        await createOrg(db(), { plan: 'pro', anchor: '2028-01-31T10:00:00Z', members: 3 }),
      ];
      for (const org of orgs) {
        // One member has a quota, so member_quota_exceeded is in the mix.
        await call(db(), 'set_member_quota', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: org.members[2], p_token_type: 'lead_generation', p_quota: 12 });
      }
      const reservations: { orgIndex: number; id: string; user: string }[] = [];
      const kinds = ['deduct', 'reserve', 'commit', 'release', 'grant', 'set_plan', 'balances', 'check', 'adjust', 'sweep'] as const;
      type Kind = (typeof kinds)[number];
      const weights: Record<Kind, number> = { deduct: 30, reserve: 16, commit: 12, release: 6, grant: 6, set_plan: 3, balances: 10, check: 6, adjust: 3, sweep: 4 };
      const totalWeight = sum(Object.values(weights));
      const chooseKind = (): Kind => {
        let x = rand() * totalWeight;
        for (const k of kinds) if ((x -= weights[k]) < 0) return k;
        return 'balances';
      };
      let seq = 0;
      const op = (): { kind: Kind; run: Task } => {
        const kind = chooseKind();
        const orgIndex = intIn(rand, 0, 1);
        const org = orgs[orgIndex]!;
        const user = pick(rand, [org.owner, org.admin, ...org.members]);
        const type = pick(rand, TYPES);
        const key = `op-${++seq}`;
        const n = intIn(rand, 1, 40);
        const r = rand();
        switch (kind) {
          case 'deduct':
            return { kind, run: () => call(p, 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: type, p_idempotency_key: key, p_units: 1 + (n % 3) }) };
          case 'reserve':
            return {
              kind,
              run: async () => {
                const res = await call(p, 'reserve', { p_org_id: org.orgId, p_user_id: user, p_token_type: type, p_idempotency_key: key, p_estimate: n, p_ttl_seconds: 30 + (n % 4) * 30 });
                reservations.push({ orgIndex, id: res.reservationId, user });
                return res;
              },
            };
          case 'commit':
          case 'release': {
            return {
              kind,
              run: () => {
                const own = reservations.filter((x) => x.orgIndex === orgIndex);
                if (own.length === 0) return call(p, 'balances', { p_org_id: org.orgId, p_user_id: user });
                const x = own[Math.floor(r * own.length)]!;
                return kind === 'commit'
                  ? call(p, 'commit', { p_org_id: org.orgId, p_user_id: x.user, p_reservation_id: x.id, p_actual: n })
                  : call(p, 'release', { p_org_id: org.orgId, p_user_id: x.user, p_reservation_id: x.id });
              },
            };
          }
          case 'grant':
            return { kind, run: () => call(p, 'grant_tokens', { p_org_id: org.orgId, p_actor_id: org.owner, p_token_type: type, p_amount: n, p_idempotency_key: key }) };
          case 'set_plan':
            return { kind, run: () => call(p, 'set_plan', { p_org_id: org.orgId, p_actor_id: org.owner, p_plan_id: r < 0.5 ? 'pro' : 'enterprise' }) };
          case 'check':
            return { kind, run: () => call(p, 'check', { p_org_id: org.orgId, p_user_id: user, p_token_type: type }) };
          case 'adjust':
            return { kind, run: () => call(p, 'adjust', { p_org_id: org.orgId, p_actor_id: org.admin, p_token_type: type, p_amount: r < 0.5 ? -n : n, p_reason: 'storm', p_idempotency_key: key }) };
          case 'sweep':
            return { kind, run: () => call(p, 'expire_reservations', {}) };
          default:
            return { kind, run: () => call(p, 'balances', { p_org_id: org.orgId, p_user_id: user }) };
        }
      };

      const all: { kind: Kind; outcome: Outcome }[] = [];
      await timed('no deadlocks: 2000-op storm', async () => {
        for (const at of PHASES) {
          await db().setNow(at);
          const ops = Array.from({ length: 500 }, op);
          const outcomes = await race(ops.map((o) => o.run), LANES, rand);
          outcomes.forEach((outcome, i) => all.push({ kind: ops[i]!.kind, outcome }));
        }
      });
      expect(all).toHaveLength(2000);

      // Only documented ledger errors: never 40P01 (deadlock), 40001, 23505 (a second refresh), 23514 (a negative balance)…
      const documented = new Set(['insufficient_tokens', 'member_quota_exceeded', 'plan_blocked', 'reservation_expired', 'reservation_not_pending']);
      const errors = all.flatMap((a) => (a.outcome.ok ? [] : [a.outcome.error]));
      const summary: Record<string, { ok: number; failed: Record<string, number> }> = {};
      for (const a of all) {
        const s = (summary[a.kind] ??= { ok: 0, failed: {} });
        if (a.outcome.ok) s.ok++;
        else s.failed[a.outcome.error.name] = (s.failed[a.outcome.error.name] ?? 0) + 1;
      }
      console.log('[concurrency] storm outcomes', JSON.stringify(summary));
      expect(tally(errors.filter((e) => !documented.has(e.name) || !/^TG[A-Z0-9]{3}$/.test(e.code)))).toEqual({});
      // The storm did exercise each path.
      for (const k of kinds) expect(summary[k]?.ok ?? 0, k).toBeGreaterThan(0);

      // Settle every hold (a day later, same period) and check each reservation resolved exactly once.
      await db().setNow('2028-04-01T12:00:00Z');
      const final = await call(p, 'expire_reservations', {});
      const orgIds = orgs.map((o) => o.orgId);
      const resolutions = await db().query<{ id: string; status: string; n: number }>(
        `select x.id, x.status, count(l.id) filter (where l.kind in ('commit', 'release', 'expire'))::int as n
         from tokengate.reservations x left join tokengate.ledger l on l.reservation_id = x.id
         where x.org_id = any($1::uuid[]) group by x.id, x.status`,
        [orgIds],
      );
      expect(resolutions).toHaveLength(reservations.length);
      expect(resolutions.filter((x) => x.status === 'pending' || x.n !== 1)).toEqual([]);
      expect(final.expired).toBe(await count(`select count(*)::int as n from tokengate.reservations where resolved_at = '2028-04-01T12:00:00Z'`, []));

      // Ledger totals match what the callers were told.
      const told = (kind: Kind, f: (v: any) => number) => sum(all.flatMap((a) => (a.kind === kind && a.outcome.ok && a.outcome.value.replayed === false ? [f(a.outcome.value)] : [])));
      const [ledger] = await db().query<{ deducts: number; charged: number; granted: number; refreshes: number; boundary: number }>(
        `select count(*) filter (where kind = 'deduct')::int as deducts,
                coalesce(sum(charged), 0)::int as charged,
                coalesce(sum(purchased_delta) filter (where kind = 'grant'), 0)::int as granted,
                count(*) filter (where kind = 'refresh' and period_start = '2028-03-31T10:00:00Z')::int as refreshes,
                count(distinct (org_id, token_type_id)) filter (where period_start = '2028-03-31T10:00:00Z')::int as boundary
         from tokengate.ledger where org_id = any($1::uuid[])`,
        [orgIds],
      );
      expect(ledger!.deducts).toBe(all.filter((a) => a.kind === 'deduct' && a.outcome.ok).length);
      // commit results (not balances fallbacks) carry a reservationId.
      const commitCharged = sum(all.flatMap((a) => (a.kind === 'commit' && a.outcome.ok && a.outcome.value.reservationId && a.outcome.value.replayed === false ? [a.outcome.value.charged] : [])));
      expect(ledger!.charged).toBe(told('deduct', (v) => v.charged) + commitCharged);
      expect(ledger!.granted).toBe(told('grant', (v) => v.granted));
      // One refresh per bucket touched in the new period, however many ops found it stale at once.
      expect(ledger!.refreshes).toBe(ledger!.boundary);
      expect(ledger!.refreshes).toBeGreaterThan(0);
      await expectReconciled(db(), null);
    });
  });
});
