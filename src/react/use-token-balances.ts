'use client';
import { useQuery, useQueryClient, type UseQueryResult } from '@tanstack/react-query';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Balances } from '../core/types.ts';
import { balancesQueryOptions } from './query-options.ts';
import { useTokenGateContext } from './token-gate-context.ts';
import { withKitRetry } from './token-gate-retry.ts';

/**
 * The organization's balances (plan, every token type, the caller's member quotas). A refusal
 * (e.g. 403 `not_a_member`) is not retried unless the app's QueryClient sets `retry` (see `tokenGateRetry`).
 *
 * @example
 * const { data, isPending, error } = useTokenBalances();
 * if (data) return <p>{data.plan.name}</p>;
 */
export function useTokenBalances(): UseQueryResult<Balances, TokenGateError> {
  const { client, resolvedOrgId } = useTokenGateContext();
  // Every queryFn error is a TokenGateError (the client wraps all failures).
  const queryClient = useQueryClient();
  return useQuery(withKitRetry(queryClient, balancesQueryOptions(client, resolvedOrgId))) as UseQueryResult<Balances, TokenGateError>;
}
