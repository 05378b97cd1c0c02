/**
 * Grants (migrations/20261208000001_tokengate_grants.sql): blocks of tokens with a source, a
 * priority and an expiry, consumed after the plan allowance in the burn order (soonest expiry,
 * then priority, then age); lazy and swept expiry; holds give tokens back to the grants they took
 * them from, or forfeit them to an expired or revoked grant; clawbacks never go below zero; prices
 * by period. Every case ends reconciled (verify_ledger checks grants, pools, entries and holds).
 */
import { PGlite } from '@electric-sql/pglite';
import { expect, it } from 'vitest';
import { ledgerCall } from '../../server/ledger-call.ts';
import { migrationFiles, runMigrations } from '../../server/migrate.ts';
import { describeEachDb } from '../db.ts';
import { call, createOrg, expectReconciled, failure, fingerprint } from '../ledger.ts';

const T0 = '2028-01-10T12:00:00Z';
const DAY = 86_400_000;
const at = (days: number) => new Date(Date.parse(T0) + days * DAY).toISOString();

describeEachDb('grants', (db) => {
  /** A Pro org whose lead_generation allowance (100) is spent, so charges come from grants. */
  async function spentOrg() {
    await db().setNow(T0);
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const user = org.members[0]!;
    await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: -100, p_reason: 'spend the allowance', p_idempotency_key: 'spend' });
    return { ...org, user };
  }
  const grant = (org: { orgId: string }, key: string, amount: number, opts: Record<string, unknown> = {}) =>
    call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: amount, p_idempotency_key: key, ...opts });
  const deduct = (org: { orgId: string; user: string }, key: string, units = 1) =>
    call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: key, p_units: units });
  /** Grants by the key they were made with: { key: { remaining, status, … } }. */
  async function grantsByKey(orgId: string): Promise<Record<string, { remaining: number; status: string; expired: number; forfeited: number; clawed_back: number; clawback_shortfall: number }>> {
    const rows = await db().query<any>(
      `select idempotency_key, remaining::int, status, expired::int, forfeited::int, clawed_back::int, clawback_shortfall::int
       from tokengate.grants where org_id = $1`,
      [orgId],
    );
    return Object.fromEntries(rows.map(({ idempotency_key, ...g }) => [idempotency_key, g]));
  }

  it('spends the allowance first, then grants by soonest expiry, then priority, then age', async () => {
    await db().setNow(T0);
    const org0 = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const org = { ...org0, user: org0.members[0]! };
    await grant(org, 'never', 10);
    await grant(org, 'late', 10, { p_expires_at: at(60) });
    await grant(org, 'soon-low', 10, { p_expires_at: at(30), p_priority: 90 });
    await grant(org, 'soon-high', 10, { p_expires_at: at(30), p_priority: 10 });
    await grant(org, 'soon-high-younger', 10, { p_expires_at: at(30), p_priority: 10 });
    // The allowance (100 = 50 uses of 2) goes first: no grant is touched.
    const first = await deduct(org, 'd1', 50);
    expect(first).toMatchObject({ fromAllowance: 100, fromPurchased: 0 });
    expect(Object.values(await grantsByKey(org.orgId)).map((g) => g.remaining)).toEqual([10, 10, 10, 10, 10]);
    // 26 tokens: soon-high (10), soon-high-younger (10), soon-low (6).
    expect(await deduct(org, 'd2', 13)).toMatchObject({ fromAllowance: 0, fromPurchased: 26 });
    expect(await grantsByKey(org.orgId)).toMatchObject({
      'soon-high': { remaining: 0 }, 'soon-high-younger': { remaining: 0 }, 'soon-low': { remaining: 4 }, late: { remaining: 10 }, never: { remaining: 10 },
    });
    // The list is in the burn order (spent grants stay listed while active).
    const listed = await call<any[]>(db(), 'grants', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation' });
    expect(listed.map((g) => g.remaining)).toEqual([0, 0, 4, 10, 10]);
    expect(listed.map((g) => g.priority)).toEqual([10, 10, 90, 50, 50]);
    await expectReconciled(db(), org.orgId);
  });

  it('a charge one grant covers takes it from the first grant in the order — by expiry, then priority, then age — for a deduct and a hold alike', async () => {
    const org = await spentOrg();
    await grant(org, 'late', 10, { p_expires_at: at(9) });
    await grant(org, 'low', 10, { p_expires_at: at(5), p_priority: 90 });
    await grant(org, 'high-young', 10, { p_expires_at: at(5), p_priority: 10 });
    await grant(org, 'never', 10);
    await db().query(`update tokengate.grants set created_at = created_at + interval '1 second' where org_id = $1 and idempotency_key = 'high-young'`, [org.orgId]);
    await grant(org, 'high-old', 10, { p_expires_at: at(5), p_priority: 10 });
    await db().query(`update tokengate.grants set created_at = created_at - interval '1 second' where org_id = $1 and idempotency_key = 'high-old'`, [org.orgId]);
    const left = async () => Object.fromEntries(Object.entries(await grantsByKey(org.orgId)).map(([k, g]) => [k, g.remaining]));
    await deduct(org, 'd1'); // 2 tokens
    expect(await left()).toEqual({ late: 10, low: 10, 'high-young': 10, never: 10, 'high-old': 8 });
    await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: 'r1', p_estimate: 8 });
    expect(await left()).toEqual({ late: 10, low: 10, 'high-young': 10, never: 10, 'high-old': 0 });
    await deduct(org, 'd2', 5);
    expect(await left()).toEqual({ late: 10, low: 10, 'high-young': 0, never: 10, 'high-old': 0 });
    await deduct(org, 'd3', 5);
    expect(await left()).toEqual({ late: 10, low: 0, 'high-young': 0, never: 10, 'high-old': 0 });
    await deduct(org, 'd4', 5);
    expect(await left()).toEqual({ late: 0, low: 0, 'high-young': 0, never: 10, 'high-old': 0 });
    await expectReconciled(db(), org.orgId);
    // (The sweep is global: leave no grant due for the tests after this one.)
    await db().setNow(at(10));
    await call(db(), 'expire_grants', {});
  });

  it('expires what is left lazily in the charging transaction, one ledger entry per grant, and the sweep does the same', async () => {
    const org = await spentOrg();
    await grant(org, 'a', 10, { p_expires_at: at(5) });
    await grant(org, 'b', 10, { p_expires_at: at(6) });
    await grant(org, 'c', 10);
    await deduct(org, 'd1', 2); // 4 from a
    await db().setNow(at(5.5));
    // The charge expires a (6 left) first, then takes from b.
    expect(await deduct(org, 'd2', 1)).toMatchObject({ fromPurchased: 2, balance: { purchased: 18 } });
    expect(await grantsByKey(org.orgId)).toMatchObject({ a: { remaining: 0, status: 'expired', expired: 6 }, b: { remaining: 8 }, c: { remaining: 10 } });
    const entries = await db().query<any>(
      `select kind, purchased_delta::int, metadata->>'expired' as expired from tokengate.ledger where org_id = $1 and kind = 'expire' order by id`,
      [org.orgId],
    );
    expect(entries).toEqual([{ kind: 'expire', purchased_delta: -6, expired: '6' }]);
    // The sweep expires b without a charge.
    await db().setNow(at(7));
    expect(await call(db(), 'expire_grants', {})).toEqual({ grants: 1, buckets: 1 });
    expect(await call(db(), 'expire_grants', {})).toEqual({ grants: 0, buckets: 0 });
    expect(await grantsByKey(org.orgId)).toMatchObject({ b: { remaining: 0, status: 'expired', expired: 8 } });
    const [b] = await db().query<any>(`select purchased_remaining::int, grants_due_at from tokengate.buckets where org_id = $1 and token_type_id = 'lead_generation'`, [org.orgId]);
    expect(b).toEqual({ purchased_remaining: 10, grants_due_at: null });
    await expectReconciled(db(), org.orgId);
  });

  it('a scheduled grant joins the pool when it takes effect, not before', async () => {
    const org = await spentOrg();
    const g = await grant(org, 'later', 25, { p_effective_at: at(3), p_source: 'promo' });
    expect(g).toMatchObject({ ledgerId: null, granted: 25, source: 'promo', balance: { purchased: 0, available: 0 } });
    expect((await failure(deduct(org, 'd1'))).name).toBe('insufficient_tokens');
    await db().setNow(at(3));
    expect(await deduct(org, 'd2')).toMatchObject({ fromPurchased: 2, balance: { purchased: 23 } });
    await expectReconciled(db(), org.orgId);
  });

  it('a hold gives tokens back to the grants it took them from; to an expired grant they are forfeited, and recorded', async () => {
    const org = await spentOrg();
    await grant(org, 'short', 10, { p_expires_at: at(0.5) });
    await grant(org, 'long', 10, { p_expires_at: at(30) });
    const hold = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: 'r1', p_estimate: 15, p_ttl_seconds: 86_400 });
    expect(await grantsByKey(org.orgId)).toMatchObject({ short: { remaining: 0 }, long: { remaining: 5 } });
    // short expires while the hold holds its 10 tokens (nothing left to expire in the pool).
    await db().setNow(at(0.75));
    expect(await call(db(), 'expire_grants', {})).toEqual({ grants: 1, buckets: 1 });
    // Commit 3 of 15: 12 come back — 5 to long (latest in the burn order first), 7 forfeited by short.
    const c = await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: hold.reservationId, p_actual: 3 });
    expect(c).toMatchObject({ charged: 3, refunded: 5, balance: { purchased: 10, held: 0 } });
    expect(await grantsByKey(org.orgId)).toMatchObject({ short: { remaining: 0, status: 'expired', forfeited: 7 }, long: { remaining: 10 } });
    const [entry] = await db().query<any>(`select metadata from tokengate.ledger where reservation_id = $1 and kind = 'commit'`, [hold.reservationId]);
    expect(entry.metadata).toMatchObject({ grantForfeited: 7 });
    await expectReconciled(db(), org.orgId);
  });

  it('clawback takes what is left, never below zero, records the shortfall, and revokes a fully refunded grant', async () => {
    const org = await spentOrg();
    await grant(org, 'pay_1', 100);
    await deduct(org, 'd1', 15); // 30 spent
    const claw = (key: string, amount: number | null, grantKey = 'pay_1') =>
      call(db(), 'clawback_grant', { p_org_id: org.orgId, p_actor_id: null, p_grant_id: null, p_grant_key: grantKey, p_amount: amount, p_idempotency_key: key, p_reason: 'refund' });
    // A partial refund of 40 tokens' worth: all of it is still there.
    expect(await claw('refund-1', 40)).toMatchObject({ clawedBack: 40, shortfall: 0, revoked: false, balance: { purchased: 30 } });
    // The rest of the payment (60): 30 are left, 30 were spent.
    expect(await claw('refund-2', 60)).toMatchObject({ clawedBack: 30, shortfall: 30, revoked: true, balance: { purchased: 0, available: 0 } });
    // Replayed: the same answer, nothing taken twice.
    expect(await claw('refund-2', 60)).toMatchObject({ clawedBack: 30, replayed: true });
    expect(await grantsByKey(org.orgId)).toMatchObject({ pay_1: { remaining: 0, status: 'revoked', clawed_back: 70, clawback_shortfall: 30 } });
    expect((await failure(claw('refund-3', 1, 'no-such-payment'))).name).toBe('grant_not_found');
    await expectReconciled(db(), org.orgId);
  });

  it('tokens a hold took from a revoked grant are forfeited when the hold gives them back', async () => {
    const org = await spentOrg();
    await grant(org, 'pay_1', 20);
    const hold = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: 'r1', p_estimate: 12 });
    const claw = await call(db(), 'clawback_grant', { p_org_id: org.orgId, p_actor_id: null, p_grant_id: null, p_grant_key: 'pay_1', p_amount: 20, p_idempotency_key: 'dispute', p_reason: 'dispute' });
    expect(claw).toMatchObject({ clawedBack: 8, shortfall: 12, revoked: true });
    const released = await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: hold.reservationId });
    expect(released).toMatchObject({ refunded: 0, balance: { purchased: 0, available: 0, held: 0 } });
    expect(await grantsByKey(org.orgId)).toMatchObject({ pay_1: { forfeited: 12, remaining: 0 } });
    await expectReconciled(db(), org.orgId);
  });

  it('the grant rules hold for every writer, the owner included: each broken rule is a check violation', async () => {
    const org = await spentOrg();
    await grant(org, 'g', 10, { p_expires_at: at(30) });
    await deduct(org, 'd1');
    const [g] = await db().query<{ id: string }>(`select id from tokengate.grants where org_id = $1`, [org.orgId]);
    const broken = [
      `amount = 0`,
      `remaining = -1`,
      `priority = 101`,
      `source = 'gift'`,
      `status = 'pending'`,
      `expired = -1`,
      `clawed_back = -1`,
      `clawback_shortfall = -1`,
      `forfeited = -1`,
      `expires_at = effective_at`,
      `ended_at = now()`, // still active
      `status = 'expired'`, // ended, but no ended_at and tokens remaining
      `status = 'expired', ended_at = now()`, // tokens remaining
    ];
    for (const set of broken) {
      const error = await db()
        .query(`update tokengate.grants set ${set} where org_id = $1 and id = $2`, [org.orgId, g!.id])
        .then(() => null, (e: { code?: string }) => e);
      expect(error?.code, set).toBe('23514');
    }
    const entry = await db()
      .query(`update tokengate.grant_entries set delta = 0 where org_id = $1`, [org.orgId])
      .then(() => null, (e: { code?: string }) => e);
    expect(entry?.code, 'a grant entry of 0').toBe('23514');
    // The rules allow what the ledger does: an expired grant with nothing left.
    await db().query(`update tokengate.grants set status = 'expired', ended_at = now(), expired = remaining, remaining = 0 where org_id = $1 and id = $2`, [org.orgId, g!.id]);
  });

  it('refuses bad grants with named errors and writes nothing', async () => {
    const org = await spentOrg();
    const before = await fingerprint(db());
    const bad = async (opts: Record<string, unknown>) => (await failure(grant(org, 'bad', 10, opts))).name;
    expect(await bad({ p_source: 'gift' })).toBe('invalid_argument');
    expect(await bad({ p_priority: 101 })).toBe('invalid_argument');
    expect(await bad({ p_expires_at: at(-1) })).toBe('invalid_argument');
    expect(await bad({ p_effective_at: at(5), p_expires_at: at(4) })).toBe('invalid_argument');
    expect((await failure(grant(org, 'bad', 0))).name).toBe('invalid_argument');
    // A member (or admin) acting as the actor is the SQL's business only through the server; the
    // SQL still refuses a plain member outright.
    expect((await failure(call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: org.user, p_token_type: 'lead_generation', p_amount: 10, p_idempotency_key: 'mine' }))).name).toBe('admin_required');
    expect((await failure(call(db(), 'clawback_grant', { p_org_id: org.orgId, p_actor_id: null, p_grant_id: null, p_grant_key: null, p_amount: 1, p_idempotency_key: 'c', p_reason: 'x' }))).name).toBe('invalid_argument');
    expect(await fingerprint(db())).toEqual(before);
  });

  it('a payment never grants twice, even after its idempotency record was pruned (a named conflict, not a crash)', async () => {
    const org = await spentOrg();
    await grant(org, 'stripe:pi_1:0', 10);
    await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: 5, p_reason: 'goodwill', p_idempotency_key: 'goodwill-1' });
    await db().setNow(at(40));
    expect(await call(db(), 'prune_idempotency_keys', { p_older_than: '30 days', p_limit: 1000 })).toMatchObject({ keys: expect.any(Number) });
    const again = await failure(grant(org, 'stripe:pi_1:0', 10));
    expect(again.name).toBe('idempotency_conflict');
    expect(again.detail).toMatchObject({ operation: 'grant', grantId: expect.any(String) });
    expect((await db().query<any>(`select count(*)::int as n from tokengate.grants where org_id = $1`, [org.orgId]))[0].n).toBe(2);
    await expectReconciled(db(), org.orgId);
  });

  it('a member lists only their own organization’s grants', async () => {
    const org = await spentOrg();
    const other = await spentOrg();
    await grant(org, 'mine', 10);
    await grant(other, 'theirs', 10);
    const listed = await call<any[]>(db(), 'grants', { p_org_id: org.orgId, p_user_id: org.user });
    expect(listed.map((g) => g.amount)).toEqual([10]);
    expect((await failure(call(db(), 'grants', { p_org_id: other.orgId, p_user_id: org.user }))).name).toBe('not_a_member');
  });

  it('an adjustment credit becomes a never-expiring adjustment grant; a debit takes from grants in the burn order', async () => {
    const org = await spentOrg();
    await grant(org, 'soon', 5, { p_expires_at: at(2) });
    await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: 7, p_reason: 'goodwill', p_idempotency_key: 'goodwill' });
    const rows = await db().query<any>(`select source, remaining::int, expires_at from tokengate.grants where org_id = $1 order by seq`, [org.orgId]);
    expect(rows).toEqual([
      { source: 'purchase', remaining: 5, expires_at: new Date(at(2)) },
      { source: 'adjustment', remaining: 7, expires_at: null },
    ]);
    await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: -6, p_reason: 'correction', p_idempotency_key: 'correction' });
    expect((await db().query<any>(`select remaining::int from tokengate.grants where org_id = $1 order by seq`, [org.orgId])).map((r) => r.remaining)).toEqual([0, 6]);
    await expectReconciled(db(), org.orgId);
  });

  it('charges a price change from the next period: the old price until the period ends', async () => {
    const org = await spentOrg();
    await grant(org, 'pay', 100);
    // A price change (as catalog push writes it): lead_generation 2 → 5 from now, for periods starting from now.
    await db().query(`insert into tokengate.token_type_prices (token_type_id, effective_from, cost) values ('lead_generation', '-infinity', 2)`);
    await db().query(`update tokengate.token_types set cost = 5, cost_from = $1 where id = 'lead_generation'`, [T0]);
    try {
      expect(await deduct(org, 'd1')).toMatchObject({ charged: 2, balance: { cost: 2 } });
      expect(await call(db(), 'check', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation' })).toMatchObject({ cost: 2, required: 2 });
      await db().setNow('2028-02-01T00:00:00Z');
      expect(await deduct(org, 'd2')).toMatchObject({ charged: 5, balance: { cost: 5 } });
      await expectReconciled(db(), org.orgId);
    } finally {
      await db().query(`update tokengate.token_types set cost = 2, cost_from = null where id = 'lead_generation'`);
      await db().query(`delete from tokengate.token_type_prices where token_type_id = 'lead_generation'`);
    }
  });

  it('verify_ledger notices a grant that does not match its moves (so the checks above can fail)', async () => {
    const org = await spentOrg();
    await grant(org, 'pay', 10);
    await db().query(`update tokengate.grants set remaining = remaining + 1 where org_id = $1`, [org.orgId]);
    const problems = await call<any[]>(db(), 'verify_ledger', { p_org_id: org.orgId });
    expect(problems.map((p) => p.check).sort()).toEqual(['grant_remaining_equals_moves', 'pool_equals_active_grants']);
    await db().query(`update tokengate.grants set remaining = remaining - 1 where org_id = $1`, [org.orgId]);
    await expectReconciled(db(), org.orgId);
  });
});


