import type { QueryClient, QueryKey } from '@tanstack/react-query';
import type { Balances, TokenBalance, TokenTypeId } from '../core/types.ts';

/**
 * Internal: spends `amount` tokens of `tokenType` from the cached grants lists under `grantsKey`
 * and returns the inverse. Set by `grantsQueryOptions` (so by `useGrants`): only an app that reads
 * grants carries the grants code, and only it has grants lists in its cache to keep in step.
 *
 * @example
 * optimisticGrants.consume = consumeCachedGrants;
 */
export const optimisticGrants: {
  consume?: (queryClient: QueryClient, grantsKey: QueryKey, tokenType: TokenTypeId, amount: number) => () => void;
} = {};

/**
 * Subtract `cost` from the cached balance of `tokenType` (allowance first, then purchased tokens,
 * then the organization's any-type pool, `shared`, which every balance counts) and return the exact inverse. Inverse rather than a snapshot, so concurrent runs
 * roll back only their own share. With `grantsKey`, the part beyond the allowance is also taken
 * from the cached grants lists under it, in burn order (when the app reads grants at all).
 *
 * @example
 * const undo = applyOptimisticCharge(queryClient, tokenGateKeys.balances(orgId), 'quest_generation', 3, tokenGateKeys.allGrants(orgId));
 * try { await work() } catch { undo() }
 */
export function applyOptimisticCharge(
  queryClient: QueryClient,
  key: QueryKey,
  tokenType: TokenTypeId,
  cost: number,
  grantsKey?: QueryKey,
): () => void {
  let taken: { fromAllowance: number; fromPurchased: number; fromShared: number } | null = null;
  queryClient.setQueryData<Balances>(key, (old) => {
    if (!old) return old;
    const next = mapType(old, tokenType, cost, (b) => {
      const fromAllowance = Math.max(0, Math.min(cost, b.allowanceRemaining));
      // The type's own purchased tokens, then the any-type pool (`shared`): the total is exact; the
      // split between them is the ledger's burn order, which the refetch after the run brings.
      const fromPool = b.unlimited ? 0 : Math.max(0, Math.min(cost - fromAllowance, b.purchased + (b.shared ?? 0)));
      const fromPurchased = Math.min(fromPool, b.purchased);
      taken = { fromAllowance, fromPurchased, fromShared: fromPool - fromPurchased };
      return {
        ...b,
        allowanceRemaining: b.allowanceRemaining - fromAllowance,
        purchased: b.purchased - fromPurchased,
        used: b.used + cost,
        // (The pool's part leaves `shared` and `available` of every balance below, this one's included.)
        available: b.available === null ? null : b.available - fromAllowance - fromPurchased,
      };
    });
    return shiftShared(next, -(taken?.fromShared ?? 0));
  });
  const t = taken as { fromPurchased: number; fromShared: number } | null;
  const purchased = t ? t.fromPurchased + t.fromShared : 0;
  const undoGrants = grantsKey && purchased > 0 && optimisticGrants.consume ? optimisticGrants.consume(queryClient, grantsKey, tokenType, purchased) : null;
  let undone = false;
  return () => {
    if (undone || !taken) return;
    undone = true;
    undoGrants?.();
    const { fromAllowance, fromPurchased, fromShared } = taken;
    queryClient.setQueryData<Balances>(key, (old) =>
      old
        ? shiftShared(
            mapType(old, tokenType, -cost, (b) => ({
              ...b,
              allowanceRemaining: b.allowanceRemaining + fromAllowance,
              purchased: b.purchased + fromPurchased,
              used: Math.max(0, b.used - cost),
              available: b.available === null ? null : b.available + fromAllowance + fromPurchased,
            })),
            fromShared,
          )
        : old,
    );
  };
}

/**
 * Internal: the organization's any-type pool counts in every metered balance: move it (and
 * `available`) by `delta` in all of them.
 *
 * @example
 * shiftShared(balances, -3); // 3 tokens of the pool spent
 */
export function shiftShared(balances: Balances, delta: number): Balances {
  if (delta === 0) return balances;
  return {
    ...balances,
    tokenTypes: balances.tokenTypes.map((b) =>
      b.shared === undefined ? b : { ...b, shared: b.shared + delta, available: b.available === null ? null : b.available + delta },
    ),
  };
}

function mapType(balances: Balances, tokenType: TokenTypeId, spent: number, change: (b: TokenBalance) => TokenBalance): Balances {
  return {
    ...balances,
    tokenTypes: balances.tokenTypes.map((b) => (b.tokenType === tokenType ? change(b) : b)),
    member: {
      ...balances.member,
      quotas: balances.member.quotas.map((q) => (q.tokenType === tokenType ? { ...q, spent: Math.max(0, q.spent + spent) } : q)),
    },
  };
}
