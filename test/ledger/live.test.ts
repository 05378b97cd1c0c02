/**
 * The change feed and the alerts outbox, in SQL: every balance change notifies exactly once in its
 * own transaction (a rolled-back one never), tokengate.changes() answers the same events for a
 * client resuming, each alert is written once per crossing per period — under 50 concurrent
 * charges too — and the outbox's delivery functions lease, retry, fail and replay as documented.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { BalanceChange } from '../../src/core/types.ts';
import { concurrencyPoolSize, describeEachDb, describeServer, type TestDb } from '../db.ts';
import { call, createOrg, expectReconciled, failure, type SqlRunner } from '../ledger.ts';
import { waitFor } from '../wait-for.ts';

const CHANNEL = 'tokengate_changes';

/**
 * Listen to the feed and watch `orgIds` (a lease each, as the change hub takes them: the ledger
 * notifies watched organizations only); `drain()` waits until everything committed so far has
 * arrived and returns it.
 */
async function feed(db: TestDb, ...orgIds: string[]) {
  const received: string[] = [];
  const unlisten = await db.listen(CHANNEL, (payload) => received.push(payload));
  const watcher = randomUUID();
  for (const orgId of orgIds) await db.query(`select tokengate.watch($1, $2)`, [orgId, watcher]);
  let fence = 0;
  return {
    async stop() {
      await db.query(`select tokengate.unwatch($1)`, [watcher]);
      await unlisten();
    },
    /** Every change received since the last drain (notifications arrive in commit order: a fence notified last marks the end). */
    async drain(): Promise<BalanceChange[]> {
      const marker = `fence-${++fence}`;
      await db.query(`select pg_notify($1, $2)`, [CHANNEL, marker]);
      await waitFor(() => received.includes(marker), { what: `the feed's fence ${marker}` });
      const batch = received.splice(0, received.indexOf(marker) + 1).slice(0, -1);
      return batch.map((p) => JSON.parse(p) as BalanceChange);
    },
  };
}

type AlertRow = { kind: string; token_type_id: string; user_id: string | null; reservation_id: string | null; threshold: number | null; available: number | null };

async function alerts(db: SqlRunner, orgId: string): Promise<AlertRow[]> {
  return db.query<AlertRow>(
    `select kind, token_type_id, user_id, reservation_id, threshold::int as threshold, available::int as available
     from tokengate.alerts where org_id = $1 order by id`,
    [orgId],
  );
}

