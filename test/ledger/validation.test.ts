import { beforeAll, expect, it } from 'vitest';
import { describeEachDb } from '../db.ts';
import { call, createOrg, failure, fingerprint, type LedgerFunction, type SeededOrg } from '../ledger.ts';

describeEachDb('bad arguments raise a named error and write nothing', (db) => {
  let org: SeededOrg;
  let user: string;
  let reservationId: string;

  beforeAll(async () => {
    org = await createOrg(db(), { plan: 'pro' });
    user = org.members[0]!;
    const r = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'setup' });
    reservationId = r.reservationId;
  });

  const longKey = 'k'.repeat(256);
  const bigMetadata = { blob: 'x'.repeat(5000) };
  const base = () => ({ p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'fresh-key' });

  const cases: [string, LedgerFunction, () => Record<string, unknown>, string, string?][] = [
    ['zero units', 'deduct', () => ({ ...base(), p_units: 0 }), 'invalid_argument', 'p_units'],
    ['negative units', 'deduct', () => ({ ...base(), p_units: -5 }), 'invalid_argument', 'p_units'],
    ['absurd units', 'deduct', () => ({ ...base(), p_units: 1_000_000 }), 'invalid_argument', 'p_units'],
    ['NULL units', 'deduct', () => ({ ...base(), p_units: null }), 'invalid_argument', 'p_units'],
    ['unknown token type', 'deduct', () => ({ ...base(), p_token_type: 'teleportation' }), 'unknown_token_type'],
    ['NULL token type', 'deduct', () => ({ ...base(), p_token_type: null }), 'invalid_argument', 'p_token_type'],
    ['unknown organization', 'deduct', () => ({ ...base(), p_org_id: crypto.randomUUID() }), 'unknown_organization'],
    ['NULL organization', 'deduct', () => ({ ...base(), p_org_id: null }), 'invalid_argument', 'p_org_id'],
    ['non-member', 'deduct', () => ({ ...base(), p_user_id: crypto.randomUUID() }), 'not_a_member'],
    ['NULL user', 'deduct', () => ({ ...base(), p_user_id: null }), 'invalid_argument', 'p_user_id'],
    ['over-long idempotency key', 'deduct', () => ({ ...base(), p_idempotency_key: longKey }), 'invalid_argument', 'p_idempotency_key'],
    ['empty idempotency key', 'deduct', () => ({ ...base(), p_idempotency_key: '' }), 'invalid_argument', 'p_idempotency_key'],
    ['control characters in the key', 'deduct', () => ({ ...base(), p_idempotency_key: 'a\nb' }), 'invalid_argument', 'p_idempotency_key'],
    ['NULL idempotency key', 'deduct', () => ({ ...base(), p_idempotency_key: null }), 'invalid_argument', 'p_idempotency_key'],
    ['over-long metadata', 'deduct', () => ({ ...base(), p_metadata: bigMetadata }), 'invalid_argument', 'p_metadata'],
    ['metadata not an object', 'deduct', () => ({ ...base(), p_metadata: [1, 2] }), 'invalid_argument', 'p_metadata'],
    ['NULL metadata', 'deduct', () => ({ ...base(), p_metadata: null }), 'invalid_argument', 'p_metadata'],
    ['zero estimate', 'reserve', () => ({ ...base(), p_estimate: 0 }), 'invalid_argument', 'p_estimate'],
    ['negative estimate', 'reserve', () => ({ ...base(), p_estimate: -1 }), 'invalid_argument', 'p_estimate'],
    ['absurd estimate', 'reserve', () => ({ ...base(), p_estimate: 2_000_000_000 }), 'invalid_argument', 'p_estimate'],
    ['zero ttl', 'reserve', () => ({ ...base(), p_ttl_seconds: 0 }), 'invalid_argument', 'p_ttl_seconds'],
    ['ttl over a day', 'reserve', () => ({ ...base(), p_ttl_seconds: 86401 }), 'invalid_argument', 'p_ttl_seconds'],
    ['estimate beyond the balance', 'reserve', () => ({ ...base(), p_estimate: 21 }), 'insufficient_tokens'],
    ['negative actual', 'commit', () => ({ p_org_id: org.orgId, p_user_id: user, p_reservation_id: reservationId, p_actual: -1 }), 'invalid_argument', 'p_actual'],
    ['absurd actual', 'commit', () => ({ p_org_id: org.orgId, p_user_id: user, p_reservation_id: reservationId, p_actual: 10_000_000 }), 'invalid_argument', 'p_actual'],
    ['NULL actual', 'commit', () => ({ p_org_id: org.orgId, p_user_id: user, p_reservation_id: reservationId, p_actual: null }), 'invalid_argument', 'p_actual'],
    ['NULL reservation', 'commit', () => ({ p_org_id: org.orgId, p_user_id: user, p_reservation_id: null, p_actual: 1 }), 'invalid_argument', 'p_reservation_id'],
    ['unknown reservation', 'release', () => ({ p_org_id: org.orgId, p_user_id: user, p_reservation_id: crypto.randomUUID() }), 'reservation_not_found'],
    ['zero check amount', 'check', () => ({ p_org_id: org.orgId, p_user_id: user, p_token_type: 'goal_generation', p_amount: 0 }), 'invalid_argument', 'p_amount'],
    ['zero grant', 'grant_tokens', () => ({ p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 0, p_idempotency_key: 'g' }), 'invalid_argument', 'p_amount'],
    ['negative grant', 'grant_tokens', () => ({ p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: -10, p_idempotency_key: 'g' }), 'invalid_argument', 'p_amount'],
    ['grant by a plain member', 'grant_tokens', () => ({ p_org_id: org.orgId, p_actor_id: user, p_token_type: 'goal_generation', p_amount: 10, p_idempotency_key: 'g' }), 'admin_required'],
    ['grant by an outsider', 'grant_tokens', () => ({ p_org_id: org.orgId, p_actor_id: crypto.randomUUID(), p_token_type: 'goal_generation', p_amount: 10, p_idempotency_key: 'g' }), 'not_a_member'],
    ['zero adjustment', 'adjust', () => ({ p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 0, p_reason: 'x', p_idempotency_key: 'a' }), 'invalid_argument', 'p_amount'],
    ['adjustment without a reason', 'adjust', () => ({ p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 5, p_reason: '', p_idempotency_key: 'a' }), 'invalid_argument', 'p_reason'],
    ['debit beyond the balance', 'adjust', () => ({ p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: -1000, p_reason: 'oops', p_idempotency_key: 'a' }), 'insufficient_tokens'],
    ['negative quota', 'set_member_quota', () => ({ p_org_id: org.orgId, p_actor_id: null, p_user_id: user, p_token_type: 'goal_generation', p_quota: -1 }), 'invalid_argument', 'p_quota'],
    ['quota for a non-member', 'set_member_quota', () => ({ p_org_id: org.orgId, p_actor_id: null, p_user_id: crypto.randomUUID(), p_token_type: 'goal_generation', p_quota: 1 }), 'not_a_member'],
    ['unknown role', 'add_member', () => ({ p_org_id: org.orgId, p_actor_id: null, p_user_id: crypto.randomUUID(), p_role: 'king' }), 'invalid_argument', 'p_role'],
    ['member added by a member', 'add_member', () => ({ p_org_id: org.orgId, p_actor_id: user, p_user_id: crypto.randomUUID(), p_role: 'member' }), 'admin_required'],
    ['unknown plan', 'create_account', () => ({ p_org_id: crypto.randomUUID(), p_plan_id: 'platinum', p_owner_id: crypto.randomUUID() }), 'unknown_plan'],
    ['account without owner', 'create_account', () => ({ p_org_id: crypto.randomUUID(), p_plan_id: 'pro', p_owner_id: null }), 'invalid_argument', 'p_owner_id'],
    ['sweep limit zero', 'expire_reservations', () => ({ p_limit: 0 }), 'invalid_argument', 'p_limit'],
  ];

  for (const [title, fn, args, name, argument] of cases) {
    it(`${fn}: ${title} → ${name}`, async () => {
      const before = await fingerprint(db());
      const error = await failure(call(db(), fn, args()));
      expect(error.name).toBe(name);
      expect(error.code).toMatch(/^TG[A-Z0-9]{3}$/);
      if (argument) expect(error.detail).toMatchObject({ argument });
      expect(await fingerprint(db())).toEqual(before);
    });
  }

  it('every error the ledger raises is documented in tokengate.error_codes with its HTTP status', async () => {
    const rows = await db().query<{ name: string; sqlstate: string; http_status: number }>(
      `select name, sqlstate, http_status from tokengate.error_codes order by sqlstate`,
    );
    const seen = new Set(cases.map((c) => c[3]));
    for (const name of seen) expect(rows.map((r) => r.name)).toContain(name);
    expect(new Set(rows.map((r) => r.sqlstate)).size).toBe(rows.length);
  });
});
