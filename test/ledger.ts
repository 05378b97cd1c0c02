/**
 * Test helpers for the SQL ledger: call its functions with named arguments, seed organizations,
 * read errors, and reconcile. Used by every database suite; no business logic of its own.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { ledgerCall, type LedgerFunction } from '../server/ledger-call.ts';

export type { LedgerFunction };

/** Anything that runs parameterised SQL: a TestDb, a role-scoped querier, or a pg client. */
export interface SqlRunner {
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/**
 * Call a ledger function and return its JSON result.
 * @example const r = await call(db, 'deduct', { p_org_id, p_user_id, p_token_type: 'quest_generation', p_idempotency_key: 'k1' });
 */
export async function call<T = any>(db: SqlRunner, fn: LedgerFunction, args: Record<string, unknown>): Promise<T> {
  const { text, values } = ledgerCall(fn, args);
  const rows = await db.query<{ result: T }>(text, values);
  return rows[0]!.result;
}

/** A database error as the ledger raises it: stable name, SQLSTATE and JSON detail. */
export interface LedgerError {
  name: string;
  code: string;
  detail: Record<string, unknown> | null;
}

/** Read a ledger error from whatever the driver threw (pg and PGlite both expose code/message/detail). */
export function ledgerError(error: unknown): LedgerError {
  const e = error as { message?: string; code?: string; detail?: string };
  let detail: Record<string, unknown> | null = null;
  try {
    detail = e.detail ? JSON.parse(e.detail) : null;
  } catch {
    detail = null;
  }
  return { name: e.message ?? String(error), code: e.code ?? '', detail };
}

/**
 * Await a call that must fail, and return its error (fails the test if it succeeds).
 * @example expect((await failure(call(db, 'deduct', {...}))).name).toBe('insufficient_tokens')
 */
export async function failure(promise: Promise<unknown>): Promise<LedgerError> {
  try {
    await promise;
  } catch (error) {
    return ledgerError(error);
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** A seeded organization: its id, owner and members (user ids). */
export interface SeededOrg {
  orgId: string;
  owner: string;
  admin: string;
  members: string[];
}

/**
 * Create an organization with an owner, an admin and `members` plain members.
 * @example const org = await createOrg(db, { plan: 'pro', anchor: '2028-01-31T10:00:00Z' });
 */
export async function createOrg(
  db: SqlRunner,
  options: { plan?: string; anchor?: string | Date; members?: number } = {},
): Promise<SeededOrg> {
  const orgId = randomUUID();
  const owner = randomUUID();
  const admin = randomUUID();
  await call(db, 'create_account', {
    p_org_id: orgId,
    p_plan_id: options.plan ?? 'pro',
    p_owner_id: owner,
    p_period_anchor: options.anchor ?? null,
  });
  await call(db, 'add_member', { p_org_id: orgId, p_actor_id: owner, p_user_id: admin, p_role: 'admin' });
  const members: string[] = [];
  for (let i = 0; i < (options.members ?? 1); i++) {
    const user = randomUUID();
    await call(db, 'add_member', { p_org_id: orgId, p_actor_id: owner, p_user_id: user, p_role: 'member' });
    members.push(user);
  }
  return { orgId, owner, admin, members };
}

/** Assert that the ledger reconciles with every bucket, hold and rollup (optionally of one org). */
export async function expectReconciled(db: SqlRunner, orgId: string | null = null): Promise<void> {
  const problems = await call<unknown[]>(db, 'verify_ledger', { p_org_id: orgId });
  expect(problems).toEqual([]);
}

/** Count rows of a tokengate table, optionally for one organization. */
export async function countRows(db: SqlRunner, table: string, orgId?: string): Promise<number> {
  const rows = await db.query<{ n: number | string }>(
    `select count(*) as n from tokengate.${table}${orgId ? ' where org_id = $1' : ''}`,
    orgId ? [orgId] : [],
  );
  return Number(rows[0]!.n);
}

/** One bucket row, as stored. */
export async function bucket(db: SqlRunner, orgId: string, tokenType: string) {
  const rows = await db.query<{
    allowance: number;
    allowance_remaining: number;
    purchased_remaining: number;
    held: number;
    used: number;
    period_start: Date;
    period_end: Date;
  }>(
    `select allowance, allowance_remaining, purchased_remaining::int as purchased_remaining, held::int as held,
            used::int as used, period_start, period_end
     from tokengate.buckets where org_id = $1 and token_type_id = $2`,
    [orgId, tokenType],
  );
  return rows[0];
}

/**
 * Fingerprint of everything a request could write: row counts and a digest of mutable rows.
 *
 * @example
 * const before = await fingerprint(db); …; expect(await fingerprint(db)).toEqual(before);
 */
export async function fingerprint(db: SqlRunner): Promise<Record<string, unknown>> {
  const [row] = await db.query(`
    select (select count(*) from tokengate.ledger)::int as ledger,
           (select count(*) from tokengate.idempotency_keys)::int as keys,
           (select count(*) from tokengate.buckets)::int as buckets,
           (select count(*) from tokengate.usage_daily)::int as usage,
           (select count(*) from tokengate.member_usage)::int as member_usage,
           (select coalesce(sum(allowance_remaining + purchased_remaining + held + used), 0)::bigint::text from tokengate.buckets) as balance,
           (select md5(coalesce(string_agg(id::text || status, ',' order by id), '')) from tokengate.reservations) as reservations,
           (select md5(coalesce(string_agg(org_id::text || user_id::text || role, ',' order by org_id, user_id), '')) from tokengate.members) as members,
           (select md5(coalesce(string_agg(org_id::text || user_id::text || token_type_id || monthly_quota, ',' order by org_id, user_id, token_type_id), '')) from tokengate.member_quotas) as quotas,
           (select md5(coalesce(string_agg(org_id::text || plan_id, ',' order by org_id), '')) from tokengate.accounts) as accounts`);
  return row!;
}