describeEachDb('live: change feed', (db) => {
  it('every kind of balance change notifies once, with the bucket as the entry left it; a rolled-back charge says nothing', async () => {
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const user = org.members[0]!;
    const o = { p_org_id: org.orgId, p_token_type: 'quest_generation' };
    await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: user }); // provisions the buckets (refresh entries)
    const f = await feed(db(), org.orgId);
    try {
      const kinds = async (fn: () => Promise<unknown>) => {
        await fn();
        return (await f.drain()).map((c) => `${c.kind}:${c.tokenType}`);
      };

      expect(await kinds(() => call(db(), 'deduct', { ...o, p_user_id: user, p_idempotency_key: 'd1' }))).toEqual(['deduct:quest_generation']);
      // A replay changes nothing and says nothing.
      expect(await kinds(() => call(db(), 'deduct', { ...o, p_user_id: user, p_idempotency_key: 'd1' }))).toEqual([]);
      const r = await call(db(), 'reserve', { ...o, p_user_id: user, p_idempotency_key: 'r1', p_estimate: 9 });
      expect((await f.drain()).map((c) => c.kind)).toEqual(['reserve']);
      expect(await kinds(() => call(db(), 'commit', { p_org_id: org.orgId, p_user_id: user, p_reservation_id: r.reservationId, p_actual: 4 }))).toEqual(['commit:quest_generation']);
      const r2 = await call(db(), 'reserve', { ...o, p_user_id: user, p_idempotency_key: 'r2', p_estimate: 3 });
      await f.drain();
      expect(await kinds(() => call(db(), 'release', { p_org_id: org.orgId, p_user_id: user, p_reservation_id: r2.reservationId }))).toEqual(['release:quest_generation']);
      expect(await kinds(() => call(db(), 'grant_tokens', { ...o, p_actor_id: null, p_amount: 30, p_idempotency_key: 'g1' }))).toEqual(['grant:quest_generation']);
      expect(await kinds(() => call(db(), 'adjust', { ...o, p_actor_id: null, p_amount: -5, p_reason: 'correction', p_idempotency_key: 'a1' }))).toEqual(['adjust:quest_generation']);
      await call(db(), 'reserve', { ...o, p_user_id: user, p_idempotency_key: 'r3', p_estimate: 3, p_ttl_seconds: 60 });
      await f.drain();
      await db().setNow('2028-05-10T12:05:00Z');
      expect(await kinds(() => call(db(), 'expire_reservations', {}))).toEqual(['expire:quest_generation']);
      // A new period: the refresh of the bucket touched.
      await db().setNow('2028-06-02T00:00:00Z');
      expect(await kinds(() => call(db(), 'check', { ...o, p_user_id: user }))).toEqual(['refresh:quest_generation']);

      // The payload is the bucket as the entry left it, and no more than that.
      await call(db(), 'deduct', { ...o, p_user_id: user, p_idempotency_key: 'd2', p_units: 2 });
      const [change] = await f.drain();
      const [b] = await db().query<{ allowance_remaining: number; purchased_remaining: number; held: number }>(
        `select allowance_remaining, purchased_remaining::int as purchased_remaining, held::int as held from tokengate.buckets where org_id = $1 and token_type_id = 'quest_generation'`,
        [org.orgId],
      );
      const [entry] = await db().query<{ id: number }>(`select max(id)::int as id from tokengate.ledger where org_id = $1`, [org.orgId]);
      expect(change).toEqual({
        orgId: org.orgId,
        tokenType: 'quest_generation',
        ledgerId: entry!.id,
        kind: 'deduct',
        available: b!.allowance_remaining + b!.purchased_remaining,
        allowanceRemaining: b!.allowance_remaining,
        purchased: b!.purchased_remaining,
        held: b!.held,
      });
      expect(Object.keys(change!).sort()).toEqual(['allowanceRemaining', 'available', 'held', 'kind', 'ledgerId', 'orgId', 'purchased', 'tokenType']);

      // A plan change: one entry per bucket, one notification per entry.
      await call(db(), 'set_plan', { p_org_id: org.orgId, p_actor_id: null, p_plan_id: 'enterprise' });
      const planChanges = await f.drain();
      const [entries] = await db().query<{ n: number }>(
        `select count(*)::int as n from tokengate.ledger where org_id = $1 and id > $2`,
        [org.orgId, entry!.id],
      );
      expect(planChanges.length).toBe(entries!.n);
      expect(planChanges.length).toBeGreaterThan(0);
      // Unlimited: available is null. (The plan change's own entries are written before the account
      // switches plans, so clients reload balances on adjust and refresh changes.)
      expect(planChanges.every((c) => c.kind === 'adjust' || c.kind === 'refresh')).toBe(true);
      await call(db(), 'deduct', { ...o, p_user_id: user, p_idempotency_key: 'unlimited' });
      expect((await f.drain()).map((c) => [c.kind, c.available])).toEqual([['deduct', null]]);

      // A charge rolled back (its transaction fails after the charge) notifies nothing.
      const before = await db().query(`select count(*)::int as n from tokengate.ledger`);
      await expect(
        db().as({ role: 'service_role' }, async (q) => {
          await q.query(`select tokengate.deduct($1, $2, 'goal_generation', 'rolled-back')`, [org.orgId, user]);
          expect(await q.query(`select count(*)::int as n from tokengate.ledger`)).not.toEqual(before);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await db().query(`select count(*)::int as n from tokengate.ledger`)).toEqual(before);
      expect(await f.drain()).toEqual([]);
      // A refused charge too.
      await call(db(), 'set_plan', { p_org_id: org.orgId, p_actor_id: null, p_plan_id: 'starter' });
      await f.drain();
      expect((await failure(call(db(), 'deduct', { ...o, p_user_id: user, p_idempotency_key: 'blocked' }))).name).toBe('plan_blocked');
      expect(await f.drain()).toEqual([]);
    } finally {
      await f.stop();
    }
    await expectReconciled(db(), org.orgId);
  });

  it('tokengate.live = off silences the feed (the alerts are still written)', async () => {
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const f = await feed(db(), org.orgId);
    try {
      await db().exec(`set tokengate.live = off`);
      await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 1, p_idempotency_key: 'g' });
      for (let i = 0; i < 21; i++) {
        await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: `k${i}` });
      }
      expect(await f.drain()).toEqual([]);
      expect((await alerts(db(), org.orgId)).map((a) => a.kind)).toEqual(['low', 'exhausted']);
    } finally {
      await db().exec(`reset tokengate.live`);
      await f.stop();
    }
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'lead_generation', p_idempotency_key: 'on' });
  });

  it('only watched organizations notify: no lease, a lapsed lease or unwatch says nothing; tokengate.live = all notifies every one', async () => {
    await db().setNow('2028-05-10T12:00:00Z');
    const watched = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const unwatched = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const f = await feed(db(), watched.orgId);
    const charge = (org: typeof watched, key: string) =>
      call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: key });
    const grant = (org: typeof watched, key: string) =>
      call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 5, p_idempotency_key: key });
    const orgsNotified = async () => (await f.drain()).map((c) => `${c.orgId === watched.orgId ? 'watched' : 'unwatched'}:${c.kind}`);
    try {
      // The first charge of each opens its buckets (refresh entries): only the watched org's say so.
      await charge(watched, 'w0');
      await charge(unwatched, 'u0');
      expect((await orgsNotified()).every((c) => c.startsWith('watched:'))).toBe(true);
      await charge(watched, 'w1');
      await charge(unwatched, 'u1');
      await grant(unwatched, 'ug1');
      expect(await orgsNotified()).toEqual(['watched:deduct']);

      // Every change, for raw listeners that take no lease.
      await db().exec(`set tokengate.live = 'all'`);
      await charge(unwatched, 'u2');
      await grant(unwatched, 'ug2');
      await db().exec(`reset tokengate.live`);
      expect(await orgsNotified()).toEqual(['unwatched:deduct', 'unwatched:grant']);

      // A lapsed lease notifies nothing; renew_watches reports it (and drops it), and extends live ones.
      const other = randomUUID();
      await db().query(`select tokengate.watch($1, $2, 10)`, [unwatched.orgId, other]);
      await charge(unwatched, 'u3');
      expect(await orgsNotified()).toEqual(['unwatched:deduct']);
      await db().query(`update tokengate.watches set expires_at = now() - interval '1 second' where watcher = $1`, [other]);
      await charge(unwatched, 'u4');
      await grant(unwatched, 'ug4');
      expect(await orgsNotified()).toEqual([]);
      const [renewed] = await db().query<{ lapsed: string[] }>(`select tokengate.renew_watches($1, array[$2, $3]::uuid[], 60) as lapsed`, [
        other,
        unwatched.orgId,
        watched.orgId,
      ]);
      expect(renewed!.lapsed).toEqual([unwatched.orgId, watched.orgId].sort());
      expect(await db().query(`select org_id from tokengate.watches where watcher = $1`, [other])).toEqual([]);

      // unwatch ends a lease; the other watchers' leases stay.
      await db().query(`select tokengate.watch($1, $2)`, [watched.orgId, other]);
      const [dropped] = await db().query<{ n: number }>(`select tokengate.unwatch($1, array[$2]::uuid[]) as n`, [other, watched.orgId]);
      expect(dropped!.n).toBe(1);
      await charge(watched, 'w5');
      expect(await orgsNotified()).toEqual(['watched:deduct']);
    } finally {
      await f.stop();
    }
    await charge(watched, 'w6');
    expect(await db().query(`select 1 from tokengate.watches`)).toEqual([]);
    for (const org of [watched, unwatched]) await expectReconciled(db(), org.orgId);
  });

  it('leases are the server’s: clients can neither take one nor read them, and arguments are checked', async () => {
    const org = await createOrg(db(), { plan: 'pro' });
    for (const who of [{ role: 'authenticated', userId: org.owner }, { role: 'anon' }] as const) {
      await expect(
        db().as(who, (q) => q.query(`select tokengate.watch($1, $2)`, [org.orgId, randomUUID()])),
      ).rejects.toThrow(/permission denied/);
      await expect(db().as(who, (q) => q.query(`select * from tokengate.watches`))).rejects.toThrow(/permission denied/);
    }
    for (const [sql, params] of [
      [`select tokengate.watch($1, $2, 5)`, [org.orgId, randomUUID()]],
      [`select tokengate.watch($1, null)`, [org.orgId]],
      [`select tokengate.renew_watches($1, null)`, [randomUUID()]],
      [`select tokengate.unwatch(null)`, []],
    ] as const) {
      await expect(db().as({ role: 'service_role' }, (q) => q.query(sql, [...params]))).rejects.toThrow(/invalid_argument|p_/);
    }
  });

  it('changes() replays the entries after an id, in order and paged, to members only', async () => {
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const other = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const user = org.members[0]!;
    const f = await feed(db(), org.orgId, other.orgId);
    let live: BalanceChange[];
    try {
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'x1' });
      await call(db(), 'deduct', { p_org_id: other.orgId, p_user_id: other.owner, p_token_type: 'goal_generation', p_idempotency_key: 'y1' });
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'lead_generation', p_idempotency_key: 'x2' });
      await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: 5, p_idempotency_key: 'x3' });
      live = (await f.drain()).filter((c) => c.orgId === org.orgId);
    } finally {
      await f.stop();
    }
    // What the feed said is what changes() answers for the same entries.
    const firstId = live[0]!.ledgerId - 1;
    const all = await call<{ changes: BalanceChange[]; more: boolean }>(db(), 'changes', { p_org_id: org.orgId, p_user_id: user, p_after_id: firstId });
    expect(all).toEqual({ changes: live, more: false });
    const page = await call(db(), 'changes', { p_org_id: org.orgId, p_user_id: user, p_after_id: firstId, p_limit: 2 });
    expect(page).toEqual({ changes: live.slice(0, 2), more: true });
    const rest = await call(db(), 'changes', { p_org_id: org.orgId, p_user_id: user, p_after_id: page.changes[1].ledgerId });
    expect(rest).toEqual({ changes: live.slice(2), more: false });

    // A member of another organization, a stranger, bad arguments.
    expect((await failure(call(db(), 'changes', { p_org_id: org.orgId, p_user_id: other.owner, p_after_id: 0 }))).name).toBe('not_a_member');
    expect((await failure(call(db(), 'changes', { p_org_id: org.orgId, p_user_id: null, p_after_id: 0 }))).name).toBe('invalid_argument');
    expect((await failure(call(db(), 'changes', { p_org_id: org.orgId, p_user_id: user, p_after_id: -1 }))).name).toBe('invalid_argument');
    expect((await failure(call(db(), 'changes', { p_org_id: org.orgId, p_user_id: user, p_after_id: 0, p_limit: 5000 }))).name).toBe('invalid_argument');
  });
});

