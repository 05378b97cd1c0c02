'use client';
import { useQueryClient, useSuspenseQuery, type UseSuspenseQueryResult } from '@tanstack/react-query';
import type { DateRange } from '../core/create-token-client.ts';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Stats } from '../core/types.ts';
// Through the kit's entry module: the bundler then keeps the kit's chunks as they are (importing
// query-options.ts alone would split it, and what it imports, into chunks of their own).
import { statsQueryOptions } from './index.ts';
import { useTokenGateContext } from './token-gate-context.ts';
import { withKitRetry } from './token-gate-retry.ts';

/**
 * `useTokenStats` for Suspense: the organization's usage statistics for a range (at most 366
 * days), suspending until they are loaded; a failure is thrown to the nearest error boundary.
 *
 * @example
 * const { data } = useSuspenseTokenStats({ from: '2028-01-01', to: '2028-01-31' });
 * return <p>{data.totals.tokens} tokens this month</p>;
 */
export function useSuspenseTokenStats(range: DateRange): UseSuspenseQueryResult<Stats, TokenGateError> {
  const { client, resolvedOrgId } = useTokenGateContext();
  const queryClient = useQueryClient();
  // Every queryFn error is a TokenGateError (the client wraps all failures).
  return useSuspenseQuery(withKitRetry(queryClient, statsQueryOptions(client, range, resolvedOrgId))) as UseSuspenseQueryResult<Stats, TokenGateError>;
}
