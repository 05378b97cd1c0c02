/** How long the alert worker waits before the next attempt of a failed delivery. */
export interface RetryPolicy {
  /** Delay after the first failure, seconds (default 5). Each further failure doubles it. */
  baseSeconds?: number;
  /** The longest delay, seconds (default 3600; at most 86,400). */
  maxSeconds?: number;
  /** Attempts before an alert is marked `failed`, 1 to 100 (default 12: about 2.4 hours with the defaults). */
  maxAttempts?: number;
}

/** The defaults of `RetryPolicy`. */
export const DEFAULT_RETRY = { baseSeconds: 5, maxSeconds: 3600, maxAttempts: 12 } as const satisfies Required<RetryPolicy>;

/**
 * Seconds until the next attempt after `attempts` earlier failed ones: `min(base · 2^attempts, max)`,
 * spread by ±20 % (`random` in [0, 1)) so that alerts that failed together (the receiver was down)
 * do not all come back in the same second, and never above `max`. A `Retry-After` the receiver
 * sent (seconds) is honoured up to `max`.
 *
 * @example
 * retryDelay(0, DEFAULT_RETRY) // ≈ 5 (4 to 6)
 * retryDelay(3, DEFAULT_RETRY) // ≈ 40
 */
export function retryDelay(attempts: number, policy: Required<RetryPolicy>, random: () => number = Math.random, retryAfter: number | null = null): number {
  const exponential = policy.baseSeconds * 2 ** Math.min(Math.max(attempts, 0), 52);
  const jittered = Math.min(exponential, policy.maxSeconds) * (0.8 + 0.4 * random());
  const wanted = retryAfter === null ? jittered : Math.max(jittered, retryAfter);
  return Math.round(Math.min(wanted, policy.maxSeconds));
}

/** `Retry-After` in seconds (delta-seconds or an IMF-fixdate), or null. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text);
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}
