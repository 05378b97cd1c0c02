/**
 * Any-type grants (migrations/20261209000001_tokengate_any_type_grants.sql): a grant of token type
 * '*' pays for every type. For a charge of one type, its own grants and the any-type grants are one
 * burn order (soonest expiry, priority, age); what an any-type grant pays moves first into the
 * type's child of it by a pair of 'transfer' entries. Every case ends reconciled.
 * (The concurrent case — charges of several types racing for one any-type grant — is in
 * concurrency.test.ts.)
 */
import { expect, it } from 'vitest';
import { describeEachDb } from '../db.ts';
import { call, createOrg, expectReconciled, failure } from '../ledger.ts';

const T0 = '2028-01-10T12:00:00Z';
const DAY = 86_400_000;
const at = (days: number) => new Date(Date.parse(T0) + days * DAY).toISOString();

describeEachDb('any-type grants', (db) => {
  /** A Pro org whose lead_generation (cost 2) and quest_generation (cost 3) allowances are spent. */
  async function spentOrg() {
    await db().setNow(T0);
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    for (const [type, amount] of [['lead_generation', 100], ['quest_generation', 60]] as const) {
      await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: type, p_amount: -amount, p_reason: 'spend the allowance', p_idempotency_key: `spend-${type}` });
    }
    return { ...org, user: org.members[0]! };
  }
  type Org = Awaited<ReturnType<typeof spentOrg>>;
  const grant = (org: Org, key: string, amount: number, type = '*', opts: Record<string, unknown> = {}) =>
    call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: type, p_amount: amount, p_idempotency_key: key, ...opts });
  const deduct = (org: Org, type: string, key: string, units = 1) =>
    call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: type, p_idempotency_key: key, p_units: units });
  const balance = async (org: Org, type: string) =>
    (await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: org.user })).tokenTypes.find((b: any) => b.tokenType === type);
  /** What is left of the any-type grant `key` in the pool and in each type's child of it. */
  async function shares(org: Org, key: string) {
    const rows = await db().query<{ token_type_id: string; remaining: number }>(
      `select g.token_type_id, g.remaining::int from tokengate.grants g
       join tokengate.grants p on p.org_id = g.org_id and p.id = coalesce(g.parent_id, g.id)
       where g.org_id = $1 and p.idempotency_key = $2 and g.status = 'active' order by g.token_type_id`, [org.orgId, key]);
    return Object.fromEntries(rows.map((r) => [r.token_type_id, r.remaining]));
  }

  it('one any-type grant pays for two token types; every balance counts it as shared and available', async () => {
    const org = await spentOrg();
    const made = await grant(org, 'pack', 20);
    expect(made).toMatchObject({ tokenType: '*', granted: 20 });
    expect(await balance(org, 'lead_generation')).toMatchObject({ purchased: 0, shared: 20, available: 20 });
    expect(await balance(org, 'quest_generation')).toMatchObject({ purchased: 0, shared: 20, available: 20 });

    const lead = await deduct(org, 'lead_generation', 'd1', 2); // 4 tokens
    expect(lead).toMatchObject({ charged: 4, fromPurchased: 4, balance: { purchased: 0, shared: 16, available: 16 } });
    const quest = await deduct(org, 'quest_generation', 'd2', 5); // 15 tokens
    expect(quest).toMatchObject({ charged: 15, balance: { shared: 1, available: 1 } });
    expect(await shares(org, 'pack')).toEqual({ '*': 1, lead_generation: 0, quest_generation: 0 });
    // One token left: a charge of 2 is refused with the pool counted in what is available.
    const refused = await failure(deduct(org, 'lead_generation', 'd3'));
    expect(refused).toMatchObject({ name: 'insufficient_tokens', detail: { available: 1, required: 2 } });

    // Each move is a pair of transfer entries that charge nothing; the charge itself is one entry.
    const entries = await db().query<{ token_type_id: string; kind: string; purchased_delta: number; charged: number }>(
      `select token_type_id, kind, purchased_delta::int, charged::int from tokengate.ledger
       where org_id = $1 and kind in ('transfer', 'deduct') order by id`, [org.orgId]);
    expect(entries).toEqual([
      { token_type_id: '*', kind: 'transfer', purchased_delta: -4, charged: 0 },
      { token_type_id: 'lead_generation', kind: 'transfer', purchased_delta: 4, charged: 0 },
      { token_type_id: 'lead_generation', kind: 'deduct', purchased_delta: -4, charged: 4 },
      { token_type_id: '*', kind: 'transfer', purchased_delta: -15, charged: 0 },
      { token_type_id: 'quest_generation', kind: 'transfer', purchased_delta: 15, charged: 0 },
      { token_type_id: 'quest_generation', kind: 'deduct', purchased_delta: -15, charged: 15 },
    ]);
    await expectReconciled(db(), org.orgId);
  });

  it("a type's own grants and the any-type grants are one burn order: soonest expiry first, then priority, then age", async () => {
    const org = await spentOrg();
    await grant(org, 'own-never', 10, 'lead_generation');
    await grant(org, 'any-soon', 6, '*', { p_expires_at: at(3) });
    await grant(org, 'own-soon', 4, 'lead_generation', { p_expires_at: at(3) });
    await grant(org, 'any-later', 10, '*', { p_expires_at: at(20), p_priority: 10 });
    await grant(org, 'own-later-low', 5, 'lead_generation', { p_expires_at: at(20), p_priority: 90 });
    const left = async () => Object.fromEntries((await db().query<{ key: string; total: number }>(
      `select coalesce(p.idempotency_key, g.idempotency_key) as key, sum(g.remaining)::int as total from tokengate.grants g
       left join tokengate.grants p on p.org_id = g.org_id and p.id = g.parent_id
       where g.org_id = $1 and g.status = 'active' group by 1`, [org.orgId])).map((r) => [r.key, r.total]));
    // 8 tokens: any-soon (6: same expiry and priority as own-soon, and older), then own-soon (2 of 4).
    await deduct(org, 'lead_generation', 'd1', 4);
    expect(await left()).toEqual({ 'own-never': 10, 'any-soon': 0, 'own-soon': 2, 'any-later': 10, 'own-later-low': 5 });
    // 12 more: own-soon (2), any-later (10: same expiry as own-later-low, priority 10 before 90).
    await deduct(org, 'lead_generation', 'd2', 6);
    expect(await left()).toEqual({ 'own-never': 10, 'any-soon': 0, 'own-soon': 0, 'any-later': 0, 'own-later-low': 5 });
    // Then own-later-low (5), then the never-expiring one (1).
    await deduct(org, 'lead_generation', 'd3', 3);
    expect(await left()).toEqual({ 'own-never': 9, 'any-soon': 0, 'own-soon': 0, 'any-later': 0, 'own-later-low': 0 });
    // The list of one type's grants shows the any-type grants with it.
    const listed = await call<any[]>(db(), 'grants', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation' });
    expect(listed.filter((g) => g.anyType).map((g) => g.tokenType)).toEqual(['*', '*']);
    expect(listed.filter((g) => g.parentId).every((g) => g.tokenType === 'lead_generation')).toBe(true);
    await expectReconciled(db(), org.orgId);
  });

  it('holds and guarded runs take from the pool; a release gives back to the type, a commit over the estimate takes more from the pool', async () => {
    const org = await spentOrg();
    await grant(org, 'pack', 30);
    const hold = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: 'r1', p_estimate: 10 });
    expect(hold).toMatchObject({ held: 10, balance: { shared: 20, available: 20, held: 10 } });
    // Commit 14 of an estimate of 10: the extra 4 come from the pool too.
    const committed = await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: hold.reservationId, p_actual: 14 });
    expect(committed).toMatchObject({ charged: 14, uncharged: 0, balance: { shared: 16, available: 16 } });
    // A guarded run's hold, released: its tokens return to lead_generation's share of the grant.
    const run = await call(db(), 'guard_begin', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: 'g1', p_estimate: 6 });
    expect(run).toMatchObject({ outcome: 'run', reservation: { held: 6 } });
    await call(db(), 'guard_release', { p_org_id: org.orgId, p_user_id: org.user, p_idempotency_key: 'g1', p_reservation_id: run.reservation.reservationId });
    expect(await shares(org, 'pack')).toEqual({ '*': 10, lead_generation: 6 });
    expect(await balance(org, 'lead_generation')).toMatchObject({ purchased: 6, shared: 10, available: 16 });
    expect(await balance(org, 'quest_generation')).toMatchObject({ purchased: 0, shared: 10, available: 10 });
    await expectReconciled(db(), org.orgId);
  });

  it('an any-type grant expires in the pool and in every type that received part of it (lazily and by the sweep)', async () => {
    const org = await spentOrg();
    await grant(org, 'promo', 20, '*', { p_source: 'promo', p_expires_at: at(2) });
    await deduct(org, 'lead_generation', 'd1', 2);
    const hold = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'lead_generation', p_idempotency_key: 'r1', p_estimate: 2 });
    await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: hold.reservationId });
    expect(await shares(org, 'promo')).toEqual({ '*': 14, lead_generation: 2 });
    await db().setNow(at(3));
    // Lazily: the next charge of quest_generation finds nothing (the pool's grant expired first).
    expect(await failure(deduct(org, 'quest_generation', 'd2'))).toMatchObject({ name: 'insufficient_tokens', detail: { available: 0 } });
    // The sweep expires lead_generation's part.
    await call(db(), 'expire_grants', {});
    const ended = await db().query<{ token_type_id: string; status: string; expired: number }>(
      `select token_type_id, status, expired::int from tokengate.grants where org_id = $1 order by token_type_id`, [org.orgId]);
    expect(ended).toEqual([{ token_type_id: '*', status: 'expired', expired: 14 }, { token_type_id: 'lead_generation', status: 'expired', expired: 2 }]);
    expect(await balance(org, 'lead_generation')).toMatchObject({ purchased: 0, shared: 0, available: 0 });
    await expectReconciled(db(), org.orgId);
  });

  it('a clawback of an any-type grant takes back what every type has left of it and revokes its parts', async () => {
    const org = await spentOrg();
    const made = await grant(org, 'stripe:pi_1:0', 20);
    await deduct(org, 'lead_generation', 'd1', 2); // 4 tokens move to lead_generation and are spent
    const hold = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: 'quest_generation', p_idempotency_key: 'r1', p_estimate: 6 });
    await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.user, p_reservation_id: hold.reservationId });
    expect(await shares(org, 'stripe:pi_1:0')).toEqual({ '*': 10, lead_generation: 0, quest_generation: 6 });
    const back = await call(db(), 'clawback_grant', { p_org_id: org.orgId, p_actor_id: null, p_grant_id: made.grantId, p_grant_key: null, p_amount: null, p_idempotency_key: 'refund-1', p_reason: 'refunded' });
    expect(back).toMatchObject({ clawedBack: 16, shortfall: 0, revoked: true });
    const statuses = await db().query<{ status: string; remaining: number }>(
      `select status, remaining::int from tokengate.grants where org_id = $1`, [org.orgId]);
    expect(statuses.every((g) => g.status === 'revoked' && g.remaining === 0)).toBe(true);
    expect(await balance(org, 'quest_generation')).toMatchObject({ purchased: 0, shared: 0, available: 0 });
    await expectReconciled(db(), org.orgId);
  });

  it("operators' near-exhaustion counts the pool in what is available, and never lists the pool's own bucket", async () => {
    const org = await spentOrg();
    const listed = async () => (await call<any[]>(db(), 'operator_near_exhaustion', { p_percent: 50, p_limit: 1000 })).filter((r) => r.orgId === org.orgId);
    // Spent allowances, nothing granted: exhausted.
    expect((await listed()).find((r) => r.tokenType === 'lead_generation')).toMatchObject({ available: 0, shared: 0 });
    await grant(org, 'pack', 40);
    const rows = await listed();
    expect(rows.some((r) => r.tokenType === '*')).toBe(false);
    // 40 of a 100-token allowance: below 50 %, with the pool counted.
    expect(rows.find((r) => r.tokenType === 'lead_generation')).toMatchObject({ available: 40, shared: 40, percentLeft: 40 });
    // 40 of 60 (quest_generation): above 50 %, no longer listed.
    expect(rows.find((r) => r.tokenType === 'quest_generation')).toBeUndefined();
  });

  it("attackers: a member cannot charge, grant to or read another org's pool through '*', and a client role cannot call the pool's functions", async () => {
    const org = await spentOrg();
    await grant(org, 'pack', 10);
    // '*' is not a token type a member can be charged in (it would spend the pool without a type).
    expect(await failure(deduct(org, '*', 'd1'))).toMatchObject({ name: 'unknown_token_type' });
    expect(await failure(call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.user, p_token_type: '*', p_idempotency_key: 'r1', p_estimate: 1 })))
      .toMatchObject({ name: 'unknown_token_type' });
    // Another org's member sees nothing of this pool and cannot spend it.
    const other = await spentOrg();
    expect(await balance(other, 'lead_generation')).toMatchObject({ shared: 0, available: 0 });
    expect(await failure(deduct({ ...org, user: other.user }, 'lead_generation', 'd2'))).toMatchObject({ name: 'not_a_member' });
    // Clients (authenticated) may execute none of the functions that move pool tokens.
    const executable = await db().query<{ fn: string }>(
      `select p.proname as fn from pg_proc p where p.pronamespace = 'tokengate'::regnamespace
         and p.proname in ('grant_tokens', '_shared_lock', '_shared_fill', '_shared_gather', '_shared_available', 'clawback_grant')
         and has_function_privilege('authenticated', p.oid, 'execute')`);
    expect(executable).toEqual([]);
    await expectReconciled(db(), org.orgId);
  });

  it('verify_ledger notices a transfer without its pair (so the check can fail)', async () => {
    const org = await spentOrg();
    await grant(org, 'pack', 10);
    await deduct(org, 'lead_generation', 'd1');
    await db().query(`alter table tokengate.ledger disable trigger ledger_is_append_only`);
    try {
      await db().query(`update tokengate.ledger set purchased_delta = purchased_delta - 1 where org_id = $1 and kind = 'transfer' and token_type_id = '*'`, [org.orgId]);
      const problems = await call<any[]>(db(), 'verify_ledger', { p_org_id: org.orgId });
      expect(problems.map((p) => p.check)).toContain('transfers_balance');
      await db().query(`update tokengate.ledger set purchased_delta = purchased_delta + 1 where org_id = $1 and kind = 'transfer' and token_type_id = '*'`, [org.orgId]);
    } finally {
      await db().query(`alter table tokengate.ledger enable trigger ledger_is_append_only`);
    }
    await expectReconciled(db(), org.orgId);
  });
});
