import type { DateRange, GrantsQuery } from './create-token-client.ts';
import type { TokenTypeId } from './types.ts';

/**
 * Query keys of Tokengate's data, built like TanStack Query's recommended key factories: every key
 * starts with `['tokengate', orgId]`, so one organization's data can be invalidated at once.
 *
 * @example
 * queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(orgId) });          // everything of the org
 * queryClient.invalidateQueries({ queryKey: tokenGateKeys.balances(orgId) });     // its balances
 * queryClient.getQueryData(tokenGateKeys.stats(orgId, { from: '2028-01-01', to: '2028-01-31' }));
 * queryClient.invalidateQueries({ queryKey: tokenGateKeys.allGrants(orgId) });    // its grants lists
 * useIsMutating({ mutationKey: tokenGateKeys.run(orgId, 'quest_generation') });   // its quest runs in flight
 */
export const tokenGateKeys = {
  /** Every Tokengate query. */
  all: ['tokengate'] as const,
  /** Every query of one organization. */
  org: (orgId: string) => ['tokengate', orgId] as const,
  /** The organization's `Balances`. */
  balances: (orgId: string) => ['tokengate', orgId, 'balances'] as const,
  /** Every stats query of the organization. */
  allStats: (orgId: string) => ['tokengate', orgId, 'stats'] as const,
  /** The organization's `Stats` for one range. */
  stats: (orgId: string, range: DateRange) => ['tokengate', orgId, 'stats', { from: range.from, to: range.to }] as const,
  /** Every grants query of the organization (each token type, with or without ended grants). */
  allGrants: (orgId: string) => ['tokengate', orgId, 'grants'] as const,
  /** The organization's `Grant[]` for one query (`tokenType` null: every type). */
  grants: (orgId: string, query: GrantsQuery = {}) =>
    ['tokengate', orgId, 'grants', { tokenType: query.tokenType ?? null, includeEnded: query.includeEnded ?? false }] as const,
  /**
   * The mutation key of `useTokenGate`'s runs of one token type (a mutation key, not a query key:
   * `tokenGateKeys.org(orgId)` as a mutation filter matches every run of the organization).
   */
  run: (orgId: string, tokenType: TokenTypeId) => ['tokengate', orgId, 'run', tokenType] as const,
};
