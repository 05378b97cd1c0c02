'use client';
import { useQuery, useQueryClient, type UseQueryResult } from '@tanstack/react-query';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Grant, TokenTypeId } from '../core/types.ts';
import { grantsQueryOptions } from './grants-query-options.ts';
import { useTokenGateContext } from './token-gate-context.ts';
import { withKitRetry } from './token-gate-retry.ts';

/**
 * Options of `useGrants`.
 *
 * @example
 * const options: UseGrantsOptions = { enabled: open, includeEnded: false };
 */
export interface UseGrantsOptions {
  /** Fetch only while true (e.g. while a disclosure is open). Default true. */
  enabled?: boolean;
  /** Also grants that ended (expired, revoked, spent). Default false. */
  includeEnded?: boolean;
}

/**
 * The organization's grants of `tokenType` (all types when omitted), in burn order: amount, what
 * is left, source, expiry. A charge through `useTokenGate` spends the cached list optimistically
 * (the part beyond the plan's allowance, in burn order) and refetches it when the charge settles.
 *
 * @example
 * const [open, setOpen] = useState(false);
 * const { data: grants } = useGrants('chat', { enabled: open });
 * return grants?.map((g) => <li key={g.grantId}>{g.remaining} of {g.amount}, expires {g.expiresAt ?? 'never'}</li>);
 */
export function useGrants(tokenType?: TokenTypeId, options: UseGrantsOptions = {}): UseQueryResult<Grant[], TokenGateError> {
  const { client, resolvedOrgId } = useTokenGateContext();
  const queryClient = useQueryClient();
  const query = grantsQueryOptions(client, { tokenType, includeEnded: options.includeEnded }, resolvedOrgId);
  // Every queryFn error is a TokenGateError (the client wraps all failures).
  return useQuery({ ...withKitRetry(queryClient, query), enabled: options.enabled ?? true }) as UseQueryResult<Grant[], TokenGateError>;
}
