/**
 * balances() and stats() read an up-to-date organization in one statement, without touching (and
 * locking) every bucket first (migrations/…_fast_reads.sql). These tests hold them to what the
 * old way answered: every bucket through _touch, then _bucket_json per type — kept here as a
 * reference function — in every state where a bucket has due work, and to reading without a lock.
 */
import { expect, it } from 'vitest';
import { describeEachDb, describeServer } from '../db.ts';
import { call, createOrg, expectReconciled } from '../ledger.ts';

/** The answer as _balances() gave it before: touch every active type, then one _bucket_json each. */
const REFERENCE = `
create function public.balances_reference(p_org_id uuid) returns jsonb language plpgsql
set search_path = pg_catalog, pg_temp as $$
declare
  v_account tokengate.accounts;
  v_plan tokengate.plans;
  v_type text;
  v_items jsonb;
begin
  select * into v_account from tokengate.accounts a where a.org_id = p_org_id;
  select * into v_plan from tokengate.plans p where p.id = v_account.plan_id;
  for v_type in select t.id from tokengate.token_types t where t.active order by t.id loop
    perform tokengate._touch(v_account, v_type);
  end loop;
  select jsonb_agg(tokengate._bucket_json(p_org_id, t.id) order by t.sort_order, t.id) into v_items
  from tokengate.token_types t where t.active;
  return jsonb_build_object('orgId', p_org_id, 'plan', jsonb_build_object('id', v_plan.id, 'name', v_plan.name, 'access', v_plan.access),
    'periodAnchor', v_account.period_anchor, 'tokenTypes', coalesce(v_items, '[]'));
end $$`;

describeEachDb('balances and stats without touching every bucket', (db) => {
  /**
   * balances() first, then the reference: when balances() misses due work, the reference does it
   * and the two answers differ (expired grants, lapsed holds, a new period, a missing bucket).
   */
  async function expectSameAsReference(orgId: string, userId: string) {
    // (balances() adds the caller's membership to what _balances() answers.)
    const { member, ...fast } = await call(db(), 'balances', { p_org_id: orgId, p_user_id: userId });
    const [{ reference }] = (await db().query(`select public.balances_reference($1) as reference`, [orgId])) as [{ reference: unknown }];
    expect(member).toMatchObject({ userId });
    expect(fast).toEqual(reference);
    return fast as { tokenTypes: { tokenType: string; available: number | null; purchased: number; shared: number; held: number; cost: number }[] };
  }
  const type = (b: Awaited<ReturnType<typeof expectSameAsReference>>, t: string) => b.tokenTypes.find((x) => x.tokenType === t)!;
  const grant = (orgId: string, tokenType: string, amount: number, key: string, opts: Record<string, unknown> = {}) =>
    call(db(), 'grant_tokens', { p_org_id: orgId, p_actor_id: null, p_token_type: tokenType, p_amount: amount, p_idempotency_key: key, ...opts });

  it('answers as touching every bucket would, in every state with due work', async () => {
    await db().exec(REFERENCE);
    await db().setNow('2028-03-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-03-01T00:00:00Z' });
    const user = org.members[0]!;
    let b = await expectSameAsReference(org.orgId, user);
    expect(type(b, 'lead_generation').available).toBe(100);

    // A grant that starts later, one that expires, a pool grant that expires, a hold that lapses.
    await grant(org.orgId, 'lead_generation', 7, 'later', { p_effective_at: '2028-03-12T00:00:00Z' });
    await grant(org.orgId, 'quest_generation', 5, 'short', { p_expires_at: '2028-03-11T00:00:00Z' });
    await grant(org.orgId, '*', 9, 'pool-short', { p_expires_at: '2028-03-11T06:00:00Z' });
    await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'h', p_estimate: 4, p_ttl_seconds: 60 });
    b = await expectSameAsReference(org.orgId, user);
    expect(type(b, 'goal_generation').held).toBe(4);
    expect(type(b, 'quest_generation')).toMatchObject({ purchased: 5, shared: 9 });

    // The hold lapsed: its tokens are back (an expiry entry), the rest unchanged.
    await db().setNow('2028-03-10T12:05:00Z');
    b = await expectSameAsReference(org.orgId, user);
    expect(type(b, 'goal_generation').held).toBe(0);

    // The pool grant expired (counted out at once, swept later), then the quest grant.
    await db().setNow('2028-03-11T07:00:00Z');
    b = await expectSameAsReference(org.orgId, user);
    expect(type(b, 'quest_generation')).toMatchObject({ purchased: 0, shared: 0 });

    // The scheduled grant starts.
    await db().setNow('2028-03-12T01:00:00Z');
    b = await expectSameAsReference(org.orgId, user);
    expect(type(b, 'lead_generation').purchased).toBe(7);

    // A price change from the next period: this period still costs the old price.
    await db().exec(`
      insert into tokengate.token_type_prices (token_type_id, effective_from, cost)
        select 'lead_generation', '2000-01-01', cost from tokengate.token_types where id = 'lead_generation';
      update tokengate.token_types set cost = cost + 3, cost_from = '2028-04-01' where id = 'lead_generation'`);
    b = await expectSameAsReference(org.orgId, user);
    const oldCost = type(b, 'lead_generation').cost;

    // A new period: the allowance refreshes, the new price applies.
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'd1' });
    await db().setNow('2028-04-01T00:00:01Z');
    b = await expectSameAsReference(org.orgId, user);
    expect(type(b, 'goal_generation').available).toBe(20);
    expect(type(b, 'lead_generation').cost).toBe(oldCost + 3);

    // A token type added to the catalog: its bucket is opened.
    await db().exec(`insert into tokengate.token_types (id, name, cost, sort_order) values ('image_generation', 'Images', 2, 99)`);
    await db().exec(`insert into tokengate.plan_allowances (plan_id, token_type_id, monthly_allowance) values ('pro', 'image_generation', 30)`);
    b = await expectSameAsReference(org.orgId, user);
    expect(type(b, 'image_generation').available).toBe(30);

    // stats() reads the balances the same way for its forecast.
    const stats = await call(db(), 'stats', { p_org_id: org.orgId, p_user_id: user, p_from: '2028-03-01', p_to: '2028-04-01' });
    expect(stats.totals).toEqual({ tokens: 1, events: 1 });
    expect(stats.forecast.map((f: { tokenType: string; available: number }) => [f.tokenType, f.available])).toEqual(
      b.tokenTypes.map((t) => [t.tokenType, t.available]),
    );
    await expectReconciled(db(), org.orgId);
    await db().exec(`update tokengate.token_types set active = false where id = 'image_generation'`);
    await db().setNow(null);
  });
});

