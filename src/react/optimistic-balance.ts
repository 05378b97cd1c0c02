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
 * like the ledger) and return the exact inverse. Inverse rather than a snapshot, so concurrent runs
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
  const b = queryClient.getQueryData<Balances>(key)?.tokenTypes.find((t) => t.tokenType === tokenType);
  if (!b) return () => {};
  const fromAllowance = Math.max(0, Math.min(cost, b.allowanceRemaining));
  const fromPurchased = b.unlimited ? 0 : Math.max(0, Math.min(cost - fromAllowance, b.purchased));
  // sign 1 spends, -1 gives back exactly what was spent.
  const shift = (sign: number) =>
    queryClient.setQueryData<Balances>(key, (old) =>
      old
        ? mapType(old, tokenType, sign * cost, (t) => ({
            ...t,
            allowanceRemaining: t.allowanceRemaining - sign * fromAllowance,
            purchased: t.purchased - sign * fromPurchased,
            used: Math.max(0, t.used + sign * cost),
            available: t.available === null ? null : t.available - sign * (fromAllowance + fromPurchased),
          }))
        : old,
    );
  shift(1);
  const undoGrants = grantsKey && fromPurchased > 0 ? optimisticGrants.consume?.(queryClient, grantsKey, tokenType, fromPurchased) : undefined;
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    undoGrants?.();
    shift(-1);
  };
}

/**
 * Put a server-reported balance into the cache: a whole `TokenBalance` (from a deduct/commit
 * answer), or just `available` (from the guard's `x-tokengate-available` header).
 *
 * @example
 * setCachedBalance(queryClient, key, 'quest_generation', { available: 57 });
 */
export function setCachedBalance(
  queryClient: QueryClient,
  key: QueryKey,
  tokenType: TokenTypeId,
  next: TokenBalance | { available: number },
): void {
  queryClient.setQueryData<Balances>(key, (old) =>
    old
      ? { ...old, tokenTypes: old.tokenTypes.map((b) => (b.tokenType === tokenType ? ('tokenType' in next ? next : { ...b, ...next }) : b)) }
      : old,
  );
}

/** `balances` with one token type changed and the member's quota spending moved by `spent`. */
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