it('the migration to grants keeps every balance of a database with history, and pending holds give back to the migrated grant', async () => {
  const all = await migrationFiles();
  const cut = all.findIndex((f) => f.name.includes('_tokengate_grants'));
  expect(cut).toBeGreaterThan(0);
  const pg = await PGlite.create();
  try {
    await runMigrations((sql) => pg.exec(sql), all.slice(0, cut));
    const run = async (fn: Parameters<typeof ledgerCall>[0], args: Record<string, unknown>, now: string) => {
      const { text, values } = ledgerCall(fn, args, { now: new Date(now) });
      return (await pg.query<{ result: any }>(text, values)).rows[0]!.result;
    };
    const org = '7a1c2a9e-2b1d-4c55-9a43-6f0d5f1b7a01';
    const owner = '7a1c2a9e-2b1d-4c55-9a43-6f0d5f1b7a02';
    await run('create_account', { p_org_id: org, p_plan_id: 'pro', p_owner_id: owner, p_period_anchor: '2028-01-01T00:00:00Z' }, '2028-01-01T00:00:00Z');
    // Two months of history: top-ups, charges into the pool, a hold that took pool tokens and is still pending.
    for (const [m, now] of ['2028-01-15T10:00:00Z', '2028-02-15T10:00:00Z'].entries()) {
      await run('grant_tokens', { p_org_id: org, p_actor_id: null, p_token_type: 'lead_generation', p_amount: 40, p_idempotency_key: `g${m}` }, now);
      await run('deduct', { p_org_id: org, p_user_id: owner, p_token_type: 'lead_generation', p_idempotency_key: `d${m}`, p_units: 60 }, now);
    }
    const hold = await run('reserve', { p_org_id: org, p_user_id: owner, p_token_type: 'lead_generation', p_idempotency_key: 'pending', p_estimate: 10, p_ttl_seconds: 86_400 }, '2028-02-15T11:00:00Z');
    const balances = async () => (await run('balances', { p_org_id: org, p_user_id: owner }, '2028-02-15T12:00:00Z')).tokenTypes;
    const before = await balances();
    const lead = before.find((b: any) => b.tokenType === 'lead_generation');
    expect(lead).toMatchObject({ purchased: 30, held: 10, available: 30 });

    await runMigrations((sql) => pg.exec(sql), all.slice(cut));
    // (Later migrations add fields — `shared`, the any-type pool — and change none of the others.)
    const after = await balances();
    expect(after.map(({ shared, ...rest }: any) => rest)).toEqual(before);
    expect(after.every((b: any) => b.shared === undefined || b.shared === 0)).toBe(true);
    expect(await run('verify_ledger', { p_org_id: org }, '2028-02-15T12:00:00Z')).toEqual([]);
    const [g] = (await pg.query<any>(`select source, amount::int, remaining::int, expires_at, metadata from tokengate.grants where org_id = $1`, [org])).rows;
    expect(g).toEqual({ source: 'purchase', amount: 40, remaining: 30, expires_at: null, metadata: { migrated: true } });
    // The hold held 10 pool tokens: released, they come back to the migrated grant.
    await run('release', { p_org_id: org, p_user_id: owner, p_reservation_id: hold.reservationId }, '2028-02-15T13:00:00Z');
    expect((await pg.query<any>(`select remaining::int from tokengate.grants where org_id = $1`, [org])).rows).toEqual([{ remaining: 40 }]);
    expect(await run('verify_ledger', { p_org_id: org }, '2028-02-15T13:00:00Z')).toEqual([]);
  } finally {
    await pg.close();
  }
});
