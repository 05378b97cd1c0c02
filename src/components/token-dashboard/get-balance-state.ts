import type { TokenBalance } from '../../core/types.ts';

/** What a balance looks like to the user; also the `data-state` of its row. */
export type BalanceState = 'ok' | 'low' | 'exhausted' | 'unlimited' | 'blocked';

/** A balance is low when at most this fraction of the period's allowance is left. */
export const LOW_FRACTION = 0.2;

/**
 * Classifies a balance: `blocked` (not in the plan), `unlimited`, `exhausted` (cannot pay for one
 * more use), `low` (≤ 20 % of the allowance left, purchased tokens included) or `ok`.
 *
 * @example
 * getBalanceState({ ...b, allowance: 500, allowanceRemaining: 60, purchased: 0, available: 60 }) // 'low'
 */
export function getBalanceState(b: TokenBalance): BalanceState {
  if (b.blocked) return 'blocked';
  if (b.unlimited) return 'unlimited';
  const available = b.available ?? 0;
  if (available < Math.max(b.cost, 1)) return 'exhausted';
  if (b.allowance > 0 && available <= b.allowance * LOW_FRACTION) return 'low';
  return 'ok';
}