describeServer('balances and stats of an up-to-date organization lock nothing', (db) => {
  it('answer while a charge in flight holds the bucket, and wait for it when the bucket has due work', async () => {
    await db().setNow('2028-05-01T10:00:00Z');
    const upToDate = await createOrg(db(), { plan: 'pro' });
    const due = await createOrg(db(), { plan: 'pro' });
    const [a, b] = [upToDate.members[0]!, due.members[0]!];
    await call(db(), 'deduct', { p_org_id: upToDate.orgId, p_user_id: a, p_token_type: 'goal_generation', p_idempotency_key: 'k' });
    await call(db(), 'stats', { p_org_id: upToDate.orgId, p_user_id: a, p_from: '2028-01-01', p_to: '2028-12-31' });
    await call(db(), 'reserve', { p_org_id: due.orgId, p_user_id: b, p_token_type: 'goal_generation', p_idempotency_key: 'h', p_estimate: 2, p_ttl_seconds: 60 });
    await db().setNow('2028-05-01T10:10:00Z'); // the hold has lapsed: due work on that bucket
    const pool = db().pool(2);
    const [charging, reading] = await Promise.all([pool.connect(), pool.connect()]);
    try {
      // Charges in flight: both buckets locked until they commit.
      await charging.query('begin');
      await charging.query(`select 1 from tokengate.buckets where org_id = any($1) and token_type_id = 'goal_generation' for update`, [[upToDate.orgId, due.orgId]]);
      // A read that waits for one of those locks fails at once (lock_not_available) instead.
      await reading.query(`set lock_timeout = '50ms'`);
      const read = async (fn: 'balances' | 'stats', orgId: string, userId: string) => {
        const sql = fn === 'balances' ? `select tokengate.balances($1, $2) as r` : `select tokengate.stats($1, $2, '2028-01-01', '2028-12-31') as r`;
        return (await reading.query(sql, [orgId, userId])).rows[0].r;
      };
      const balances = await read('balances', upToDate.orgId, a);
      expect(balances.tokenTypes.find((t: { tokenType: string }) => t.tokenType === 'goal_generation').available).toBe(19);
      expect((await read('stats', upToDate.orgId, a)).totals).toEqual({ tokens: 1, events: 1 });
      // The lapsed hold must be expired before its tokens are shown: that read waits for the charge.
      const blocked = await read('balances', due.orgId, b).then(() => null, (e: unknown) => (e as { code?: string }).code);
      expect(blocked).toBe('55P03');
      await charging.query('rollback');
      const after = await read('balances', due.orgId, b);
      expect(after.tokenTypes.find((t: { tokenType: string }) => t.tokenType === 'goal_generation')).toMatchObject({ held: 0, available: 20 });
    } finally {
      await charging.query('rollback').catch(() => {});
      charging.release();
      reading.release();
      await db().setNow(null);
    }
  });
});
