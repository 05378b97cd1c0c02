import { expect, it } from 'vitest';
import { describeEachDb } from '../db.ts';
import { call, createOrg, expectReconciled, failure } from '../ledger.ts';

describeEachDb('stats and forecast', (db) => {
  it('returns totals by type, day and member, and a runway per token type, from a seeded history', async () => {
    await db().setNow('2028-02-15T00:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-02-15T00:00:00Z', members: 2 });
    const [a, b] = org.members as [string, string];
    const deduct = (user: string, type: string, key: string, units = 1) =>
      call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: type, p_idempotency_key: key, p_units: units });

    await db().setNow('2028-02-20T09:00:00Z');
    await deduct(a, 'quest_generation', 'a1');
    await deduct(a, 'quest_generation', 'a2');
    for (let i = 0; i < 3; i++) await deduct(b, 'goal_generation', `b${i}`);
    await db().setNow('2028-02-26T23:59:59Z');
    const r = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: a, p_token_type: 'lead_generation', p_idempotency_key: 'r', p_estimate: 10 });
    await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: a, p_reservation_id: r.reservationId, p_actual: 4 });
    await deduct(b, 'quest_generation', 'b3');
    await db().setNow('2028-02-27T12:00:00Z');
    await deduct(a, 'goal_generation', 'a3', 14);
    // A released reservation is not usage.
    const rel = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: b, p_token_type: 'lead_generation', p_idempotency_key: 'r2' });
    await call(db(), 'release', { p_org_id: org.orgId, p_user_id: b, p_reservation_id: rel.reservationId });
    await db().setNow('2028-02-28T08:00:00Z');
    await deduct(a, 'strategy_analysis', 'a4');

    const stats = await call(db(), 'stats', { p_org_id: org.orgId, p_user_id: b, p_from: '2028-02-01', p_to: '2028-02-29' });
    expect(stats.totals).toEqual({ tokens: 40, events: 9 });
    expect(stats.byType).toEqual([
      { tokenType: 'goal_generation', tokens: 17, events: 4 },
      { tokenType: 'lead_generation', tokens: 4, events: 1 },
      { tokenType: 'quest_generation', tokens: 9, events: 3 },
      { tokenType: 'strategy_analysis', tokens: 10, events: 1 },
    ]);
    expect(stats.byDay).toEqual([
      { day: '2028-02-20', tokenType: 'goal_generation', tokens: 3, events: 3 },
      { day: '2028-02-20', tokenType: 'quest_generation', tokens: 6, events: 2 },
      { day: '2028-02-26', tokenType: 'lead_generation', tokens: 4, events: 1 },
      { day: '2028-02-26', tokenType: 'quest_generation', tokens: 3, events: 1 },
      { day: '2028-02-27', tokenType: 'goal_generation', tokens: 14, events: 1 },
      { day: '2028-02-28', tokenType: 'strategy_analysis', tokens: 10, events: 1 },
    ]);
    expect(stats.byMember).toEqual([
      { userId: a, tokens: 34, events: 5 },
      { userId: b, tokens: 6, events: 4 },
    ]);
    // Burn = tokens of 2028-02-22..28 / 7; runway = ceil(available / burn) days from today (02-28).
    expect(stats.forecast).toEqual([
      { tokenType: 'goal_generation', available: 3, burnPerDay: 2, runsOutOn: '2028-03-01', refreshesOn: '2028-03-15', runsOutBeforeRefresh: true },
      { tokenType: 'quest_generation', available: 51, burnPerDay: 0.43, runsOutOn: '2028-06-26', refreshesOn: '2028-03-15', runsOutBeforeRefresh: false },
      { tokenType: 'lead_generation', available: 96, burnPerDay: 0.57, runsOutOn: '2028-08-14', refreshesOn: '2028-03-15', runsOutBeforeRefresh: false },
      { tokenType: 'revenue_forecast', available: 50, burnPerDay: 0, runsOutOn: null, refreshesOn: '2028-03-15', runsOutBeforeRefresh: false },
      { tokenType: 'strategy_analysis', available: 90, burnPerDay: 1.43, runsOutOn: '2028-05-01', refreshesOn: '2028-03-15', runsOutBeforeRefresh: false },
    ]);

    // A narrower range only counts its days.
    const day = await call(db(), 'stats', { p_org_id: org.orgId, p_user_id: a, p_from: '2028-02-26', p_to: '2028-02-26' });
    expect(day.totals).toEqual({ tokens: 7, events: 2 });
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });

  it('forecasts nothing for unlimited and blocked plans, and today for an empty bucket', async () => {
    const ent = await createOrg(db(), { plan: 'enterprise' });
    await call(db(), 'deduct', { p_org_id: ent.orgId, p_user_id: ent.owner, p_token_type: 'goal_generation', p_idempotency_key: 'k' });
    const s = await call(db(), 'stats', { p_org_id: ent.orgId, p_user_id: ent.owner, p_from: '2020-01-01', p_to: '2020-12-31' });
    expect(s.totals).toEqual({ tokens: 0, events: 0 });
    expect(s.forecast.every((f: { runsOutOn: unknown; available: unknown }) => f.runsOutOn === null && f.available === null)).toBe(true);

    const starter = await createOrg(db(), { plan: 'starter' });
    const st = await call(db(), 'stats', { p_org_id: starter.orgId, p_user_id: starter.owner, p_from: '2028-01-01', p_to: '2028-01-31' });
    expect(st.forecast.every((f: { runsOutOn: unknown }) => f.runsOutOn === null)).toBe(true);

    await db().setNow('2028-06-10T00:00:00Z');
    const pro = await createOrg(db(), { plan: 'pro', anchor: '2028-06-01T00:00:00Z' });
    await call(db(), 'deduct', { p_org_id: pro.orgId, p_user_id: pro.owner, p_token_type: 'goal_generation', p_idempotency_key: 'k', p_units: 20 });
    const p = await call(db(), 'stats', { p_org_id: pro.orgId, p_user_id: pro.owner, p_from: '2028-06-01', p_to: '2028-06-30' });
    expect(p.forecast[0]).toMatchObject({ tokenType: 'goal_generation', available: 0, runsOutOn: '2028-06-10', runsOutBeforeRefresh: true });
    await db().setNow(null);
  });

  it('forecasts no run-out (not an integer overflow) for a huge balance with little use', async () => {
    await db().setNow('2028-02-15T00:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-02-15T00:00:00Z' });
    for (let i = 0; i < 3; i++) {
      await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 1_000_000_000, p_idempotency_key: `big-${i}` });
    }
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'one' });
    const stats = await call(db(), 'stats', { p_org_id: org.orgId, p_user_id: org.owner, p_from: '2028-02-01', p_to: '2028-02-29' });
    const goal = stats.forecast.find((f: { tokenType: string }) => f.tokenType === 'goal_generation');
    expect(goal).toMatchObject({ available: 3_000_000_019, burnPerDay: 0.14, runsOutOn: null, runsOutBeforeRefresh: false });
  });

  it('rejects ranges that are reversed, missing or longer than 366 days, and non-members', async () => {
    const org = await createOrg(db());
    const stats = (from: unknown, to: unknown, user = org.owner) =>
      call(db(), 'stats', { p_org_id: org.orgId, p_user_id: user, p_from: from, p_to: to });
    expect((await failure(stats('2028-02-01', '2028-01-01'))).detail).toMatchObject({ argument: 'p_to' });
    expect((await failure(stats('2028-01-01', '2029-01-02'))).name).toBe('invalid_argument');
    expect((await failure(stats(null, '2029-01-02'))).detail).toMatchObject({ argument: 'p_from' });
    expect((await failure(stats('2028-01-01', '2028-01-02', crypto.randomUUID()))).name).toBe('not_a_member');
  });
});
