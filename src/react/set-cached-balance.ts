import type { QueryClient, QueryKey } from '@tanstack/react-query';
import type { Balances, TokenBalance, TokenTypeId } from '../core/types.ts';
import { shiftShared } from './optimistic-balance.ts';

/**
 * Put a server-reported balance into the cache: a whole `TokenBalance` (from a deduct/commit
 * answer), or just `available` (from the guard's `x-tokengate-available` header). A whole balance
 * also brings the any-type pool (`shared`) every other balance counts.
 *
 * @example
 * setCachedBalance(queryClient, key, 'quest_generation', { available: 57 });
 */
export function setCachedBalance(
  queryClient: QueryClient,
  key: QueryKey,
  tokenType: TokenTypeId,
  next: TokenBalance | { available: number },
): void {
  queryClient.setQueryData<Balances>(key, (old) => {
    if (!old) return old;
    const mine = old.tokenTypes.find((b) => b.tokenType === tokenType);
    const pool = 'tokenType' in next && next.shared !== undefined && mine?.shared !== undefined ? next.shared - mine.shared : 0;
    const updated = shiftShared(old, pool);
    return { ...updated, tokenTypes: updated.tokenTypes.map((b) => (b.tokenType === tokenType ? ('tokenType' in next ? next : { ...b, ...next }) : b)) };
  });
}
