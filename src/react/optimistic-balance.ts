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
  let taken: { fromAllowance: number; fromPurchased: number } | null = null;
  queryClient.setQueryData<Balances>(key, (old) => {
    if (!old) return old;
    return mapType(old, tokenType, cost, (b) => {
      const fromAllowance = Math.max(0, Math.min(cost, b.allowanceRemaining));
      const fromPurchased = b.unlimited ? 0 : Math.max(0, Math.min(cost - fromAllowance, b.purchased));
      taken = { fromAllowance, fromPurchased };
      return {
        ...b,
        allowanceRemaining: b.allowanceRemaining - fromAllowance,
        purchased: b.purchased - fromPurchased,
        used: b.used + cost,
        available: b.available === null ? null : b.available - fromAllowance - fromPurchased,
      };
    });
  });
  const purchased = (taken as { fromPurchased: number } | null)?.fromPurchased ?? 0;
  const undoGrants = grantsKey && purchased > 0 && optimisticGrants.consume ? optimisticGrants.consume(queryClient, grantsKey, tokenType, purchased) : null;
  let undone = false;
  return () => {
    if (undone || !taken) return;
    undone = true;
    undoGrants?.();
    const { fromAllowance, fromPurchased } = taken;
    queryClient.setQueryData<Balances>(key, (old) =>
      old
        ? mapType(old, tokenType, -cost, (b) => ({
            ...b,
            allowanceRemaining: b.allowanceRemaining + fromAllowance,
            purchased: b.purchased + fromPurchased,
            used: Math.max(0, b.used - cost),
            available: b.available === null ? null : b.available + fromAllowance + fromPurchased,
          }))
        : old,
    );
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
