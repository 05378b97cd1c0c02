import type { QueryClient, QueryKey } from '@tanstack/react-query';
import { isRetryableError } from '../core/is-retryable-error.ts';

/** Attempts after the first one that `tokenGateRetry` allows for a transient failure. */
const MAX_RETRIES = 3;

/**
 * The kit's retry policy for queries: up to 3 retries of a network failure, a 5xx or a 429, and
 * none of a refusal (4xx) — a user who is not a member of the organization reads that at once
 * instead of after ~7 s of retries. The kit's hooks use it unless the app's QueryClient sets
 * `retry` itself (see {@link withKitRetry}); apps can use it for their own queries too.
 *
 * @example
 * const queryClient = new QueryClient({ defaultOptions: { queries: { retry: tokenGateRetry } } });
 */
export function tokenGateRetry(failureCount: number, error: unknown): boolean {
  return failureCount < MAX_RETRIES && isRetryableError(error);
}

/**
 * Internal: `options` with `retry: tokenGateRetry`, unless the app chose a retry policy of its own
 * on this QueryClient (`defaultOptions.queries.retry`, or `setQueryDefaults` for the key) — the
 * app's choice wins, the kit only replaces TanStack Query's unset default (3 retries of anything).
 *
 * @example
 * useQuery(withKitRetry(useQueryClient(), balancesQueryOptions(client)));
 */
export function withKitRetry<T extends { queryKey: QueryKey; retry?: unknown }>(queryClient: QueryClient, options: T): T {
  if (options.retry !== undefined) return options;
  const appRetry = queryClient.getQueryDefaults(options.queryKey).retry ?? queryClient.getDefaultOptions().queries?.retry;
  return appRetry === undefined ? { ...options, retry: tokenGateRetry } : options;
}
