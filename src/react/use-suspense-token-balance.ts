'use client';
import { useQueryClient, useSuspenseQuery, type UseSuspenseQueryResult } from '@tanstack/react-query';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Balances, TokenBalance, TokenTypeId } from '../core/types.ts';
// Through the kit's entry module: the bundler then keeps the kit's chunks as they are (importing
// query-options.ts alone would split it, and what it imports, into chunks of their own).
import { balancesQueryOptions } from './index.ts';
import { useTokenGateContext } from './token-gate-context.ts';
import { withKitRetry } from './token-gate-retry.ts';

/**
 * `useTokenBalance` for Suspense: one token type's balance, selected from the shared balances
 * query, suspending until it is loaded; a failure is thrown to the nearest error boundary. `data`
 * is undefined only when the catalog has no such type.
 *
 * @example
 * const { data: balance } = useSuspenseTokenBalance('quest_generation');
 * return <span>{balance?.unlimited ? 'Unlimited' : `${balance?.available} left`}</span>;
 */
export function useSuspenseTokenBalance(tokenType: TokenTypeId): UseSuspenseQueryResult<TokenBalance | undefined, TokenGateError> {
  const { client, resolvedOrgId } = useTokenGateContext();
  const queryClient = useQueryClient();
  return useSuspenseQuery({
    ...withKitRetry(queryClient, balancesQueryOptions(client, resolvedOrgId)),
    select: (balances: Balances) => balances.tokenTypes.find((b) => b.tokenType === tokenType),
  }) as UseSuspenseQueryResult<TokenBalance | undefined, TokenGateError>;
}