describeEachDb('live: alerts outbox', (db) => {
  it('low and exhausted fire once per period when the threshold is crossed, again in the next period', async () => {
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const o = { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation' }; // 20 per period, cost 1
    // 20 % of 20 = 4: the charge that leaves 3 crosses it.
    for (let i = 0; i < 16; i++) await call(db(), 'deduct', { ...o, p_idempotency_key: `a${i}` });
    expect(await alerts(db(), org.orgId)).toEqual([]);
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'a16' });
    expect(await alerts(db(), org.orgId)).toEqual([
      { kind: 'low', token_type_id: 'goal_generation', user_id: null, reservation_id: null, threshold: 4, available: 3 },
    ]);
    // A top-up lifts it above the threshold; crossing again this period writes nothing new.
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 5, p_idempotency_key: 'g2' });
    for (let i = 17; i < 25; i++) await call(db(), 'deduct', { ...o, p_idempotency_key: `a${i}` });
    expect((await alerts(db(), org.orgId)).map((a) => a.kind)).toEqual(['low', 'exhausted']);
    expect((await failure(call(db(), 'deduct', { ...o, p_idempotency_key: 'a25' }))).name).toBe('insufficient_tokens');
    expect((await alerts(db(), org.orgId)).length).toBe(2);

    // The next period: refreshed, then the thresholds again.
    await db().setNow('2028-06-01T00:00:01Z');
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'b0' });
    expect((await alerts(db(), org.orgId)).map((a) => a.kind)).toEqual(['low', 'exhausted', 'refreshed']);
    // Reservations cross thresholds too (a hold takes the tokens); a 0 % threshold never fires low.
    await db().query(`update tokengate.token_types set low_alert_percent = 0 where id = 'lead_generation'`);
    try {
      const lead = async () =>
        (await alerts(db(), org.orgId)).filter((a) => a.token_type_id === 'lead_generation' && a.kind !== 'refreshed').map((a) => a.kind);
      for (const [key, estimate] of [['h1', 50], ['h2', 25]] as const) {
        await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'lead_generation', p_idempotency_key: key, p_estimate: estimate });
      }
      expect(await lead()).toEqual([]);
      await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'lead_generation', p_idempotency_key: 'h3', p_estimate: 25 });
      expect(await lead()).toEqual(['exhausted']);
    } finally {
      await db().query(`update tokengate.token_types set low_alert_percent = 20 where id = 'lead_generation'`);
    }
    await expectReconciled(db(), org.orgId);
  });

  it('member_quota_reached, expired_hold and refreshed (not for a bucket’s first period)', async () => {
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const user = org.members[0]!;
    await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: user });
    expect(await alerts(db(), org.orgId)).toEqual([]); // first periods: no refreshed alerts
    await call(db(), 'set_member_quota', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: user, p_token_type: 'lead_generation', p_quota: 6 });
    const o = { p_org_id: org.orgId, p_user_id: user, p_token_type: 'lead_generation' }; // cost 2
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'q1' });
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'q2' });
    expect(await alerts(db(), org.orgId)).toEqual([]);
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'q3' }); // 6 of 6
    expect(await alerts(db(), org.orgId)).toEqual([
      { kind: 'member_quota_reached', token_type_id: 'lead_generation', user_id: user, reservation_id: null, threshold: 6, available: null },
    ]);
    expect((await failure(call(db(), 'deduct', { ...o, p_idempotency_key: 'q4' }))).name).toBe('member_quota_exceeded');

    // Through a hold: another member's quota reached by the hold itself.
    const second = org.admin;
    await call(db(), 'set_member_quota', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: second, p_token_type: 'lead_generation', p_quota: 4 });
    const hold = await call(db(), 'reserve', { ...o, p_user_id: second, p_idempotency_key: 'h1', p_estimate: 4, p_ttl_seconds: 60 });
    expect((await alerts(db(), org.orgId)).map((a) => [a.kind, a.user_id])).toEqual([
      ['member_quota_reached', user],
      ['member_quota_reached', second],
    ]);
    // The hold lapses: expired_hold, with its member and hold.
    await db().setNow('2028-05-10T12:02:00Z');
    await call(db(), 'expire_reservations', {});
    const expired = (await alerts(db(), org.orgId)).at(-1)!;
    expect(expired).toMatchObject({ kind: 'expired_hold', user_id: second, reservation_id: hold.reservationId, token_type_id: 'lead_generation' });
    await call(db(), 'expire_reservations', {});
    expect((await alerts(db(), org.orgId)).length).toBe(3);

    await db().setNow('2028-06-01T00:00:01Z');
    await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: user });
    const refreshed = (await alerts(db(), org.orgId)).filter((a) => a.kind === 'refreshed');
    expect(refreshed.map((a) => a.token_type_id).sort()).toEqual(['goal_generation', 'lead_generation', 'quest_generation', 'revenue_forecast', 'strategy_analysis']);
    await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: user });
    expect((await alerts(db(), org.orgId)).filter((a) => a.kind === 'refreshed').length).toBe(5);
    await expectReconciled(db(), org.orgId);
  });

  it('delivery: claims lease, failures retry then fail, success ends it, replay starts over with the log kept', async () => {
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    for (let i = 0; i < 20; i++) {
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: `k${i}` });
    }
    const claimed = await call<{ alertId: number; type: string; orgId: string; attempts: number; status: string }[]>(db(), 'claim_alerts', { p_limit: 1000, p_lease_seconds: 30 });
    const mine = claimed.filter((a) => a.orgId === org.orgId);
    expect(mine.map((a) => [a.type, a.status, a.attempts])).toEqual([['low', 'pending', 0], ['exhausted', 'pending', 0]]);
    // Leased: a second worker gets neither until the lease ends.
    expect((await call<{ orgId: string }[]>(db(), 'claim_alerts', {})).filter((a) => a.orgId === org.orgId)).toEqual([]);
    const [low, exhausted] = mine as [(typeof mine)[0], (typeof mine)[0]];

    // low fails twice with max 2 attempts: failed.
    let a = await call(db(), 'record_delivery', { p_alert_id: low.alertId, p_ok: false, p_status: 503, p_error: 'down', p_duration_ms: 12, p_retry_in_seconds: 10, p_max_attempts: 2 });
    expect(a).toMatchObject({ status: 'pending', attempts: 1, lastStatus: 503, lastError: 'down', nextAttemptAt: '2028-05-10T12:00:10+00:00' });
    await db().setNow('2028-05-10T12:00:10Z');
    expect((await call<{ alertId: number }[]>(db(), 'claim_alerts', {})).map((x) => x.alertId)).toContain(low.alertId);
    a = await call(db(), 'record_delivery', { p_alert_id: low.alertId, p_ok: false, p_error: 'timeout', p_retry_in_seconds: 10, p_max_attempts: 2 });
    expect(a).toMatchObject({ status: 'failed', attempts: 2, nextAttemptAt: null, lastError: 'timeout' });
    // A late answer from a worker whose lease ran out changes nothing.
    expect(await call(db(), 'record_delivery', { p_alert_id: low.alertId, p_ok: true, p_status: 200 })).toMatchObject({ status: 'failed' });
    // exhausted succeeds.
    expect(await call(db(), 'record_delivery', { p_alert_id: exhausted.alertId, p_ok: true, p_status: 204, p_duration_ms: 3 })).toMatchObject({ status: 'delivered', attempts: 1, lastError: null });

    expect((await call<{ alertId: number }[]>(db(), 'list_alerts', { p_status: 'failed', p_org_id: org.orgId })).map((x) => x.alertId)).toEqual([low.alertId]);
    expect((await call<{ alertId: number }[]>(db(), 'list_alerts', { p_status: 'delivered', p_org_id: org.orgId })).map((x) => x.alertId)).toEqual([exhausted.alertId]);
    expect((await call<{ alertId: number }[]>(db(), 'list_alerts', { p_org_id: org.orgId })).map((x) => x.alertId)).toEqual([exhausted.alertId, low.alertId]);

    // Replay: pending and due now, attempts from zero; the log keeps every attempt and continues its numbering.
    expect(await call(db(), 'replay_alert', { p_alert_id: low.alertId })).toMatchObject({ status: 'pending', attempts: 0 });
    expect((await call<{ alertId: number; orgId: string }[]>(db(), 'claim_alerts', {})).filter((x) => x.orgId === org.orgId).map((x) => x.alertId)).toEqual([low.alertId]);
    await call(db(), 'record_delivery', { p_alert_id: low.alertId, p_ok: true, p_status: 200 });
    const log = await call<{ attempt: number; ok: boolean; status: number | null; error: string | null }[]>(db(), 'alert_deliveries', { p_alert_id: low.alertId });
    expect(log.map((d) => [d.attempt, d.ok, d.status, d.error])).toEqual([
      [1, false, 503, 'down'],
      [2, false, null, 'timeout'],
      [3, true, 200, null],
    ]);

    expect((await failure(call(db(), 'replay_alert', { p_alert_id: 987654321 }))).name).toBe('alert_not_found');
    expect((await failure(call(db(), 'record_delivery', { p_alert_id: low.alertId, p_ok: true, p_status: 99 }))).name).toBe('invalid_argument');
    expect((await failure(call(db(), 'list_alerts', { p_status: 'lost' }))).name).toBe('invalid_argument');
    expect((await failure(call(db(), 'claim_alerts', { p_limit: 0 }))).name).toBe('invalid_argument');
  });

  it('Supabase Realtime: each change is broadcast to the org’s private topic, readable by its members only', async () => {
    // A stand-in for Supabase's realtime schema: send() stores the message, topic() is the joining client's topic.
    await db().exec(`
      create schema realtime;
      create table realtime.messages (topic text not null, extension text not null, event text, payload jsonb, private boolean);
      alter table realtime.messages enable row level security;
      grant usage on schema realtime to authenticated;
      grant select on realtime.messages to authenticated;
      create function realtime.topic() returns text language sql stable as $$ select current_setting('realtime.topic', true) $$;
      grant execute on function realtime.topic() to authenticated;
      create function realtime.send(payload jsonb, event text, topic text, private boolean default true) returns void
        language sql as $$ insert into realtime.messages values (topic, 'broadcast', event, payload, private) $$;
    `);
    expect((await db().query<{ on: boolean }>(`select tokengate.enable_realtime() as on`))[0]!.on).toBe(true);
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const other = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    const f = await feed(db(), org.orgId, other.orgId);
    let change: BalanceChange;
    try {
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'rt' });
      await call(db(), 'deduct', { p_org_id: other.orgId, p_user_id: other.owner, p_token_type: 'goal_generation', p_idempotency_key: 'rt' });
      [change] = (await f.drain()).filter((c) => c.kind === 'deduct' && c.orgId === org.orgId) as [BalanceChange];
    } finally {
      await f.stop();
    }
    const topic = `tokengate:org:${org.orgId}`;
    const sent = await db().query<{ topic: string; event: string; payload: BalanceChange; private: boolean }>(
      `select topic, event, payload, private from realtime.messages where payload->>'kind' = 'deduct' and topic = $1`,
      [topic],
    );
    expect(sent).toEqual([{ topic, event: 'balance', payload: change, private: true }]);

    // Authorisation as Realtime checks it: the joining user reads the topic's messages under RLS.
    const visible = (userId: string, asTopic: string) =>
      db().as({ role: 'authenticated', userId }, async (q) => {
        await q.query(`select set_config('realtime.topic', $1, true)`, [asTopic]);
        return (await q.query<{ n: number }>(`select count(*)::int as n from realtime.messages where topic = $1`, [asTopic]))[0]!.n;
      });
    expect(await visible(org.members[0]!, topic)).toBeGreaterThan(0);
    expect(await visible(other.owner, topic)).toBe(0);
    // Joining one's own org's topic does not open another's messages.
    expect(await visible(other.owner, `tokengate:org:${other.orgId}`)).toBeGreaterThan(0);
    await db().exec(`drop trigger ledger_broadcast_change on tokengate.ledger; drop schema realtime cascade;`);
  });
});

