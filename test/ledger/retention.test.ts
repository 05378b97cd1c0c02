/**
 * Idempotency records are kept for a window (prune_idempotency_keys), not forever; the ledger is
 * never pruned, and a guarded run still holding tokens keeps its record.
 */
import { expect, it } from 'vitest';
import { describeEachDb } from '../db.ts';
import { call, countRows, createOrg, expectReconciled, failure } from '../ledger.ts';

describeEachDb('idempotency retention', (db) => {
  it('prunes keys and finished guarded runs older than the window; within it a key still replays', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const o = { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation' };
    const first = await call(db(), 'deduct', { ...o, p_idempotency_key: 'old' });
    const done = await call(db(), 'guard_begin', { ...o, p_idempotency_key: 'guard-done' });
    await call(db(), 'guard_commit', { p_org_id: org.orgId, p_user_id: org.owner, p_idempotency_key: 'guard-done', p_reservation_id: done.reservation.reservationId, p_actual: 1 });
    await call(db(), 'guard_begin', { ...o, p_idempotency_key: 'guard-running', p_ttl_seconds: 86400 });
    const ledgerBefore = await countRows(db(), 'ledger', org.orgId);

    // Inside the window: nothing goes, and the key replays.
    await db().setNow('2028-01-20T12:00:00Z');
    expect(await call(db(), 'prune_idempotency_keys', {})).toMatchObject({ keys: 0, guardRequests: 0 });
    expect(await call(db(), 'deduct', { ...o, p_idempotency_key: 'old' })).toMatchObject({ ledgerId: first.ledgerId, replayed: true });

    // After 30 days: the key record and the finished run go; the running one and the ledger stay.
    await db().setNow('2028-02-10T12:00:01Z');
    expect(await call(db(), 'prune_idempotency_keys', {})).toMatchObject({ keys: 1, guardRequests: 1 });
    expect(await countRows(db(), 'guard_requests', org.orgId)).toBe(1);
    expect(await countRows(db(), 'ledger', org.orgId)).toBeGreaterThanOrEqual(ledgerBefore);
    expect(await call(db(), 'prune_idempotency_keys', {})).toMatchObject({ keys: 0, guardRequests: 0 });
    await expectReconciled(db(), org.orgId);

    expect((await failure(call(db(), 'prune_idempotency_keys', { p_older_than: '5 minutes' }))).name).toBe('invalid_argument');
    expect((await failure(call(db(), 'prune_idempotency_keys', { p_limit: 0 }))).name).toBe('invalid_argument');
  });

  it('prunes in batches of p_limit', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    for (let i = 0; i < 5; i++) {
      await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 1, p_idempotency_key: `g${i}` });
    }
    await db().setNow('2028-03-10T12:00:00Z');
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push((await call(db(), 'prune_idempotency_keys', { p_limit: 2 })).keys);
    expect(runs).toEqual([2, 2, 1]);
    expect(await countRows(db(), 'idempotency_keys', org.orgId)).toBe(0);
  });
});
