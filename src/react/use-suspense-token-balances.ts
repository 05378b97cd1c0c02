'use client';
import { useQueryClient, useSuspenseQuery, type UseSuspenseQueryResult } from '@tanstack/react-query';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Balances } from '../core/types.ts';
// Through the kit's entry module: the bundler then keeps the kit's chunks as they are (importing
// query-options.ts alone would split it, and what it imports, into chunks of their own).
import { balancesQueryOptions } from './index.ts';
import { useTokenGateContext } from './token-gate-context.ts';
import { withKitRetry } from './token-gate-retry.ts';

/**
 * `useTokenBalances` for Suspense: suspends until the balances are loaded (or rendered from a
 * hydrated cache at once), so `data` is always defined; a failure (e.g. 403 `not_a_member`) is
 * thrown to the nearest error boundary. Same query and key as `useTokenBalances`.
 *
 * @example
 * <Suspense fallback={<Spinner />}><Plan /></Suspense>
 * function Plan() {
 *   const { data } = useSuspenseTokenBalances();
 *   return <p>{data.plan.name}</p>;
 * }
 */
export function useSuspenseTokenBalances(): UseSuspenseQueryResult<Balances, TokenGateError> {
  const { client, resolvedOrgId } = useTokenGateContext();
  const queryClient = useQueryClient();
  // Every queryFn error is a TokenGateError (the client wraps all failures).
  return useSuspenseQuery(withKitRetry(queryClient, balancesQueryOptions(client, resolvedOrgId))) as UseSuspenseQueryResult<Balances, TokenGateError>;
}
