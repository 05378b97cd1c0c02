import { queryOptions } from '@tanstack/react-query';
import type { DateRange, TokenClient } from '../core/create-token-client.ts';
import { tokenGateKeys } from '../core/query-keys.ts';

/**
 * Query options of the organization's balances, for `useQuery`, `prefetchQuery` or `ensureQueryData`.
 *
 * @example
 * await queryClient.prefetchQuery(balancesQueryOptions(client));
 * const balances = queryClient.getQueryData(balancesQueryOptions(client).queryKey); // typed Balances
 */
export function balancesQueryOptions(client: TokenClient, orgId: string = client.orgId()) {
  return queryOptions({
    queryKey: tokenGateKeys.balances(orgId),
    queryFn: ({ signal }) => client.balances({ signal, orgId }),
  });
}

/**
 * Query options of the organization's usage statistics for a date range.
 *
 * @example
 * await queryClient.prefetchQuery(statsQueryOptions(client, { from: '2028-01-01', to: '2028-01-31' }));
 */
export function statsQueryOptions(client: TokenClient, range: DateRange, orgId: string = client.orgId()) {
  return queryOptions({
    queryKey: tokenGateKeys.stats(orgId, range),
    queryFn: ({ signal }) => client.stats(range, { signal, orgId }),
  });
}
