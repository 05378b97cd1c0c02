/**
 * Wire types: the JSON the SQL ledger returns and the HTTP API serves, shared by the server and
 * the client. Timestamps are ISO 8601 strings; days are `YYYY-MM-DD` (UTC).
 */

/** Id of a token type, e.g. `quest_generation`. Token types are data, so any string. */
export type TokenTypeId = string;

/**
 * The token type of a grant that pays for every type: the organization's shared pool. Grant it like
 * any type (server only); a charge of any type reaches it in the burn order.
 *
 * @example
 * await gate.grant({ orgId, actorId: null }, ANY_TOKEN_TYPE, { amount: 1000, idempotencyKey: `stripe:${pi.id}:0` });
 */
export const ANY_TOKEN_TYPE = '*';

/** How a plan gives access to AI features. */
export type PlanAccess = 'blocked' | 'metered' | 'unlimited';

/** The balance of one token type for one organization. */
export interface TokenBalance {
  tokenType: TokenTypeId;
  /** Display name from the catalog. */
  name: string;
  /** Tokens one use costs. */
  cost: number;
  access: PlanAccess;
  /** Enterprise: never blocked; `available` is null. */
  unlimited: boolean;
  /** Starter: AI features not in the plan. */
  blocked: boolean;
  /** Tokens this period's plan grants. */
  allowance: number;
  /** What is left of this period's allowance (excluding held tokens). */
  allowanceRemaining: number;
  /** Purchased (top-up) tokens left; they survive refreshes and are spent after the allowance. */
  purchased: number;
  /** Tokens held by pending reservations. */
  held: number;
  /** Tokens charged this period. */
  used: number;
  /**
   * The organization's any-type pool: tokens of grants for every token type ({@link ANY_TOKEN_TYPE}),
   * counted in every metered balance's `available` (absent from servers before any-type grants).
   */
  shared?: number;
  /** allowanceRemaining + purchased + shared; null when unlimited. */
  available: number | null;
  periodStart: string;
  /** When the period ends and the allowance refreshes. */
  refreshesAt: string;
}

/** A member's own cap on a token type. */
export interface MemberQuota {
  tokenType: TokenTypeId;
  quota: number;
  /** Charged plus held this period. */
  spent: number;
}

/** Everything the dashboard needs about an organization's balances. */
export interface Balances {
  orgId: string;
  plan: { id: string; name: string; access: PlanAccess };
  periodAnchor: string;
  tokenTypes: TokenBalance[];
  member: { userId: string; role: 'owner' | 'admin' | 'member'; quotas: MemberQuota[] };
}

/** Why an action cannot run. */
export type DenialReason = 'plan_blocked' | 'insufficient_tokens' | 'member_quota_exceeded';

/** Result of a check: may this member spend `required` tokens now? */
export interface CheckResult {
  allowed: boolean;
  reason: DenialReason | null;
  tokenType: TokenTypeId;
  cost: number;
  required: number;
  balance: TokenBalance;
}

/** Result of a deduction (`replayed` when an idempotency key was seen before). */
export interface DeductResult {
  ledgerId: number;
  tokenType: TokenTypeId;
  charged: number;
  fromAllowance: number;
  fromPurchased: number;
  balance: TokenBalance;
  replayed: boolean;
}

/** A reservation just made (`pending`), or — when `replayed` — its current status. */
export interface ReserveResult {
  reservationId: string;
  status: 'pending' | 'committed' | 'released' | 'expired';
  tokenType: TokenTypeId;
  estimate: number;
  held: number;
  expiresAt: string;
  balance: TokenBalance;
  replayed: boolean;
}

/** A resolved reservation (commit, release or expiry). */
export interface ResolveResult {
  reservationId: string;
  status: 'committed' | 'released' | 'expired';
  tokenType: TokenTypeId;
  estimate: number;
  actual: number | null;
  charged: number;
  refunded: number;
  /** Usage above the estimate that could not be charged (see the commit policy). */
  uncharged: number;
  /**
   * True for a guarded run whose hold expired before its work was delivered: the work was charged
   * anyway, from what was available then (`uncharged` is the shortfall).
   */
  late?: boolean;
  ledgerId: number;
  balance: TokenBalance;
  replayed: boolean;
}

/** Where a grant's tokens came from. */
export type GrantSource = 'plan' | 'purchase' | 'promo' | 'adjustment';

/**
 * A block of tokens of one type with a source, a priority and an expiry. Tokens are consumed from
 * the plan's allowance first, then from grants: soonest expiry first (never-expiring last), then
 * priority (0 first), then age (oldest first).
 */
