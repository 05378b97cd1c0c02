'use client';
import { useQuery, type UseQueryResult } from '@tanstack/react-query';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Balances } from '../core/types.ts';
import { balancesQueryOptions } from './query-options.ts';
import { useTokenGateContext } from './token-gate-context.ts';

/**
 * The organization's balances (plan, every token type, the caller's member quotas).
 *
 * @example
 * const { data, isPending, error } = useTokenBalances();
 * if (data) return <p>{data.plan.name}</p>;
 */
export function useTokenBalances(): UseQueryResult<Balances, TokenGateError> {
  const { client, resolvedOrgId } = useTokenGateContext();
  // Every queryFn error is a TokenGateError (the client wraps all failures).
  return useQuery(balancesQueryOptions(client, resolvedOrgId)) as UseQueryResult<Balances, TokenGateError>;
}
