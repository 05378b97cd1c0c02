import { expect, it } from 'vitest';
import { describeEachDb } from '../db.ts';
import { bucket, call, createOrg, expectReconciled, failure } from '../ledger.ts';

describeEachDb('reservations', (db) => {
  async function proOrg() {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    return { ...org, user: org.members[0]! };
  }
  const reserve = (org: { orgId: string; user: string }, key: string, estimate: number, ttl = 300) =>
    call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: key, p_estimate: estimate, p_ttl_seconds: ttl });

  it('holds the estimate, and commit below it refunds the difference', async () => {
    const org = await proOrg();
    const r = await reserve(org, 'r1', 30);
    expect(r).toMatchObject({ status: 'pending', estimate: 30, held: 30, expiresAt: '2028-01-10T12:05:00+00:00' });
    expect(r.balance).toMatchObject({ available: 70, held: 30, used: 0 });

    const c = await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId, p_actual: 12 });
    expect(c).toMatchObject({ status: 'committed', charged: 12, refunded: 18, uncharged: 0, replayed: false });
    expect(c.balance).toMatchObject({ available: 88, held: 0, used: 12 });

    // Committing again with the same actual replays; another actual is a conflict; release is refused.
    const again = await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId, p_actual: 12 });
    expect(again).toMatchObject({ charged: 12, replayed: true, ledgerId: c.ledgerId });
    expect((await failure(call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId, p_actual: 13 }))).name).toBe('reservation_not_pending');
    expect((await failure(call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId }))).name).toBe('reservation_not_pending');
    expect((await bucket(db(), org.orgId, 'lead_generation'))!.used).toBe(12);
    await expectReconciled(db(), org.orgId);
  });

  it('commit above the estimate charges the excess from what is available and records the rest as uncharged', async () => {
    const org = await proOrg();
    const r = await reserve(org, 'r1', 10);
    // 90 left after the hold: an actual of 60 charges 10 held + 50 more.
    const c = await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId, p_actual: 60 });
    expect(c).toMatchObject({ charged: 60, refunded: 0, uncharged: 0 });
    const r2 = await reserve(org, 'r2', 10);
    // 30 left after this hold: an actual of 100 can only take 40 in all; 60 are recorded, never owed.
    const c2 = await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r2.reservationId, p_actual: 100 });
    expect(c2).toMatchObject({ charged: 40, uncharged: 60 });
    expect(c2.balance).toMatchObject({ available: 0, allowanceRemaining: 0, purchased: 0, used: 100 });
    const [entry] = await db().query<{ metadata: Record<string, unknown> }>(
      `select metadata from tokengate.ledger where reservation_id = $1 and kind = 'commit'`,
      [r2.reservationId],
    );
    expect(entry!.metadata).toMatchObject({ estimate: 10, actual: 100, uncharged: 60 });
    await expectReconciled(db(), org.orgId);
  });

  it('release refunds the whole hold to where it came from (allowance, then purchased)', async () => {
    const org = await proOrg();
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: 50, p_idempotency_key: 'g' });
    const r = await reserve(org, 'r1', 120);
    expect(r.balance).toMatchObject({ allowanceRemaining: 0, purchased: 30, held: 120 });
    const rel = await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId, p_metadata: { error: 'model timeout' } });
    expect(rel).toMatchObject({ status: 'released', charged: 0, refunded: 120 });
    expect(rel.balance).toMatchObject({ allowanceRemaining: 100, purchased: 50, held: 0, used: 0 });
    // Releasing twice is harmless and refunds nothing more.
    const twice = await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId });
    expect(twice).toMatchObject({ status: 'released', replayed: true });
    expect(twice.balance.available).toBe(150);
    await expectReconciled(db(), org.orgId);
  });

  it('a stale reservation expires on the next touch and is refunded exactly once; a late commit charges nothing and keeps the expiry', async () => {
    const org = await proOrg();
    const r = await reserve(org, 'r1', 40, 60);
    await db().setNow('2028-01-10T12:01:00Z');
    // The late commit answers the expiry instead of raising it, so the expiry it performed is kept:
    // the hold is refunded now, not at the next touch or sweep.
    const late = await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId, p_actual: 5 });
    expect(late).toEqual({ error: 'reservation_expired', reservationId: r.reservationId, expiresAt: '2028-01-10T12:01:00+00:00' });
    const [row] = await db().query<{ status: string }>(`select status from tokengate.reservations where id = $1`, [r.reservationId]);
    expect(row!.status).toBe('expired');
    expect(await bucket(db(), org.orgId, 'lead_generation')).toMatchObject({ allowance_remaining: 100, held: 0, used: 0 });
    // Expired once: the sweep finds nothing more.
    const sweep = await call(db(), 'expire_reservations', {});
    expect(sweep.expired).toBe(0);
    const entries = await db().query(`select kind from tokengate.ledger where reservation_id = $1 order by id`, [r.reservationId]);
    expect(entries.map((e) => e.kind)).toEqual(['reserve', 'expire']);
    expect(await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId, p_actual: 5 })).toMatchObject({ error: 'reservation_expired' });
    // Release after expiry reports the expiry instead of refunding again.
    const rel = await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId });
    expect(rel).toMatchObject({ status: 'expired', replayed: true });
    expect(rel.balance.available).toBe(100);
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });

  it('allowance held across a refresh expires with its period; purchased holds come back', async () => {
    const org = await proOrg();
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: 10, p_idempotency_key: 'g' });
    // Reserved an hour before the refresh, still pending (not expired) after it.
    await db().setNow('2028-01-31T23:00:00Z');
    const r = await reserve(org, 'r1', 105, 7200);
    await db().setNow('2028-02-01T00:00:01Z');
    const rel = await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: r.reservationId });
    expect(rel).toMatchObject({ refunded: 5 });
    expect(rel.balance).toMatchObject({ allowanceRemaining: 100, purchased: 10, held: 0 });
    const [entry] = await db().query<{ metadata: Record<string, unknown> }>(
      `select metadata from tokengate.ledger where reservation_id = $1 and kind = 'release'`,
      [r.reservationId],
    );
    expect(entry!.metadata).toMatchObject({ forfeited: 100 });
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });

  it('only the member who reserved, or an admin, can resolve a reservation; other organizations cannot see it', async () => {
    const org = await createOrg(db(), { plan: 'pro', members: 2 });
    const other = await createOrg(db(), { plan: 'pro' });
    const r = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.members[0], p_token_type: 'goal_generation', p_idempotency_key: 'r' });
    expect((await failure(call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.members[1], p_reservation_id: r.reservationId, p_actual: 1 }))).name).toBe('reservation_not_found');
    expect((await failure(call(db(), 'release', { p_org_id: other.orgId, p_user_id: other.owner, p_reservation_id: r.reservationId }))).name).toBe('reservation_not_found');
    expect((await failure(call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.members[0], p_reservation_id: crypto.randomUUID(), p_actual: 1 }))).name).toBe('reservation_not_found');
    const byAdmin = await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.admin, p_reservation_id: r.reservationId });
    expect(byAdmin.status).toBe('released');
    await expectReconciled(db(), org.orgId);
  });

  it('Enterprise reservations hold nothing and commit the actual usage', async () => {
    const org = await createOrg(db(), { plan: 'enterprise' });
    const r = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'revenue_forecast', p_idempotency_key: 'r', p_estimate: 5 });
    expect(r).toMatchObject({ held: 0, estimate: 5 });
    const c = await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.owner, p_reservation_id: r.reservationId, p_actual: 500 });
    expect(c).toMatchObject({ charged: 500, uncharged: 0 });
    expect(c.balance).toMatchObject({ used: 500, available: null });
    await expectReconciled(db(), org.orgId);
  });
});
