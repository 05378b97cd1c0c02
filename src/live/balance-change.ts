/**
 * One change of an organization's balance of one token type, as the change feed publishes it
 * (`pg_notify('tokengate_changes', …)`, the `balance` event of `GET /orgs/:orgId/events`, the
 * Supabase Realtime broadcast). Absolute figures after the change, no user data.
 *
 * @example
 * const change: BalanceChange = { orgId, tokenType: 'quest_generation', ledgerId: 412, kind: 'deduct',
 *   available: 54, allowanceRemaining: 54, purchased: 0, held: 0 };
 */
export interface BalanceChange {
  orgId: string;
  tokenType: string;
  /** The ledger entry of the change (ascending per bucket; not commit-ordered across buckets). */
  ledgerId: number;
  /** The ledger entry's kind: `deduct`, `reserve`, `commit`, `release`, `expire`, `refresh`, `grant`, `adjust`. */
  kind: string;
  /** allowanceRemaining + purchased; null on an unlimited plan. */
  available: number | null;
  allowanceRemaining: number;
  purchased: number;
  held: number;
}
