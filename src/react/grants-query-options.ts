import { queryOptions } from '@tanstack/react-query';
import type { GrantsQuery, TokenClient } from '../core/create-token-client.ts';
import { tokenGateKeys } from '../core/query-keys.ts';
import { optimisticGrants } from './optimistic-balance.ts';

/**
 * Query options of the organization's grants (of one token type, or all), in burn order, for
 * `useQuery`, `prefetchQuery` or `ensureQueryData`. A charge through `useTokenGate` spends the
 * cached lists optimistically (the part beyond the allowance, in burn order) and refetches them
 * when it settles.
 *
 * @example
 * await queryClient.prefetchQuery(grantsQueryOptions(client, { tokenType: 'chat' }));
 */
export function grantsQueryOptions(client: TokenClient, query: GrantsQuery = {}, orgId: string = client.orgId()) {
  // Here, not in useTokenGate, and on demand: apps that never read grants do not load this code,
  // and those that do load it while their first grants list is fetched (before a run can need it).
  if (!optimisticGrants.consume) void import('./optimistic-grants.ts').then((m) => (optimisticGrants.consume = m.consumeCachedGrants));
  return queryOptions({
    queryKey: tokenGateKeys.grants(orgId, query),
    queryFn: ({ signal }) => client.grants({ signal, orgId, tokenType: query.tokenType, includeEnded: query.includeEnded }),
  });
}
