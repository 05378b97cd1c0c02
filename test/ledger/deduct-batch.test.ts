/**
 * tokengate.deduct_batch: many charges in one call, each answered exactly as a deduct call would
 * answer it. The reference is the ledger itself: the same items run as sequential deduct calls on
 * a twin organization (same users, plans, clock), in the order the batch documents — by
 * (organization, token type), then array order — must give the same answers, balances and
 * ledger; and the batch must reconcile (verify_ledger).
 *
 * On the server, two batches that name the same buckets in opposite orders run at once many times:
 * with the batch's lock order they never deadlock.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { concurrencyPoolSize, describeEachDb, describeServer, type TestDb } from '../db.ts';
import { bucket, call, expectReconciled, failure, fingerprint, ledgerError } from '../ledger.ts';

const NOW = '2028-01-10T12:00:00Z';
const ANCHOR = '2028-01-01T00:00:00Z';

/** An item of deduct_batch (deduct's arguments). */
interface Item {
  orgId: string;
  userId: string;
  tokenType: string;
  idempotencyKey: string;
  metadata?: Record<string, unknown>;
  units?: number;
}

/** What one item (or one deduct call) answered, comparable across the twins. */
type Answer = { result: Record<string, unknown> } | { error: { code: string; sqlstate: string; detail: unknown } };

/**
 * A twin: two organizations (a Pro one that sorts first, a Starter one that sorts second) whose
 * ids share a prefix per twin, so both twins sort their items the same way.
 */
async function twin(db: TestDb, prefix: string, users: { owner: string; member: string }) {
  const pro = `${prefix}-0000-4000-8000-000000000001`;
  const starter = `${prefix}-0000-4000-8000-000000000002`;
  for (const [orgId, plan] of [[pro, 'pro'], [starter, 'starter']] as const) {
    await call(db, 'create_account', { p_org_id: orgId, p_plan_id: plan, p_owner_id: users.owner, p_period_anchor: ANCHOR });
    await call(db, 'add_member', { p_org_id: orgId, p_actor_id: users.owner, p_user_id: users.member, p_role: 'member' });
  }
  await call(db, 'grant_tokens', { p_org_id: pro, p_actor_id: null, p_token_type: 'quest_generation', p_amount: 5, p_idempotency_key: 'topup' });
  return { pro, starter };
}

/** Everything but the ledger id (a global sequence, different between the twins) is compared. */
function comparable(answer: Answer, orgIds: Record<string, string>): unknown {
  let text = JSON.stringify('result' in answer ? { result: { ...answer.result, ledgerId: typeof answer.result.ledgerId } } : answer);
  for (const [from, to] of Object.entries(orgIds)) text = text.replaceAll(from, to);
  return JSON.parse(text);
}

/** The order the batch runs its items in: (organization, token type), then array order. */
function batchOrder(items: Item[]): number[] {
  return items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => (a.item.orgId.toLowerCase() < b.item.orgId.toLowerCase() ? -1 : a.item.orgId.toLowerCase() > b.item.orgId.toLowerCase() ? 1 : 0)
      || (a.item.tokenType < b.item.tokenType ? -1 : a.item.tokenType > b.item.tokenType ? 1 : 0) || a.i - b.i)
    .map(({ i }) => i);
}

/** The deduct call an item stands for (absent metadata and units take deduct's defaults). */
const deductArgs = (item: Item) => ({
  p_org_id: item.orgId,
  p_user_id: item.userId,
  p_token_type: item.tokenType,
  p_idempotency_key: item.idempotencyKey,
  p_metadata: item.metadata,
  p_units: item.units,
});

