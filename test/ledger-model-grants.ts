/**
 * Grants in the reference model (test/ledger-model.ts): blocks of purchased tokens with a source,
 * a priority, a start and an expiry. Written from the rules in the header comment of
 * migrations/20261208000001_tokengate_grants.sql, not from its function bodies:
 *
 *  - The bucket's purchased pool is the sum of what is left of its active grants.
 *  - Burn order (what a charge takes from first, after the allowance): soonest expiry first
 *    (never-expiring last), then priority (0 first), then creation order.
 *  - A hold remembers what it took from each grant; what it gives back returns to those grants in
 *    the reverse burn order (the hold keeps what it would have used first). A grant that has
 *    expired (clock ≥ its expiry, swept or not) or was revoked forfeits what would come back.
 *  - Due work, when a bucket is touched: scheduled grants whose start came join the pool (in start,
 *    creation order; one 'grant' entry each), then active grants past their expiry lose what is
 *    left (one 'expire' entry each, none if nothing is left).
 *
 * These are plain functions over plain data, so the model's copy-on-call transactions keep working.
 */

export type GrantSource = 'plan' | 'purchase' | 'promo' | 'adjustment';
export const GRANT_SOURCES: GrantSource[] = ['plan', 'purchase', 'promo', 'adjustment'];
export type GrantStatus = 'scheduled' | 'active' | 'expired' | 'revoked';

export interface Grant {
  /** Creation order (the SQL `seq`); the test maps it to the SQL grant id. */
  index: number;
  type: string;
  source: GrantSource;
  /** What will be (or was) granted; a clawback of a scheduled grant shrinks it. */
  amount: number;
  remaining: number;
  priority: number;
  effectiveAt: number;
  expiresAt: number | null;
  status: GrantStatus;
  expired: number;
  clawedBack: number;
  clawbackShortfall: number;
  forfeited: number;
  /** The idempotency key it was made with (grant_tokens' key, or the adjust's for an adjustment). */
  key: string | null;
}

/** grant index → tokens a hold took from it and has not given back. */
export type Taken = Record<number, number>;

/** Burn order: soonest expiry (never last), lowest priority number, oldest. */
export function burnOrder(a: Grant, b: Grant): number {
  const ea = a.expiresAt ?? Infinity;
  const eb = b.expiresAt ?? Infinity;
  if (ea !== eb) return ea < eb ? -1 : 1;
  if (a.priority !== b.priority) return a.priority - b.priority;
  return a.index - b.index;
}

/** Whether a grant can take tokens back at `clock` (active and not past its expiry). */
export function canTakeBack(g: Grant, clock: number): boolean {
  return g.status === 'active' && (g.expiresAt === null || g.expiresAt > clock);
}

/** The pool of a type: what is left of its active grants. */
export function pool(grants: Grant[], type: string): number {
  return grants.filter((g) => g.type === type && g.status === 'active').reduce((n, g) => n + g.remaining, 0);
}

/**
 * Take `amount` from the active grants of `type` in the burn order; returns what came from each.
 * The pool is the sum of the grants, so they always hold enough (else the model itself is wrong).
 */
export function takeFromGrants(grants: Grant[], type: string, amount: number): Taken {
  const taken: Taken = {};
  let left = amount;
  for (const g of grants.filter((x) => x.type === type && x.status === 'active' && x.remaining > 0).sort(burnOrder)) {
    if (left === 0) break;
    const n = Math.min(left, g.remaining);
    g.remaining -= n;
    taken[g.index] = n;
    left -= n;
  }
  if (left > 0) throw new Error(`model: the grants of ${type} hold ${left} tokens less than asked`);
  return taken;
}

/**
 * Give back `amount` of what a hold took (`taken`, updated), latest in the burn order first.
 * Returns what went back into the pool and what was forfeited to expired or revoked grants.
 */
export function giveBack(grants: Grant[], taken: Taken, amount: number, clock: number): { returned: number; forfeited: number } {
  let left = amount;
  let returned = 0;
  let forfeited = 0;
  const from = Object.keys(taken)
    .map((i) => grants[Number(i)]!)
    .filter((g) => taken[g.index]! > 0)
    .sort((a, b) => burnOrder(b, a));
  for (const g of from) {
    if (left === 0) break;
    const n = Math.min(left, taken[g.index]!);
    taken[g.index] = taken[g.index]! - n;
    if (canTakeBack(g, clock)) {
      g.remaining += n;
      returned += n;
    } else {
      g.forfeited += n;
      forfeited += n;
    }
    left -= n;
  }
  if (left > 0) throw new Error(`model: a hold gives back ${left} tokens more than it took from grants`);
  return { returned, forfeited };
}

/** When `type` next has grant work: the soonest start of a scheduled grant or expiry of an active one. */
export function nextDue(grants: Grant[], type: string): number | null {
  let next: number | null = null;
  for (const g of grants) {
    if (g.type !== type) continue;
    const at = g.status === 'scheduled' ? g.effectiveAt : g.status === 'active' ? g.expiresAt : null;
    if (at !== null && (next === null || at < next)) next = at;
  }
  return next;
}

/**
 * Do the due grant work of `type`: activations, then expiries. Returns the pool's change, the
 * number of ledger entries written and the number of grants activated or expired.
 */
export function doGrantsDue(grants: Grant[], type: string, clock: number): { poolDelta: number; entries: number; count: number } {
  let poolDelta = 0;
  let entries = 0;
  let count = 0;
  const starting = grants
    .filter((g) => g.type === type && g.status === 'scheduled' && g.effectiveAt <= clock)
    .sort((a, b) => a.effectiveAt - b.effectiveAt || a.index - b.index);
  for (const g of starting) {
    g.status = 'active';
    g.remaining = g.amount;
    poolDelta += g.amount;
    entries += 1;
    count += 1;
  }
  for (const g of grants.filter((x) => x.type === type && x.status === 'active' && x.expiresAt !== null && x.expiresAt <= clock)) {
    if (g.remaining > 0) entries += 1;
    poolDelta -= g.remaining;
    g.expired = g.remaining;
    g.remaining = 0;
    g.status = 'expired';
    count += 1;
  }
  return { poolDelta, entries, count };
}
