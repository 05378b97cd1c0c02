import { ANY_TOKEN_TYPE, type Grant } from './types.ts';

/** What the burn order reads of a grant. */
export type BurnOrderGrant = Pick<Grant, 'expiresAt' | 'priority' | 'createdAt'>;

/** What {@link consumeGrants} reads and changes of a grant. */
export type ConsumableGrant = BurnOrderGrant & Pick<Grant, 'grantId' | 'remaining'> & Partial<Pick<Grant, 'status' | 'tokenType'>>;

/** Tokens taken from one grant. */
export interface GrantTake {
  grantId: string;
  amount: number;
}

/**
 * An ISO timestamp as [milliseconds, the microseconds below them]: Postgres keeps microseconds,
 * and two grants created in the same millisecond must still order as they do in SQL.
 */
function instant(iso: string): [number, number] {
  const fraction = /\.(\d+)/.exec(iso)?.[1] ?? '';
  return [Date.parse(iso), Number(fraction.slice(3, 6).padEnd(3, '0'))];
}

function compareInstants(a: string, b: string): number {
  const [am, au] = instant(a);
  const [bm, bu] = instant(b);
  return am - bm || au - bu;
}

/**
 * The ledger's burn order of grants (the same as the SQL's): `expiresAt` ascending with
 * never-expiring grants last, then `priority` ascending, then `createdAt` ascending (to the
 * microsecond). Negative when `a` is spent first; 0 for a full tie, which the ledger breaks by its
 * creation sequence (not part of the wire format): the server lists tied grants in that order, and
 * {@link sortGrants} keeps the order it is given.
 *
 * @example
 * grants.toSorted(compareGrants)
 */
export function compareGrants(a: BurnOrderGrant, b: BurnOrderGrant): number {
  if (a.expiresAt !== b.expiresAt) {
    if (a.expiresAt === null) return 1;
    if (b.expiresAt === null) return -1;
    const byExpiry = compareInstants(a.expiresAt, b.expiresAt);
    if (byExpiry !== 0) return byExpiry;
  }
  if (a.priority !== b.priority) return a.priority - b.priority;
  return compareInstants(a.createdAt, b.createdAt);
}

/**
 * A copy of `grants` in burn order (see {@link compareGrants}): the order the ledger spends them in.
 * The sort is stable: grants that tie on expiry, priority and creation time keep their order, so a
 * list from the server (already in the ledger's order, creation sequence included) stays exact.
 *
 * @example
 * const next = sortGrants(grants)[0]; // the grant the next charge beyond the allowance takes from
 */
export function sortGrants<T extends BurnOrderGrant>(grants: readonly T[]): T[] {
  return [...grants].sort(compareGrants);
}

/**
 * Spend `amount` tokens from `grants` as the ledger does: in burn order, each grant down to zero
 * before the next. Only spendable grants are touched: `active` (when a status is given), with
 * tokens left, not expired at `now`, and of `tokenType` (or any type, `'*'`) when one is given. Returns the grants in
 * their given order with `remaining` lowered, and what was taken from each, in burn order. Taking
 * never goes below zero: when the grants hold less than `amount`, the takes add up to less.
 *
 * @example
 * const { grants: after, taken } = consumeGrants(grants, 30, { tokenType: 'chat' });
 * // taken: [{ grantId: 'a…', amount: 20 }, { grantId: 'b…', amount: 10 }]
 */
export function consumeGrants<T extends ConsumableGrant>(
  grants: readonly T[],
  amount: number,
  options: { tokenType?: string; now?: Date | number } = {},
): { grants: T[]; taken: GrantTake[] } {
  const now = options.now === undefined ? Date.now() : +options.now;
  const spendable = grants.filter(
    (g) =>
      (g.status === undefined || g.status === 'active') &&
      g.remaining > 0 &&
      (g.expiresAt === null || Date.parse(g.expiresAt) > now) &&
      (options.tokenType === undefined || g.tokenType === options.tokenType || g.tokenType === ANY_TOKEN_TYPE),
  );
  const taken: GrantTake[] = [];
  let left = Math.max(0, Math.floor(amount));
  for (const g of sortGrants(spendable)) {
    if (left === 0) break;
    const take = Math.min(left, g.remaining);
    taken.push({ grantId: g.grantId, amount: take });
    left -= take;
  }
  const by = new Map(taken.map((t) => [t.grantId, t.amount]));
  return { grants: grants.map((g) => (by.has(g.grantId) ? { ...g, remaining: g.remaining - by.get(g.grantId)! } : g)), taken };
}
