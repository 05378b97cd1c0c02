/**
 * Suspense variants of the kit's data hooks, on TanStack Query's `useSuspenseQuery`: the same
 * queries and keys as `useTokenBalances`, `useTokenBalance` and `useTokenStats` (so they share
 * the cache, prefetches, hydration and the live feed), with `data` always defined and failures
 * thrown to the nearest error boundary. A separate entry point, so an app without Suspense
 * carries none of it.
 *
 * @example
 * import { useSuspenseTokenBalances, useSuspenseTokenBalance, useSuspenseTokenStats } from 'tokengate/react/suspense';
 */
export { useSuspenseTokenBalances } from './use-suspense-token-balances.ts';
export { useSuspenseTokenBalance } from './use-suspense-token-balance.ts';
export { useSuspenseTokenStats } from './use-suspense-token-stats.ts';