describeEachDb('deduct_batch', (db) => {
  it('answers a mixed batch item by item exactly as sequential deduct calls do, and reconciles', async () => {
    await db().setNow(NOW);
    const users = { owner: randomUUID(), member: randomUUID() };
    const outsider = randomUUID();
    const unknownOrg = 'ffffffff-0000-4000-8000-000000000000'; // sorts after both twins' organizations
    const a = await twin(db(), '1' + randomUUID().slice(1, 8), users);
    const b = await twin(db(), '2' + randomUUID().slice(1, 8), users);

    const items = (o: { pro: string; starter: string }): Item[] => [
      { orgId: o.pro, userId: users.member, tokenType: 'quest_generation', idempotencyKey: 'q1', metadata: { model: 'm' } }, // ok
      { orgId: o.starter, userId: users.member, tokenType: 'goal_generation', idempotencyKey: 'q1' }, // plan_blocked (another org's keys)
      { orgId: o.pro, userId: users.member, tokenType: 'quest_generation', idempotencyKey: 'q1', metadata: { model: 'm' } }, // replay of item 0
      { orgId: o.pro, userId: users.owner, tokenType: 'quest_generation', idempotencyKey: 'q1', metadata: { model: 'm' } }, // conflict: another user
      { orgId: o.pro, userId: users.member, tokenType: 'quest_generation', idempotencyKey: 'q2', units: 21 }, // insufficient: 63 needed, 62 left (57 allowance + 5 purchased)
      { orgId: o.pro, userId: users.member, tokenType: 'no_such_type', idempotencyKey: 'u1' }, // unknown_token_type
      { orgId: o.pro, userId: users.member, tokenType: 'quest_generation', idempotencyKey: 'x1' }, // runs after goal's x1 (bucket order): conflict
      { orgId: o.pro, userId: users.member, tokenType: 'goal_generation', idempotencyKey: 'x1', units: 3 }, // ok (runs first of the pro org)
      { orgId: o.pro, userId: outsider, tokenType: 'goal_generation', idempotencyKey: 'o1' }, // not_a_member
      { orgId: unknownOrg, userId: users.member, tokenType: 'goal_generation', idempotencyKey: 'z1' }, // unknown_organization
      { orgId: o.pro, userId: users.member, tokenType: 'goal_generation', idempotencyKey: 'bad', units: 0 }, // invalid_argument
      { orgId: o.pro, userId: users.member, tokenType: 'quest_generation', idempotencyKey: 'q3', units: 18 }, // ok: 54 of the 62 left, allowance then purchased
      { orgId: o.pro, userId: users.member, tokenType: 'quest_generation', idempotencyKey: 'q4', units: 3 }, // insufficient: 8 left, 9 needed
      { orgId: o.pro, userId: users.member, tokenType: 'quest_generation', idempotencyKey: 'q3', units: 18 }, // replay of q3
    ];

    // Twin A: one batch. Twin B: the same items as deduct calls, one after another, in batch order.
    const batch = await call<Answer[]>(db(), 'deduct_batch', { p_items: items(a) });
    const bItems = items(b);
    const sequential: Answer[] = new Array(bItems.length);
    for (const i of batchOrder(bItems)) {
      try {
        sequential[i] = { result: await call(db(), 'deduct', deductArgs(bItems[i]!)) };
      } catch (error) {
        const e = ledgerError(error);
        sequential[i] = { error: { code: e.name, sqlstate: e.code, detail: e.detail ?? {} } };
      }
    }

    expect(batch).toHaveLength(items(a).length);
    const toA = { [b.pro]: a.pro, [b.starter]: a.starter };
    const withoutHint = (x: Answer) => ('error' in x ? { error: { code: x.error.code, sqlstate: x.error.sqlstate, detail: x.error.detail } } : x);
    expect(batch.map((x) => comparable(withoutHint(x), {}))).toEqual(sequential.map((x) => comparable(x, toA)));
    // Every item error carries the ledger's title as hint, as a raised error does.
    for (const x of batch) if ('error' in x) expect((x.error as { hint?: string }).hint).toMatch(/\w/);

    // The mix covers every kind of answer.
    const kinds = batch.map((x) => ('error' in x ? x.error.code : (x.result.replayed ? 'replayed' : 'charged')));
    expect(kinds).toEqual([
      'charged', 'plan_blocked', 'replayed', 'idempotency_conflict', 'insufficient_tokens', 'unknown_token_type',
      'idempotency_conflict', 'charged', 'not_a_member', 'unknown_organization', 'invalid_argument', 'charged',
      'insufficient_tokens', 'replayed',
    ]);

    // Same balances and ledger on both twins; both reconcile.
    for (const type of ['goal_generation', 'quest_generation']) {
      expect(await bucket(db(), a.pro, type)).toEqual(await bucket(db(), b.pro, type));
    }
    const entries = (org: string) =>
      db().query(`select kind, token_type_id, charged, allowance_delta, purchased_delta, idempotency_key, metadata
                  from tokengate.ledger where org_id = $1 order by id`, [org]);
    expect(await entries(a.pro)).toEqual(await entries(b.pro));
    expect(await entries(a.starter)).toEqual(await entries(b.starter));
    await expectReconciled(db());
    await db().setNow(null);
  });

  it('fails as a whole and writes nothing when p_items is not a list of 1–1000 objects, or an item is malformed', async () => {
    await db().setNow(NOW);
    const users = { owner: randomUUID(), member: randomUUID() };
    const o = await twin(db(), '3' + randomUUID().slice(1, 8), users);
    const good = { orgId: o.pro, userId: users.member, tokenType: 'goal_generation', idempotencyKey: 'g' };
    const before = await fingerprint(db());
    for (const p_items of [null, {}, [], [1], Array.from({ length: 1001 }, (_, i) => ({ ...good, idempotencyKey: `k${i}` }))]) {
      const e = await failure(call(db(), 'deduct_batch', { p_items }));
      expect({ name: e.name, code: e.code, detail: e.detail }).toEqual({
        name: 'invalid_argument', code: 'TGA01', detail: { argument: 'p_items', rule: 'a JSON array of 1 to 1000 objects' },
      });
    }
    // A good item first, then one whose orgId is no uuid: not a ledger refusal, so the whole call fails.
    const malformed = await failure(call(db(), 'deduct_batch', { p_items: [good, { ...good, orgId: 'not-a-uuid', idempotencyKey: 'm' }] }));
    expect(malformed.code).toBe('22P02');
    expect(await fingerprint(db())).toEqual(before);
    await db().setNow(null);
  });
});