export interface Grant {
  grantId: string;
  /** The token type it pays for, or {@link ANY_TOKEN_TYPE} (`'*'`) for every type. */
  tokenType: TokenTypeId;
  /** An any-type grant (`tokenType: '*'`), in the organization's shared pool. */
  anyType?: boolean;
  /**
   * For a grant of one type made by the ledger from an any-type grant (`parentId`): the part of it
   * that type received when its charges reached it in the burn order. Same source, priority and expiry.
   */
  parentId?: string | null;
  source: GrantSource;
  /** Tokens granted. */
  amount: number;
  /** Tokens left (not counting tokens a pending hold took from it). */
  remaining: number;
  /** 0 (consumed first) to 100, among grants of the same expiry. */
  priority: number;
  effectiveAt: string;
  /** `null`: never expires. */
  expiresAt: string | null;
  /** scheduled: not effective yet; active; expired (its remainder expired); revoked (clawed back in full). */
  status: 'scheduled' | 'active' | 'expired' | 'revoked';
  /** Tokens that expired unused. */
  expired: number;
  /** Tokens taken back by clawbacks (refunds, disputes). */
  clawedBack: number;
  /** What clawbacks asked for beyond what was left (already spent). */
  clawbackShortfall: number;
  /** Tokens a hold gave back after the grant expired or was revoked. */
  forfeited: number;
  createdAt: string;
  endedAt: string | null;
  metadata: Record<string, unknown>;
}

/** Result of a grant. */
export interface GrantResult {
  /** The ledger entry that added the tokens; `null` while a grant is scheduled for later. */
  ledgerId: number | null;
  grantId: string;
  tokenType: TokenTypeId;
  granted: number;
  source: GrantSource;
  effectiveAt: string;
  expiresAt: string | null;
  priority: number;
  balance: TokenBalance;
  replayed: boolean;
}

/** Result of a clawback (a refund or dispute of what paid for a grant). */
export interface ClawbackResult {
  /** The ledger entry that took the tokens; `null` when nothing was left to take. */
  ledgerId: number | null;
  grantId: string;
  tokenType: TokenTypeId;
  /** What was asked for; `null`: everything left. */
  requested: number | null;
  clawedBack: number;
  /** Asked for but already spent: recorded, never taken below zero. */
  shortfall: number;
  /** The whole grant is clawed back: tokens a pending hold gives back later are forfeited. */
  revoked: boolean;
  balance: TokenBalance;
  replayed: boolean;
}

/** Result of a manual adjustment. */
export interface AdjustResult {
  ledgerId: number;
  tokenType: TokenTypeId;
  amount: number;
  balance: TokenBalance;
  replayed: boolean;
}

/** Usage totals. */
export interface UsageTotals {
  tokens: number;
  events: number;
}

/** When a token type runs out at the recent burn rate. */
export interface Forecast {
  tokenType: TokenTypeId;
  available: number | null;
  /** Average tokens per day over the last 7 days. */
  burnPerDay: number;
  /** Day the tokens run out at that pace; null when unlimited, blocked or idle. */
  runsOutOn: string | null;
  refreshesOn: string;
  runsOutBeforeRefresh: boolean;
}

/** Usage statistics for a date range. */
export interface Stats {
  orgId: string;
  from: string;
  to: string;
  totals: UsageTotals;
  byType: (UsageTotals & { tokenType: TokenTypeId })[];
  byDay: (UsageTotals & { day: string; tokenType: TokenTypeId })[];
  byMember: (UsageTotals & { userId: string })[];
  forecast: Forecast[];
}

/**
 * One balance change, as the live feed carries it: what a ledger entry left in its bucket. Sent by
 * the database (`pg_notify('tokengate_changes', …)`, Supabase Realtime) and the events route.
 * `available` is null on an unlimited plan. No user data.
 *
 * @example
 * const change: BalanceChange = { orgId, tokenType: 'chat', ledgerId: 1042, kind: 'deduct', available: 37, allowanceRemaining: 37, purchased: 0, held: 0 };
 */
export interface BalanceChange {
  orgId: string;
  tokenType: TokenTypeId;
  /** The ledger entry's id: increasing per token type in commit order. */
  ledgerId: number;
  kind: 'refresh' | 'grant' | 'deduct' | 'reserve' | 'commit' | 'release' | 'expire' | 'adjust' | 'transfer';
  available: number | null;
  allowanceRemaining: number;
  purchased: number;
  held: number;
}
