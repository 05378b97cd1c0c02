import type { Balances, DenialReason, TokenBalance, TokenTypeId } from '../core/types.ts';

/**
 * Error codes that mean "this org or member cannot pay for that now" (the rest are failures).
 *
 * @example
 * if ((DENIAL_CODES as readonly string[]).includes(error.code)) showUpgrade();
 */
export const DENIAL_CODES: readonly DenialReason[] = ['plan_blocked', 'insufficient_tokens', 'member_quota_exceeded'];

/**
 * Why `cost` tokens of `tokenType` cannot be spent, from cached balances (null: it may run, or the
 * type is unknown). Mirrors the ledger's order: plan, then the org's tokens, then the member's quota.
 *
 * @example
 * denialReason(balances, 'quest_generation', 3); // 'insufficient_tokens'
 */
export function denialReason(balances: Balances, tokenType: TokenTypeId, cost: number): DenialReason | null {
  const balance: TokenBalance | undefined = balances.tokenTypes.find((b) => b.tokenType === tokenType);
  if (!balance) return null;
  if (balance.blocked) return 'plan_blocked';
  if (balance.available !== null && balance.available < cost) return 'insufficient_tokens';
  const quota = balances.member.quotas.find((q) => q.tokenType === tokenType);
  if (quota && quota.quota - quota.spent < cost) return 'member_quota_exceeded';
  return null;
}
