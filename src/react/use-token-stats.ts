'use client';
import { useQuery, useQueryClient, type UseQueryResult } from '@tanstack/react-query';
import type { DateRange } from '../core/create-token-client.ts';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Stats } from '../core/types.ts';
import { statsQueryOptions } from './query-options.ts';
import { useTokenGateContext } from './token-gate-context.ts';
import { withKitRetry } from './token-gate-retry.ts';

/**
 * Usage statistics of the organization for a date range (at most 366 days).
 *
 * @example
 * const { data } = useTokenStats({ from: '2028-01-01', to: '2028-01-31' });
 * return <p>{data?.totals.tokens} tokens this month</p>;
 */
export function useTokenStats(range: DateRange): UseQueryResult<Stats, TokenGateError> {
  const { client, resolvedOrgId } = useTokenGateContext();
  // Every queryFn error is a TokenGateError (the client wraps all failures).
  const queryClient = useQueryClient();
  return useQuery(withKitRetry(queryClient, statsQueryOptions(client, range, resolvedOrgId))) as UseQueryResult<Stats, TokenGateError>;
}
