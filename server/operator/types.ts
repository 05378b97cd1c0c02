/**
 * The operator's view (server only): what the operator functions answer. Operators are the app's
 * own staff, looking across organizations; no member or org admin ever reads these.
 */
import type { TokenTypeId } from '../../src/core/types.ts';

/**
 * One organization's usage of one token type over a range of days, ranked within the type.
 *
 * @example
 * const row: OperatorTopRow = { tokenType: 'quest_generation', rank: 1, orgId, planId: 'pro', tokens: 912, events: 304, members: 3 };
 */
export interface OperatorTopRow {
  tokenType: TokenTypeId;
  /** 1 = the most tokens of this type (ties: by organization id). */
  rank: number;
  orgId: string;
  planId: string;
  /** Tokens charged in the range. */
  tokens: number;
  /** Charges (deducts and commits) in the range. */
  events: number;
  /** Distinct members who charged in the range. */
  members: number;
}

/**
 * A metered bucket that is exhausted or below the asked share of its allowance.
 *
 * @example
 * const row: NearExhaustionRow = { orgId, planId: 'pro', tokenType: 'quest_generation', allowance: 60, allowanceRemaining: 3, purchased: 0, shared: 0, held: 0, available: 3, percentLeft: 5, periodEnd: '2028-02-01T00:00:00+00:00' };
 */
export interface NearExhaustionRow {
  orgId: string;
  planId: string;
  tokenType: TokenTypeId;
  /** The period's allowance. */
  allowance: number;
  allowanceRemaining: number;
  /** Purchased (granted) tokens left. */
  purchased: number;
  /** The organization's any-type pool (grants for every type), counted in `available`. */
  shared: number;
  /** Held by pending reservations. */
  held: number;
  /** allowanceRemaining + purchased + shared. */
  available: number;
  /** available as a percentage of the allowance (1 decimal); null when the allowance is 0. */
  percentLeft: number | null;
  /** When the period ends (the allowance refreshes). */
  periodEnd: string;
}

/**
 * A day's usage of a type by one organization, against its own trailing daily average.
 *
 * @example
 * const row: SpikeRow = { orgId, planId: 'pro', tokenType: 'lead_generation', day: '2028-01-09', tokens: 400, trailingAverage: 20, ratio: 20 };
 */
export interface SpikeRow {
  orgId: string;
  planId: string;
  tokenType: TokenTypeId;
  /** The UTC day examined (YYYY-MM-DD). */
  day: string;
  tokens: number;
  /** Average tokens per day over the window before `day` (days without usage count as 0). */
  trailingAverage: number;
  /** tokens / trailingAverage (2 decimals); null when the average is 0 (usage from nothing). */
  ratio: number | null;
}

/**
 * An active grant with tokens left that expires soon.
 *
 * @example
 * const row: ExpiringGrantRow = { grantId, orgId, planId: 'pro', tokenType: 'quest_generation', source: 'promo', amount: 100, remaining: 40, priority: 50, expiresAt: '2028-01-12T00:00:00+00:00', overdue: false, createdAt: '2027-12-01T00:00:00+00:00' };
 */
export interface ExpiringGrantRow {
  grantId: string;
  orgId: string;
  planId: string;
  tokenType: TokenTypeId;
  source: 'plan' | 'purchase' | 'promo' | 'adjustment';
  amount: number;
  remaining: number;
  priority: number;
  expiresAt: string;
  /** Past its expiry but not swept yet: its tokens are lost at the next charge or sweep. */
  overdue: boolean;
  createdAt: string;
}

/**
 * Options of `operator.top`.
 *
 * @example
 * await operator.top({ from: '2028-01-01', to: '2028-01-31', tokenType: 'quest_generation', limit: 10 });
 */
export interface OperatorTopOptions {
  /** First UTC day, YYYY-MM-DD. */
  from: string;
  /** Last UTC day (inclusive), at most 366 days after `from`. */
  to: string;
  /** One token type; default every type, each ranked on its own. */
  tokenType?: TokenTypeId;
  /** Organizations per type, 1 to 1000. Default 10. */
  limit?: number;
}

/**
 * Options of `operator.nearExhaustion`.
 *
 * @example
 * await operator.nearExhaustion({ percent: 10, limit: 50 });
 */
export interface NearExhaustionOptions {
  /** Listed when available < percent% of the allowance (1 to 100), or nothing is left. Default 10. */
  percent?: number;
  /** At most this many buckets, 1 to 1000. Default 100. */
  limit?: number;
}

/**
 * Options of `operator.spikes`.
 *
 * @example
 * await operator.spikes({ day: '2028-01-09', windowDays: 7, factor: 3, minTokens: 100 });
 */
export interface SpikesOptions {
  /** The UTC day examined, YYYY-MM-DD. */
  day: string;
  /** Days before `day` the average is taken over, 1 to 90. Default 7. */
  windowDays?: number;
  /** A spike is more than factor × the average, 1 to 1000. Default 3. */
  factor?: number;
  /** …and at least this many tokens that day, 0 to 1e9. Default 100. */
  minTokens?: number;
}

/**
 * Options of `operator.expiringGrants`.
 *
 * @example
 * await operator.expiringGrants({ withinDays: 7, limit: 100 });
 */
export interface ExpiringGrantsOptions {
  /** Grants expiring within this many days from now, 1 to 366. Default 7. */
  withinDays?: number;
  /** At most this many grants, 1 to 1000. Default 100. */
  limit?: number;
}
