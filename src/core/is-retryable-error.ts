import { TokenGateError } from './token-gate-error.ts';

/**
 * Whether a failed call may succeed if it is simply sent again: a network failure, a 5xx answer
 * (`unavailable`, `internal`) or a 429. A refusal (4xx: `not_a_member`, `unauthorized`,
 * `plan_blocked`, …) and a cancelled call never are, so retrying them only delays the message the
 * user should read. An error that is not a `TokenGateError` (a bug, a polyfill) counts as retryable.
 *
 * @example
 * new QueryClient({ defaultOptions: { queries: { retry: (n, e) => n < 3 && isRetryableError(e) } } });
 */
export function isRetryableError(error: unknown): boolean {
  if (!(error instanceof TokenGateError)) return true;
  if (error.code === 'network') return true;
  if (error.code === 'aborted') return false;
  // `internal` built from a non-problem answer keeps the real HTTP status in its facts.
  const status = typeof error.facts.status === 'number' ? error.facts.status : error.status;
  return status === 429 || status >= 500;
}
