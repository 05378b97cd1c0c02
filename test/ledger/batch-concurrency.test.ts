/**
 * Storms under the batcher, on the server: many concurrent callers charge ONE bucket through two
 * batchingStores (two app servers, each with its own pool) and one unbatched store at once, with
 * keys repeated across callers and retried. The bucket allows K < callers charges:
 * - exactly K tokens are charged, none more (no overspend), by one ledger entry per charged key;
 * - every key took effect exactly once: all answers of a key are that one entry (one of them not
 *   replayed), or all are insufficient_tokens and the key is not in the ledger;
 * - each caller was told its own result: its answer names its own ledger entry (whose key, user and
 *   units are the caller's) — a batch that mixed up answers would show here;
 * - the batchers really batched (fewer calls than charges) and verify_ledger finds nothing.
 *
 * Pools come from the harness (they count against this file's share of connections and carry its
 * clock); every session runs as service_role.
 */
import type { Pool } from 'pg';
import { beforeAll, expect, it } from 'vitest';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import type { DeductBatchStore } from '../../server/store.ts';
import { batchingStore } from '../../server/stores/batching-store.ts';
import { postgresStore } from '../../server/stores/postgres-store.ts';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { concurrencyPoolSize, describeServer, type TestDb } from '../db.ts';
import { call, createOrg, expectReconciled } from '../ledger.ts';

const NOW = '2028-01-10T12:00:00Z';
const ANCHOR = '2028-01-01T00:00:00Z';
/** Connections per store: three stores share this file's budget. */
const PER_STORE = Math.max(1, Math.floor(concurrencyPoolSize(9) / 3));

/** A store on a harness pool whose sessions act as service_role, counting the batcher's calls. */
function serviceStore(db: TestDb, calls: string[]): DeductBatchStore {
  const pool: Pool = db.pool(PER_STORE);
  pool.options.options = `${pool.options.options ?? ''} -c role=service_role`.trim();
  const inner = postgresStore({ pool });
  return {
    rpc: (fn, args, options) => {
      calls.push(fn);
      return inner.rpc(fn, args, options);
    },
    deductBatch: (items, options) => {
      calls.push(`deduct_batch ×${items.length}`);
      return inner.deductBatch(items, options);
    },
  };
}

type Answer = { ok: true; ledgerId: number; replayed: boolean; charged: number } | { ok: false; code: string };

