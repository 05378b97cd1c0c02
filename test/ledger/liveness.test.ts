/**
 * Liveness and correctness gaps found by independent storms: a plan change starved by charge
 * traffic, a member passing their quota across a refresh, and a double charge under one key that
 * used to reconcile.
 */
import { expect, it } from 'vitest';
import { describeEachDb, describeServer } from '../db.ts';
import { call, createOrg, expectReconciled, failure } from '../ledger.ts';
import { waitFor } from '../wait-for.ts';

describeEachDb('ledger liveness and correctness', (db) => {
  it("a hold taken before a refresh counts in its own period: the member cannot pass the new period's quota with it", async () => {
    await db().setNow('2028-01-31T09:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T10:00:00Z' });
    const user = org.members[0]!;
    const o = { p_org_id: org.orgId, p_user_id: user, p_token_type: 'lead_generation' };
    await call(db(), 'set_member_quota', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: user, p_token_type: 'lead_generation', p_quota: 10 });
    // Reserve the whole quota just before the refresh…
    const hold = await call(db(), 'reserve', { ...o, p_idempotency_key: 'old-hold', p_estimate: 10, p_ttl_seconds: 86400 });
    // …spend the new period's quota by deducts…
    await db().setNow('2028-02-01T11:00:00Z');
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'd1', p_units: 5 });
    expect((await failure(call(db(), 'deduct', { ...o, p_idempotency_key: 'd2' }))).name).toBe('member_quota_exceeded');
    // …then commit the old hold at its estimate: it counts in January, not February.
    await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: user, p_reservation_id: hold.reservationId, p_actual: 10 });
    const balances = await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: user });
    expect(balances.member.quotas).toEqual([{ tokenType: 'lead_generation', quota: 10, spent: 10 }]);
    expect((await failure(call(db(), 'deduct', { ...o, p_idempotency_key: 'd3' }))).name).toBe('member_quota_exceeded');
    await expectReconciled(db(), org.orgId);
  });

  it('a quota set mid-period counts what the member already spent and holds (backfilled from the ledger)', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const user = org.members[0]!;
    const o = { p_org_id: org.orgId, p_user_id: user, p_token_type: 'lead_generation' };
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'd1', p_units: 3 });
    const r = await call(db(), 'reserve', { ...o, p_idempotency_key: 'r1', p_estimate: 4 });
    // An owner commits the member's reservation: it still counts for the member.
    const r2 = await call(db(), 'reserve', { ...o, p_idempotency_key: 'r2', p_estimate: 2 });
    await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.owner, p_reservation_id: r2.reservationId, p_actual: 2 });
    await call(db(), 'set_member_quota', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: user, p_token_type: 'lead_generation', p_quota: 14 });
    const balances = await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: user });
    expect(balances.member.quotas).toEqual([{ tokenType: 'lead_generation', quota: 14, spent: 6 + 4 + 2 }]);
    expect((await failure(call(db(), 'deduct', { ...o, p_idempotency_key: 'd2', p_units: 2 }))).name).toBe('member_quota_exceeded');
    await call(db(), 'release', { p_org_id: org.orgId, p_user_id: user, p_reservation_id: r.reservationId });
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'd3', p_units: 2 });
    await expectReconciled(db(), org.orgId);
  });

  it('verify_ledger reports a second effect under one idempotency key (a double charge no longer reconciles silently)', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const d = await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'once' });
    await expectReconciled(db(), org.orgId);
    // A second entry under the same key, as a broken charge path would write it (the owner may insert).
    await db().query(
      `insert into tokengate.ledger (org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
         allowance_after, purchased_after, held_after, period_start, user_id, idempotency_key, metadata, created_at)
       select org_id, token_type_id, kind, 0, 0, 0, 0, allowance_after, purchased_after, held_after, period_start, user_id,
              idempotency_key, metadata, created_at
       from tokengate.ledger where id = $1`,
      [d.ledgerId],
    );
    const problems = await call<{ check: string; idempotencyKey?: string; entries?: number }[]>(db(), 'verify_ledger', { p_org_id: org.orgId });
    expect(problems.filter((p) => p.check === 'one_effect_per_idempotency_key')).toEqual([
      expect.objectContaining({ idempotencyKey: 'once', kind: 'deduct', entries: 2 }),
    ]);
  });
});

describeServer('ledger liveness under load', (db) => {
  it('a plan change is not overtaken: charges that arrive while it waits queue behind it instead of starving it', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    // Three sessions of their own (the harness's own session watches): the test needs exactly three.
    const pool = db().pool(3);
    const [t1, t2, t3] = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
    const pidOf = async (c: typeof t1) => (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const [p2, p3] = [await pidOf(t2), await pidOf(t3)];
    const waiting = async (pid: number) =>
      (await db().query<{ w: string | null }>(`select wait_event_type as w from pg_stat_activity where pid = $1`, [pid]))[0]?.w === 'Lock';
    const deduct = (c: typeof t1, type: string, key: string) =>
      c.query<{ r: { balance: { access: string } } }>(`select tokengate.deduct($1, $2, $3, $4) as r`, [org.orgId, org.owner, type, key]);
    try {
      // T1: a charge in flight (its transaction still open) on the last bucket in lock order.
      await t1.query('begin');
      await deduct(t1, 'strategy_analysis', 'in-flight');
      // T2: the plan change, which must wait for T1.
      const planChange = t2.query(`select tokengate.set_plan($1, null, 'enterprise')`, [org.orgId]);
      await waitFor(() => waiting(p2), { what: 'the plan change waiting for the charge in flight' });
      // T3: a new charge on another bucket arrives while the plan change waits.
      let settled = false;
      const late = deduct(t3, 'goal_generation', 'arrives-later').finally(() => (settled = true));
      await waitFor(async () => settled || (await waiting(p3)), { what: 'the later charge done or waiting' });
      await t1.query('commit');
      await planChange;
      // It was ordered after the plan change (under the old share locks it overtook it, and a
      // stream of such charges kept the plan change waiting: 8.9 s under 16 clients).
      expect((await late).rows[0]!.r.balance.access).toBe('unlimited');
    } finally {
      await t1.query('rollback').catch(() => undefined);
      for (const c of [t1, t2, t3]) c.release();
    }
    await expectReconciled(db(), org.orgId);
  });
});