describeServer('live: a lease taken while changes are in flight loses none of them', (db) => {
  it.each([
    ['a charge (deduct)', `select tokengate.deduct($1, $2, 'goal_generation', 'in-flight')`],
    ['a grant (every other path)', `select tokengate.grant_tokens($1, null, 'goal_generation', 5, 'in-flight') where $2::uuid is not null`],
  ])('watch() waits for %s in flight; a change after it notifies', async (_, inFlightSql) => {
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: org.owner }); // provisions the buckets
    const f = await feed(db());
    const pool = db().pool(concurrencyPoolSize(3));
    const inFlight = await pool.connect();
    try {
      // A charge of the unwatched organization, not committed yet: it looked for a lease and found none.
      await inFlight.query('begin');
      await inFlight.query(`select set_config('tokengate.now', '2028-05-10T12:00:00Z', true)`);
      await inFlight.query(inFlightSql, [org.orgId, org.owner]);
      const watcher = randomUUID();
      let answered = false;
      const watching = pool.query(`select tokengate.watch($1, $2) as lease`, [org.orgId, watcher]).then((r) => {
        answered = true;
        return r;
      });
      // The barrier: watch() waits on the feed lock the charge holds (it would answer at once without it).
      await waitFor(
        async () =>
          (
            await db().query(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and wait_event = 'advisory' and query like '%tokengate.watch(%'`)
          ).length === 1,
        { what: 'watch() waiting for the charge in flight' },
      );
      expect(answered).toBe(false);
      await inFlight.query('commit');
      await watching;
      // So a subscriber reading balances now sees the in-flight charge (it did not notify)…
      const [seen] = await db().query<{ n: number }>(`select count(*)::int as n from tokengate.ledger where org_id = $1 and idempotency_key = 'in-flight'`, [org.orgId]);
      expect(seen!.n).toBe(1);
      expect(await f.drain()).toEqual([]);
      // …and every charge after the lease notifies.
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'after' });
      expect((await f.drain()).map((c) => [c.orgId, c.kind])).toEqual([[org.orgId, 'deduct']]);
      await db().query(`select tokengate.unwatch($1)`, [watcher]);
    } finally {
      inFlight.release();
      await f.stop();
      await pool.end();
    }
    await expectReconciled(db(), org.orgId);
  });
});

describeServer('live: alerts under 50 concurrent charges', (db) => {
  it('each threshold is written once, by the charge that crossed it, and the feed carries every charge once', async () => {
    await db().setNow('2028-05-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-05-01T00:00:00Z' });
    // strategy_analysis: allowance 100, cost 10 → 10 uses; low below 20 (the use leaving 10).
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'strategy_analysis', p_amount: 20, p_idempotency_key: 'g' });
    const f = await feed(db(), org.orgId);
    const pool = db().pool(concurrencyPoolSize(8));
    let outcomes: PromiseSettledResult<unknown>[];
    let changes: BalanceChange[];
    try {
      outcomes = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          call({ query: async (sql, params) => (await pool.query(sql, params)).rows }, 'deduct', {
            p_org_id: org.orgId,
            p_user_id: org.owner,
            p_token_type: 'strategy_analysis',
            p_idempotency_key: `c${i}`,
          }),
        ),
      );
      changes = (await f.drain()).filter((c) => c.orgId === org.orgId);
    } finally {
      await f.stop();
      await pool.end();
    }
    const ok = outcomes.filter((o) => o.status === 'fulfilled').length;
    expect(ok).toBe(12); // 120 tokens, 10 each
    expect(changes.length).toBe(12);
    expect(changes.map((c) => c.available).sort((a, b) => b! - a!)).toEqual([110, 100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
    expect(new Set(changes.map((c) => c.ledgerId)).size).toBe(12);
    expect((await alerts(db(), org.orgId)).map((a) => [a.kind, a.available])).toEqual([
      ['low', 10],
      ['exhausted', 0],
    ]);
    await expectReconciled(db(), org.orgId);
  });
});
