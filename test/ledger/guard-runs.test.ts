/**
 * Guarded runs in SQL (guard_begin / guard_commit / guard_release): exactly-once WORK per
 * idempotency key, holds that only the guard can resolve, and delivered work that is charged even
 * when its hold lapsed. Each test is an attack that got work or tokens for free before.
 */
import { expect, it } from 'vitest';
import { describeEachDb } from '../db.ts';
import { bucket, call, createOrg, expectReconciled, failure } from '../ledger.ts';

describeEachDb('guarded runs', (db) => {
  async function proOrg() {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    return { ...org, user: org.members[0]! };
  }
  type Org = Awaited<ReturnType<typeof proOrg>>;
  const begin = (org: Org, key: string, estimate = 10, ttl = 60, user = org.user) =>
    call(db(), 'guard_begin', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'lead_generation', p_idempotency_key: key, p_estimate: estimate, p_ttl_seconds: ttl });
  const commit = (org: Org, key: string, reservationId: string, actual: number, response: unknown = null) =>
    call(db(), 'guard_commit', { p_org_id: org.orgId, p_user_id: org.user, p_idempotency_key: key, p_reservation_id: reservationId, p_actual: actual, p_response: response });
  const release = (org: Org, key: string, reservationId: string) =>
    call(db(), 'guard_release', { p_org_id: org.orgId, p_user_id: org.user, p_idempotency_key: key, p_reservation_id: reservationId });

  it('runs a key once: a repeat after completion is "completed" with the stored answer, never a new run', async () => {
    const org = await proOrg();
    const first = await begin(org, 'k1');
    expect(first).toMatchObject({ outcome: 'run', attempt: 1, reservation: { status: 'pending', estimate: 10, held: 10 } });
    const stored = { status: 200, headers: [['content-type', 'application/json']], body: Buffer.from('{"ok":1}').toString('base64') };
    const c = await commit(org, 'k1', first.reservation.reservationId, 7, stored);
    expect(c).toMatchObject({ status: 'committed', charged: 7, refunded: 3, replayed: false });

    const again = await begin(org, 'k1');
    expect(again).toEqual({ outcome: 'completed', reservationId: first.reservation.reservationId, charged: 7, response: stored });
    expect((await bucket(db(), org.orgId, 'lead_generation'))!.used).toBe(7);
    await expectReconciled(db(), org.orgId);
  });

  it('answers in_progress with retryAfter while the first attempt holds tokens', async () => {
    const org = await proOrg();
    const first = await begin(org, 'k1', 10, 60);
    await db().setNow('2028-01-10T12:00:20Z');
    expect(await begin(org, 'k1', 10, 60)).toEqual({ outcome: 'in_progress', reservationId: first.reservation.reservationId, retryAfter: 40 });
    expect((await bucket(db(), org.orgId, 'lead_generation'))!.held).toBe(10);
  });

  it('conflicts when the key is reused by another member, token type or estimate (no replay of someone else\'s answer)', async () => {
    const org = await proOrg();
    const other = org.admin;
    const first = await begin(org, 'k1');
    await commit(org, 'k1', first.reservation.reservationId, 10, { status: 200, headers: [], body: '' });
    expect((await failure(begin(org, 'k1', 10, 60, other))).name).toBe('idempotency_conflict');
    expect((await failure(begin(org, 'k1', 11))).name).toBe('idempotency_conflict');
  });

  it('a failed attempt (released) may run again; each run that delivers is charged once', async () => {
    const org = await proOrg();
    const a = await begin(org, 'k1');
    await release(org, 'k1', a.reservation.reservationId);
    const b = await begin(org, 'k1');
    expect(b).toMatchObject({ outcome: 'run', attempt: 2 });
    expect(b.reservation.reservationId).not.toBe(a.reservation.reservationId);
    await commit(org, 'k1', b.reservation.reservationId, 10);
    expect((await bucket(db(), org.orgId, 'lead_generation'))!.used).toBe(10);
    await expectReconciled(db(), org.orgId);
  });

  it('charges work delivered after its hold expired (late charge), capped at what is available, once', async () => {
    const org = await proOrg();
    const a = await begin(org, 'k1', 10, 60);
    // The handler outlives its hold: the hold expires and is refunded by the next touch.
    await db().setNow('2028-01-10T12:05:00Z');
    await call(db(), 'expire_reservations', {});
    expect((await bucket(db(), org.orgId, 'lead_generation'))).toMatchObject({ held: 0, used: 0, allowance_remaining: 100 });
    const late = await commit(org, 'k1', a.reservation.reservationId, 8);
    expect(late).toMatchObject({ status: 'committed', late: true, charged: 8, uncharged: 0, replayed: false });
    expect((await bucket(db(), org.orgId, 'lead_generation'))).toMatchObject({ used: 8, allowance_remaining: 92 });
    // Exactly once: a repeated commit replays.
    expect(await commit(org, 'k1', a.reservation.reservationId, 8)).toMatchObject({ charged: 8, replayed: true });
    expect((await bucket(db(), org.orgId, 'lead_generation'))!.used).toBe(8);
    // …and the key is completed: a retry does not run the work again.
    expect(await begin(org, 'k1', 10, 60)).toMatchObject({ outcome: 'completed', charged: 8 });
    await expectReconciled(db(), org.orgId);
  });

  it('a late charge never drives the balance negative: the shortfall is recorded as uncharged', async () => {
    const org = await proOrg();
    const a = await begin(org, 'k1', 10, 60);
    await db().setNow('2028-01-10T12:05:00Z');
    // Meanwhile the org spends almost everything.
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.admin, p_token_type: 'lead_generation', p_idempotency_key: 'd', p_units: 48 });
    const late = await commit(org, 'k1', a.reservation.reservationId, 10);
    expect(late).toMatchObject({ late: true, charged: 4, uncharged: 6 });
    expect(await bucket(db(), org.orgId, 'lead_generation')).toMatchObject({ allowance_remaining: 0, purchased_remaining: 0 });
    const [entry] = await db().query<{ metadata: Record<string, unknown> }>(
      `select metadata from tokengate.ledger where reservation_id = $1 and kind = 'deduct'`, [a.reservation.reservationId]);
    expect(entry!.metadata).toMatchObject({ late: true, actual: 10, uncharged: 6 });
    await expectReconciled(db(), org.orgId);
  });

  it('a lapsed attempt lets a retry run on a new hold, and both runs are paid when both deliver', async () => {
    const org = await proOrg();
    const a = await begin(org, 'k1', 10, 60);
    await db().setNow('2028-01-10T12:02:00Z');
    const b = await begin(org, 'k1', 10, 60);
    expect(b).toMatchObject({ outcome: 'run', attempt: 2 });
    await commit(org, 'k1', b.reservation.reservationId, 10);
    // The slow first attempt delivers after all: charged too (late), and the key stays completed by b.
    expect(await commit(org, 'k1', a.reservation.reservationId, 10)).toMatchObject({ late: true, charged: 10 });
    expect((await bucket(db(), org.orgId, 'lead_generation'))!.used).toBe(20);
    expect(await begin(org, 'k1', 10, 60)).toMatchObject({ outcome: 'completed', reservationId: b.reservation.reservationId });
    await expectReconciled(db(), org.orgId);
  });

  it('the member API cannot commit, release or even see a guard hold, not even the org owner', async () => {
    const org = await proOrg();
    const a = await begin(org, 'k1', 10, 60);
    const id = a.reservation.reservationId;
    for (const user of [org.user, org.owner, org.admin]) {
      expect((await failure(call(db(), 'release', { p_org_id: org.orgId, p_user_id: user, p_reservation_id: id }))).name).toBe('reservation_not_found');
      expect((await failure(call(db(), 'commit', { p_org_id: org.orgId, p_user_id: user, p_reservation_id: id, p_actual: 0 }))).name).toBe('reservation_not_found');
    }
    // The reservations API keeps its own keys: the guard's key there is a new, separately paid hold.
    const member = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: 'k1', p_estimate: 5 });
    expect(member.reservationId).not.toBe(id);
    expect((await bucket(db(), org.orgId, 'lead_generation'))!.held).toBe(15);
    // The guard's own commit still works.
    expect(await commit(org, 'k1', id, 10)).toMatchObject({ status: 'committed', charged: 10 });
    await expectReconciled(db(), org.orgId);
  });

  it('guard_commit and guard_release refuse another user\'s or another key\'s hold', async () => {
    const org = await proOrg();
    const a = await begin(org, 'k1');
    const id = a.reservation.reservationId;
    const as = (user: string, key: string) =>
      call(db(), 'guard_commit', { p_org_id: org.orgId, p_user_id: user, p_idempotency_key: key, p_reservation_id: id, p_actual: 0 });
    expect((await failure(as(org.admin, 'k1'))).name).toBe('reservation_not_found');
    expect((await failure(as(org.user, 'other-key'))).name).toBe('reservation_not_found');
  });

  it('a member removed mid-run still pays for the delivered work', async () => {
    const org = await proOrg();
    const a = await begin(org, 'k1');
    await call(db(), 'remove_member', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: org.user });
    expect(await commit(org, 'k1', a.reservation.reservationId, 10)).toMatchObject({ charged: 10 });
    await expectReconciled(db(), org.orgId);
  });

  it('refuses a run the organization cannot pay for, and writes nothing (the key stays free)', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'starter', anchor: '2028-01-01T00:00:00Z' });
    const user = org.members[0]!;
    const err = await failure(call(db(), 'guard_begin', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'lead_generation', p_idempotency_key: 'k1' }));
    expect(err.name).toBe('plan_blocked');
    const [row] = await db().query<{ n: number }>(`select count(*)::int as n from tokengate.guard_requests where org_id = $1`, [org.orgId]);
    expect(row!.n).toBe(0);
  });
});