describeServer('batchingStore under concurrency', (db) => {
  let gates: TokenGate[];
  const calls: string[][] = [[], [], []];

  // The harness keeps pools until the database closes: one set of stores for the whole suite.
  beforeAll(() => {
    gates = [
      createTokenGate({ store: batchingStore(serviceStore(db(), calls[0]!)) }),
      createTokenGate({ store: batchingStore(serviceStore(db(), calls[1]!)) }),
      createTokenGate({ store: serviceStore(db(), calls[2]!) }), // unbatched, racing the batches
    ];
  });

  async function setup() {
    await db().setNow(NOW);
    for (const c of calls) c.splice(0);
  }

  it(`no overspend, each key once: 64 callers × 3 charges over 100 keys on one bucket that allows fewer tokens than asked`, async () => {
    await setup();
    const org = await createOrg(db(), { plan: 'pro', anchor: ANCHOR, members: 4 });
    const users = [org.owner, org.admin, ...org.members];
    // goal_generation: 20 a month + 100 purchased = K = 120 tokens, cost 1 (the callers ask for 141).
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 100, p_idempotency_key: 'topup' });
    const K = 120;
    // Key i always means the same request: user i mod 6, 1 + i mod 3 units.
    const request = (i: number) => ({ key: `key-${i}`, userId: users[i % users.length]!, units: 1 + (i % 3) });

    const answers = new Map<number, Answer[]>();
    const callers = Array.from({ length: 64 }, async (_, c) => {
      for (let j = 0; j < 3; j++) {
        // Callers overlap on keys (each key is sent by about two callers), and some send one twice (a retry).
        const i = (c * 37 + j * 11) % 100;
        const r = request(j === 2 && c % 4 === 0 ? (c * 37) % 100 : i);
        const gate = gates[(c + j) % 3]!;
        let a: Answer;
        try {
          const v = await gate.deduct({ orgId: org.orgId, userId: r.userId }, 'goal_generation', { idempotencyKey: r.key, units: r.units });
          a = { ok: true, ledgerId: v.ledgerId, replayed: v.replayed, charged: v.charged };
        } catch (error) {
          expect(error).toBeInstanceOf(TokenGateError);
          a = { ok: false, code: (error as TokenGateError).code };
        }
        const n = Number(r.key.slice(4));
        answers.set(n, [...(answers.get(n) ?? []), a]);
      }
    });
    await Promise.all(callers);

    const ledger = await db().query<{ id: number; key: string; user_id: string; charged: number; units: number }>(
      `select id::int, idempotency_key as key, user_id, charged::int, (metadata ->> 'units')::int as units
       from tokengate.ledger where org_id = $1 and kind = 'deduct' order by id`,
      [org.orgId],
    );
    const byId = new Map(ledger.map((l) => [l.id, l]));
    // No overspend: every token is accounted for, and the bucket is spent down to less than the largest request.
    const charged = ledger.reduce((s, l) => s + l.charged, 0);
    expect(charged).toBeLessThanOrEqual(K);
    // The bucket only shrinks, so every refused request asked for more than what is left at the end.
    const asked = [...answers.keys()].map(request);
    expect(asked.reduce((s, r) => s + r.units, 0), 'the callers ask for more than K').toBeGreaterThan(K);
    const refused = asked.filter((r) => answers.get(Number(r.key.slice(4)))!.some((a) => !a.ok));
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(K - charged, `${r.key} (${r.units} units) was refused`).toBeLessThan(r.units);
    const [b] = await db().query<{ used: number; available: number }>(
      `select used::int, (allowance_remaining + purchased_remaining)::int as available from tokengate.buckets where org_id = $1 and token_type_id = 'goal_generation'`,
      [org.orgId],
    );
    expect(b).toEqual({ used: charged, available: K - charged });
    // One entry per charged key.
    expect(new Set(ledger.map((l) => l.key)).size).toBe(ledger.length);

    const problems: string[] = [];
    for (const [n, list] of answers) {
      const r = request(n);
      const entry = ledger.find((l) => l.key === r.key);
      if (!entry) {
        if (list.some((a) => !a.ok && a.code !== 'insufficient_tokens' || a.ok)) problems.push(`${r.key} is not in the ledger but answered ${JSON.stringify(list)}`);
        continue;
      }
      if (!list.every((a) => a.ok && a.ledgerId === entry.id)) problems.push(`${r.key} (entry ${entry.id}) answered ${JSON.stringify(list)}`);
      if (list.filter((a) => a.ok && !a.replayed).length !== 1) problems.push(`${r.key}: not exactly one first charge in ${JSON.stringify(list)}`);
      if (list.some((a) => a.ok && a.charged !== r.units)) problems.push(`${r.key}: charged ≠ its ${r.units} units in ${JSON.stringify(list)}`);
      const own = byId.get(entry.id)!;
      if (own.user_id !== r.userId || own.units !== r.units) problems.push(`${r.key}: entry ${entry.id} is another request's`);
    }
    expect(problems).toEqual([]);
    // Every charged key was asked for, and each caller got an answer.
    expect([...answers.values()].flat()).toHaveLength(64 * 3);

    // The batchers batched: fewer calls than the charges they carried.
    for (const c of calls.slice(0, 2)) {
      const carried = c.reduce((s, x) => s + (x === 'deduct' ? 1 : Number(/×(\d+)/.exec(x)?.[1] ?? 0)), 0);
      expect(c.some((x) => x.startsWith('deduct_batch')), 'at least one batch').toBe(true);
      expect(c.length).toBeLessThan(carried);
    }
    await expectReconciled(db(), org.orgId);
  });

  it('exactly once: 48 concurrent callers with ONE key through both batchers and the plain store charge once; all get that entry', async () => {
    await setup();
    const org = await createOrg(db(), { plan: 'pro', anchor: ANCHOR, members: 1 });
    const ctx = { orgId: org.orgId, userId: org.members[0]! };
    const results = await Promise.all(
      Array.from({ length: 48 }, (_, c) => gates[c % 3]!.deduct(ctx, 'quest_generation', { idempotencyKey: 'the-one', metadata: { source: 'storm' } })),
    );
    const ids = new Set(results.map((r) => r.ledgerId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(results.every((r) => r.charged === 3)).toBe(true);
    const [row] = await db().query<{ n: number }>(`select count(*)::int as n from tokengate.ledger where org_id = $1 and kind = 'deduct'`, [org.orgId]);
    expect(row!.n).toBe(1);
    // A different request under the same key is a conflict, for every caller, batched or not.
    const conflicts = await Promise.allSettled(
      Array.from({ length: 12 }, (_, c) => gates[c % 3]!.deduct(ctx, 'quest_generation', { idempotencyKey: 'the-one', units: 2 })),
    );
    expect(conflicts.map((o) => (o.status === 'rejected' ? (o.reason as TokenGateError).code : 'charged'))).toEqual(Array(12).fill('idempotency_conflict'));
    await expectReconciled(db(), org.orgId);
  });
});