describeServer('deduct_batch under concurrency', (db) => {
  it('never deadlocks: batches naming the same buckets in opposite orders, 40 rounds at once', async () => {
    await db().setNow(NOW);
    const users = { owner: randomUUID(), member: randomUUID() };
    const o = await twin(db(), '4' + randomUUID().slice(1, 8), users);
    const other = await twin(db(), '5' + randomUUID().slice(1, 8), users);
    const buckets = [
      [o.pro, 'goal_generation'], [o.pro, 'quest_generation'], [other.pro, 'goal_generation'], [other.pro, 'quest_generation'],
    ] as const;
    await call(db(), 'grant_tokens', { p_org_id: o.pro, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 1000, p_idempotency_key: 'more' });
    await call(db(), 'grant_tokens', { p_org_id: other.pro, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 1000, p_idempotency_key: 'more' });
    const lanes = Math.min(4, concurrencyPoolSize(4));
    const pool = db().pool(lanes);
    pool.options.options = `${pool.options.options ?? ''} -c role=service_role`.trim();
    const p = { query: async (sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows };
    const errors: string[] = [];
    let charged = 0;
    for (let round = 0; round < 40; round++) {
      const batchFor = (lane: number) => {
        const order = lane % 2 === 0 ? buckets : [...buckets].reverse();
        return order.flatMap(([orgId, tokenType], j) =>
          Array.from({ length: 3 }, (_, k) => ({ orgId, userId: users.member, tokenType, idempotencyKey: `r${round}-l${lane}-b${j}-${k}` })));
      };
      const results = await Promise.allSettled(Array.from({ length: lanes }, (_, lane) => call<Answer[]>(p, 'deduct_batch', { p_items: batchFor(lane) })));
      for (const r of results) {
        if (r.status === 'rejected') errors.push(`${ledgerError(r.reason).code} ${ledgerError(r.reason).name}`);
        else charged += r.value.filter((x) => 'result' in x).length;
      }
    }
    expect(errors, 'batches that failed (a deadlock is 40P01)').toEqual([]);
    const [row] = await db().query<{ n: number }>(`select count(*)::int as n from tokengate.ledger where kind = 'deduct' and org_id = any($1::uuid[])`, [[o.pro, other.pro]]);
    expect(row!.n).toBe(charged);
    await expectReconciled(db());
    await db().setNow(null);
  });
});
