import type { BalanceChange, Balances } from '../core/types.ts';

/** Entries that consume tokens (the bucket's `used` grows by what they charge). */
const CHARGES = new Set(['deduct', 'commit']);
/** Entries of the frequent path, patched in place; the rest (refresh, adjust: a new period, a plan change) are refetched. */
const PATCHED = new Set(['deduct', 'reserve', 'commit', 'release', 'expire', 'grant']);
/** Entries that move a member's quota spending (charged plus held). */
const MEMBER_SPEND = new Set(['deduct', 'reserve', 'commit', 'release', 'expire']);
/** Entries that never raise remaining + purchased + held (they spend it, or move it to and from held). */
const NEVER_RAISE = MEMBER_SPEND;

/**
 * `balances` with one change applied, and whether the balances must also be refetched for what
 * the change does not carry. A change carries the bucket's figures after it (allowance remaining,
 * purchased, held, available), so the frequent entries are patched in place; `used` grows by what
 * a charge consumed (the fall of remaining + purchased + held), or is taken from the change when it
 * carries one. A spending entry that would raise remaining + purchased + held is older than the
 * cache, and left out. Refetched instead: a new period
 * (`refresh`: period dates, allowance), an `adjust` (it may be a plan change: allowance, access), a
 * token type or plan kind the cache does not show yet, an unlimited plan's charge (its figures do
 * not move), and a change that may move the caller's member quota (the feed names no member).
 *
 * @example
 * const { balances: next, refetch } = applyBalanceChange(cached, change);
 * queryClient.setQueryData(key, next);
 * if (refetch) void queryClient.invalidateQueries({ queryKey: key });
 */
export function applyBalanceChange(balances: Balances, change: BalanceChange): { balances: Balances; refetch: boolean } {
  const b = balances.tokenTypes.find((t) => t.tokenType === change.tokenType);
  // A token type the cache does not know, or a plan that became or stopped being unlimited.
  if (!b || (change.available === null) !== b.unlimited) return { balances, refetch: true };
  const charge = CHARGES.has(change.kind);
  const total = b.allowanceRemaining + b.purchased + b.held;
  const after = change.allowanceRemaining + change.purchased + change.held;
  // Above the cache after an entry that never raises it: the change is older than the cache (a
  // snapshot or fetch that already counts it, which servers may send it after) or the cache holds
  // an optimistic charge. Applying it would step back, and count the next charge's `used` twice.
  if (NEVER_RAISE.has(change.kind) && after > total) return { balances, refetch: false };
  const consumed = Math.max(0, total - after);
  const next = {
    ...b,
    allowanceRemaining: change.allowanceRemaining,
    purchased: change.purchased,
    held: change.held,
    // (A change's `available` is its bucket's own; the organization's any-type pool, `shared`, counts too.)
    available: b.unlimited || change.available === null ? null : change.available + (b.shared ?? 0),
    // A feed that carries the bucket's `used` is taken at its word.
    used: typeof (change as { used?: unknown }).used === 'number' ? (change as unknown as { used: number }).used : charge ? b.used + consumed : b.used,
  };
  const quota = MEMBER_SPEND.has(change.kind) && balances.member.quotas.some((q) => q.tokenType === change.tokenType);
  return {
    balances: { ...balances, tokenTypes: balances.tokenTypes.map((t) => (t === b ? next : t)) },
    refetch: !PATCHED.has(change.kind) || (charge && b.unlimited) || quota,
  };
}
