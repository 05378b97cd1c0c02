import { sortGrants } from '../../core/burn-order.ts';
import type { Forecast, Grant, TokenBalance } from '../../core/types.ts';

const DAY_MS = 86_400_000;
// Like the server's forecast: a runway beyond 100 years never runs out.
const MAX_DAYS = 36_500;

/** A forecast, plus the tokens that expire before the pace of spending reaches them. */
export interface ForecastWithGrants extends Forecast {
  /** Tokens of grants that expire unused at this pace (0 when none, or without grants to go by). */
  expiringUnused: number;
}

/**
 * The server's runway forecast corrected for expiring grants: spending at `burnPerDay`, from the
 * allowance first and then the grants in burn order, a grant that expires before the spending
 * reaches it (or before it is used up) loses what is left of it, and those tokens do not extend
 * the runway. Without grants of the type (or without any that expire unused) the server's forecast
 * stands unchanged; otherwise `runsOutOn` is today (UTC, from `now`) plus the days the usable
 * tokens last, rounded up as the server does.
 *
 * @example
 * const fc = forecastWithGrants(stats.forecast[0], balance, grants, new Date());
 * if (fc.expiringUnused > 0) warn(`${fc.expiringUnused} tokens expire unused`);
 */
export function forecastWithGrants(
  forecast: Forecast,
  balance: Pick<TokenBalance, 'allowanceRemaining'> | undefined,
  grants: readonly Grant[] | undefined,
  now: Date,
): ForecastWithGrants {
  const unchanged = { ...forecast, expiringUnused: 0 };
  if (!balance || !grants || forecast.available === null || !(forecast.burnPerDay > 0)) return unchanged;
  const rate = forecast.burnPerDay;
  const at = now.getTime();
  const spendable = grants.filter(
    (g) => g.tokenType === forecast.tokenType && g.status === 'active' && g.remaining > 0 && (g.expiresAt === null || Date.parse(g.expiresAt) > at),
  );
  // Days from now at which the spending has used everything before the next grant.
  let days = Math.max(0, balance.allowanceRemaining) / rate;
  let lost = 0;
  for (const g of sortGrants(spendable)) {
    const expiresIn = g.expiresAt === null ? Infinity : (Date.parse(g.expiresAt) - at) / DAY_MS;
    const usable = Math.min(g.remaining, Math.max(0, (expiresIn - days) * rate));
    days += usable / rate;
    lost += g.remaining - usable;
  }
  // Spending is in whole tokens; the fraction is the pace's, not the ledger's.
  const expiringUnused = Math.round(lost);
  if (expiringUnused <= 0) return unchanged;
  // Float noise must not add a day: 5.0000000001 days is 5.
  const whole = Math.ceil(days - 1e-9);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const runsOutOn = whole > MAX_DAYS ? null : new Date(today + whole * DAY_MS).toISOString().slice(0, 10);
  return {
    ...forecast,
    runsOutOn,
    runsOutBeforeRefresh: runsOutOn !== null && runsOutOn < forecast.refreshesOn,
    expiringUnused,
  };
}
