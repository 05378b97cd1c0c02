import { expect, it } from 'vitest';
import { describeEachDb } from '../db.ts';
import { bucket, call, countRows, createOrg, expectReconciled } from '../ledger.ts';

const iso = (d: unknown) => new Date(d as string).toISOString();

describeEachDb('periods', (db) => {
  it('anchors periods on the subscription date in UTC: Jan 31 → Feb 29 2028 → Mar 31 → Apr 30', async () => {
    const rows = await db().query<{ s: Date; e: Date }>(
      `select period_start as s, period_end as e from tokengate.period_at($1, $2)`,
      ['2028-01-31T10:00:00Z', '2028-02-15T00:00:00Z'],
    );
    expect(iso(rows[0]!.s)).toBe('2028-01-31T10:00:00.000Z');
    expect(iso(rows[0]!.e)).toBe('2028-02-29T10:00:00.000Z');

    const cases: [string, string, string][] = [
      ['2028-02-29T10:00:00Z', '2028-02-29T10:00:00.000Z', '2028-03-31T10:00:00.000Z'],
      ['2028-03-31T09:59:59Z', '2028-02-29T10:00:00.000Z', '2028-03-31T10:00:00.000Z'],
      ['2028-03-31T10:00:00Z', '2028-03-31T10:00:00.000Z', '2028-04-30T10:00:00.000Z'],
      ['2029-02-28T12:00:00Z', '2029-02-28T10:00:00.000Z', '2029-03-31T10:00:00.000Z'],
    ];
    for (const [at, start, end] of cases) {
      const [p] = await db().query<{ s: Date; e: Date }>(
        `select period_start as s, period_end as e from tokengate.period_at('2028-01-31T10:00:00Z', $1)`,
        [at],
      );
      expect([iso(p!.s), iso(p!.e)], at).toEqual([start, end]);
    }
  });

  it('refreshes lazily on the next touch after the period ends, once per period, with the injected clock', async () => {
    await db().setNow('2028-01-31T10:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-31T10:00:00Z' });
    const user = org.members[0]!;
    for (let i = 0; i < 4; i++) {
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: `a${i}` });
    }
    expect((await bucket(db(), org.orgId, 'quest_generation'))!.allowance_remaining).toBe(48);

    // Still January's period one second before the boundary.
    await db().setNow('2028-02-29T09:59:59Z');
    const before = await call(db(), 'check', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation' });
    expect(before.balance.available).toBe(48);

    await db().setNow('2028-02-29T10:00:00Z');
    const after = await call(db(), 'check', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation' });
    expect(after.balance).toMatchObject({ available: 60, used: 0, periodStart: '2028-02-29T10:00:00+00:00', refreshesAt: '2028-03-31T10:00:00+00:00' });

    // Touching again in the same period grants nothing more.
    await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: user });
    await call(db(), 'check', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation' });
    const refreshes = await db().query<{ period_start: Date; allowance_delta: number; metadata: { expired: number } }>(
      `select period_start, allowance_delta::int as allowance_delta, metadata from tokengate.ledger
       where org_id = $1 and token_type_id = 'quest_generation' and kind = 'refresh' order by id`,
      [org.orgId],
    );
    expect(refreshes.map((r) => iso(r.period_start))).toEqual(['2028-01-31T10:00:00.000Z', '2028-02-29T10:00:00.000Z']);
    // The unspent 48 expire and 60 are granted: one entry of +12 that says so.
    expect(refreshes[1]).toMatchObject({ allowance_delta: 12, metadata: { expired: 48 } });
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });

  it('skips idle periods: one refresh for the period the clock is in', async () => {
    await db().setNow('2028-01-31T10:00:00Z');
    const org = await createOrg(db(), { anchor: '2028-01-31T10:00:00Z' });
    await call(db(), 'check', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation' });
    await db().setNow('2028-07-04T00:00:00Z');
    const r = await call(db(), 'check', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation' });
    expect(r.balance.periodStart).toBe('2028-06-30T10:00:00+00:00');
    expect(await countRows(db(), 'ledger', org.orgId)).toBe(2);
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });

  it('keeps purchased tokens across refreshes and spends the allowance first', async () => {
    await db().setNow('2028-01-01T00:00:00Z');
    const org = await createOrg(db(), { anchor: '2028-01-01T00:00:00Z' });
    const user = org.members[0]!;
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 5, p_idempotency_key: 'pay-1' });
    const first = await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'd1' });
    expect(first).toMatchObject({ fromAllowance: 1, fromPurchased: 0 });
    expect(first.balance).toMatchObject({ allowanceRemaining: 19, purchased: 5, available: 24 });

    await db().setNow('2028-02-01T00:00:00Z');
    const b = await call(db(), 'check', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation' });
    expect(b.balance).toMatchObject({ allowanceRemaining: 20, purchased: 5, available: 25 });

    // Spend the whole allowance, then purchased tokens, then nothing is left.
    const units = await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'd2', p_units: 22 });
    expect(units).toMatchObject({ charged: 22, fromAllowance: 20, fromPurchased: 2 });
    expect(units.balance).toMatchObject({ allowanceRemaining: 0, purchased: 3, available: 3 });
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });
});
