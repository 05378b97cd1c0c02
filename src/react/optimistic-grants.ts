import type { QueryClient, QueryKey } from '@tanstack/react-query';
import { consumeGrants, type GrantTake } from '../core/burn-order.ts';
import type { Grant, TokenTypeId } from '../core/types.ts';

/**
 * Internal: spend `amount` tokens of `tokenType` from every cached grants list under `grantsKey`
 * (each list is a view of the same grants: one per token type filter), in the ledger's burn order,
 * and return the exact inverse (what was taken goes back to the same grants, so concurrent runs
 * roll back only their own share).
 *
 * @example
 * const undo = consumeCachedGrants(queryClient, tokenGateKeys.allGrants(orgId), 'chat', 12);
 */
export function consumeCachedGrants(queryClient: QueryClient, grantsKey: QueryKey, tokenType: TokenTypeId, amount: number): () => void {
  const done: [QueryKey, GrantTake[]][] = [];
  for (const [key, data] of queryClient.getQueriesData<Grant[]>({ queryKey: grantsKey })) {
    if (!Array.isArray(data)) continue;
    const { grants, taken } = consumeGrants(data, amount, { tokenType });
    if (taken.length === 0) continue;
    queryClient.setQueryData<Grant[]>(key, grants);
    done.push([key, taken]);
  }
  return () => {
    for (const [key, taken] of done) {
      const back = new Map(taken.map((t) => [t.grantId, t.amount]));
      queryClient.setQueryData<Grant[]>(key, (old) =>
        old?.map((g) => (back.has(g.grantId) ? { ...g, remaining: g.remaining + back.get(g.grantId)! } : g)),
      );
    }
  };
}
