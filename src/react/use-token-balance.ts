'use client';
import { useQuery, useQueryClient, type UseQueryResult } from '@tanstack/react-query';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Balances, TokenBalance, TokenTypeId } from '../core/types.ts';
import { balancesQueryOptions } from './query-options.ts';
import { useTokenGateContext } from './token-gate-context.ts';
import { withKitRetry } from './token-gate-retry.ts';

/**
 * One token type's balance (selected from the shared balances query; `data` is undefined while
 * loading and when the catalog has no such type).
 *
 * @example
 * const { data: balance } = useTokenBalance('quest_generation');
 * return <span>{balance?.available ?? 'Unlimited'} left</span>;
 */
export function useTokenBalance(tokenType: TokenTypeId): UseQueryResult<TokenBalance | undefined, TokenGateError> {
  const { client, resolvedOrgId } = useTokenGateContext();
  const queryClient = useQueryClient();
  return useQuery({
    ...withKitRetry(queryClient, balancesQueryOptions(client, resolvedOrgId)),
    select: (balances: Balances) => balances.tokenTypes.find((b) => b.tokenType === tokenType),
  }) as UseQueryResult<TokenBalance | undefined, TokenGateError>;
}
