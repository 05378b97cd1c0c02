import { expect, it } from 'vitest';
import { describeEachDb } from '../db.ts';
import { bucket, call, countRows, createOrg, expectReconciled, failure } from '../ledger.ts';

describeEachDb('plans', (db) => {
  it('Starter is blocked: check says plan_blocked, deduct and reserve raise it and write nothing', async () => {
    const org = await createOrg(db(), { plan: 'starter' });
    const user = org.members[0]!;
    const check = await call(db(), 'check', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation' });
    expect(check).toMatchObject({ allowed: false, reason: 'plan_blocked', cost: 3 });
    expect(check.balance).toMatchObject({ blocked: true, available: 0, allowance: 0 });

    const ledgerBefore = await countRows(db(), 'ledger', org.orgId);
    const e = await failure(call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'k' }));
    expect(e).toMatchObject({ name: 'plan_blocked', code: 'TGB02' });
    const r = await failure(call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'r' }));
    expect(r.name).toBe('plan_blocked');
    expect(await countRows(db(), 'ledger', org.orgId)).toBe(ledgerBefore);
    expect(await countRows(db(), 'idempotency_keys', org.orgId)).toBe(0);

    // Even purchased tokens do not unlock a blocked plan.
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: org.owner, p_token_type: 'quest_generation', p_amount: 30, p_idempotency_key: 'g' });
    expect((await failure(call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'k' }))).name).toBe('plan_blocked');
    await expectReconciled(db(), org.orgId);
  });

  it('Enterprise is never blocked and still records usage', async () => {
    const org = await createOrg(db(), { plan: 'enterprise' });
    const user = org.members[0]!;
    for (let i = 0; i < 40; i++) {
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'strategy_analysis', p_idempotency_key: `e${i}` });
    }
    const r = await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'strategy_analysis', p_idempotency_key: 'big', p_units: 1000 });
    expect(r).toMatchObject({ charged: 10000, fromAllowance: 0, fromPurchased: 0 });
    expect(r.balance).toMatchObject({ unlimited: true, available: null, used: 10400 });
    await db().query(`select tokengate.roll_up_usage()`);
    const usage = await db().query<{ tokens: number; events: number }>(
      `select sum(tokens)::int as tokens, sum(events)::int as events from tokengate.usage_daily where org_id = $1`,
      [org.orgId],
    );
    expect(usage[0]).toEqual({ tokens: 10400, events: 41 });
    const check = await call(db(), 'check', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'strategy_analysis', p_amount: 1000000 });
    expect(check.allowed).toBe(true);
    await expectReconciled(db(), org.orgId);
  });

  it('Pro is blocked when spent, until a top-up or the refresh', async () => {
    await db().setNow('2028-05-10T00:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-04-20T00:00:00Z' });
    const user = org.members[0]!;
    for (let i = 0; i < 20; i++) {
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: `q${i}` });
    }
    const denied = await failure(call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'q20' }));
    expect(denied).toMatchObject({ name: 'insufficient_tokens', code: 'TGB01' });
    expect(denied.detail).toMatchObject({ available: 0, required: 3, tokenType: 'quest_generation' });
    expect(await call(db(), 'check', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation' })).toMatchObject({
      allowed: false,
      reason: 'insufficient_tokens',
    });

    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: org.admin, p_token_type: 'quest_generation', p_amount: 4, p_idempotency_key: 'topup' });
    const after = await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'q20' });
    expect(after).toMatchObject({ fromAllowance: 0, fromPurchased: 3 });
    expect((await failure(call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'q21' }))).name).toBe('insufficient_tokens');

    await db().setNow('2028-05-20T00:00:00Z');
    const refreshed = await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'q21' });
    expect(refreshed.balance).toMatchObject({ allowanceRemaining: 57, purchased: 1 });
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });

  it('member quotas cap one member per period, count holds, and do not touch others', async () => {
    await db().setNow('2028-01-01T00:00:00Z');
    const org = await createOrg(db(), { plan: 'enterprise', anchor: '2028-01-01T00:00:00Z', members: 2 });
    const [capped, free] = org.members as [string, string];
    await call(db(), 'set_member_quota', { p_org_id: org.orgId, p_actor_id: org.admin, p_user_id: capped, p_token_type: 'quest_generation', p_quota: 7 });
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: capped, p_token_type: 'quest_generation', p_idempotency_key: 'c1' });
    await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: capped, p_token_type: 'quest_generation', p_idempotency_key: 'c2' });
    const denied = await failure(call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: capped, p_token_type: 'quest_generation', p_idempotency_key: 'c3' }));
    expect(denied).toMatchObject({ name: 'member_quota_exceeded', code: 'TGB03' });
    expect(denied.detail).toMatchObject({ quota: 7, spent: 6, required: 3 });
    const check = await call(db(), 'check', { p_org_id: org.orgId, p_user_id: capped, p_token_type: 'quest_generation' });
    expect(check).toMatchObject({ allowed: false, reason: 'member_quota_exceeded' });
    // A smaller action still fits (7 - 6 = 1).
    expect((await call(db(), 'check', { p_org_id: org.orgId, p_user_id: capped, p_token_type: 'quest_generation', p_amount: 1 })).allowed).toBe(true);

    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: free, p_token_type: 'quest_generation', p_idempotency_key: 'f1' });
    const balances = await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: capped });
    expect(balances.member.quotas).toEqual([{ tokenType: 'quest_generation', quota: 7, spent: 6 }]);

    // The next period starts from zero; removing the quota lifts the cap.
    await db().setNow('2028-02-01T00:00:00Z');
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: capped, p_token_type: 'quest_generation', p_idempotency_key: 'c4', p_units: 2 });
    expect((await failure(call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: capped, p_token_type: 'quest_generation', p_idempotency_key: 'c5' }))).name).toBe('member_quota_exceeded');
    await call(db(), 'set_member_quota', { p_org_id: org.orgId, p_actor_id: null, p_user_id: capped, p_token_type: 'quest_generation', p_quota: null });
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: capped, p_token_type: 'quest_generation', p_idempotency_key: 'c5' });
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });

  it('set_plan keeps purchased tokens and what was spent this period, with one adjust entry per bucket', async () => {
    await db().setNow('2028-03-05T00:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-03-01T00:00:00Z' });
    const user = org.members[0]!;
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 50, p_idempotency_key: 'g' });
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'd', p_units: 5 });

    // Pro → Starter: allowance gone, purchased kept; Starter blocks.
    await call(db(), 'set_plan', { p_org_id: org.orgId, p_actor_id: org.owner, p_plan_id: 'starter' });
    expect(await bucket(db(), org.orgId, 'goal_generation')).toMatchObject({ allowance: 0, allowance_remaining: 0, purchased_remaining: 50, used: 5 });
    // Starter → Pro in the same period: 20 granted minus the 5 already spent from allowance.
    const back = await call(db(), 'set_plan', { p_org_id: org.orgId, p_actor_id: null, p_plan_id: 'pro' });
    const goal = back.tokenTypes.find((t: { tokenType: string }) => t.tokenType === 'goal_generation');
    expect(goal).toMatchObject({ allowance: 20, allowanceRemaining: 15, purchased: 50 });
    const adjusts = await db().query<{ token_type_id: string; allowance_delta: number }>(
      `select token_type_id, allowance_delta::int as allowance_delta from tokengate.ledger
       where org_id = $1 and kind = 'adjust' and token_type_id = 'goal_generation' order by id`,
      [org.orgId],
    );
    expect(adjusts.map((a) => a.allowance_delta)).toEqual([-15, 15]);
    // A member may not change the plan; an unknown plan is named.
    expect((await failure(call(db(), 'set_plan', { p_org_id: org.orgId, p_actor_id: user, p_plan_id: 'enterprise' }))).name).toBe('admin_required');
    expect((await failure(call(db(), 'set_plan', { p_org_id: org.orgId, p_actor_id: null, p_plan_id: 'gold' }))).name).toBe('unknown_plan');
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });
});
