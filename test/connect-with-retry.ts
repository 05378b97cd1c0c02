/**
 * Opening a Postgres connection on a server that other test runs share: when the server is full
 * (SQLSTATE 53300 too_many_connections, also raised for a role's or database's CONNECTION LIMIT)
 * or not accepting connections yet (57P03 cannot_connect_now: starting up, recovering), the harness
 * waits and tries again instead of failing the test: another run's connections come and go within
 * seconds. Every other error fails at once (a wrong URL or password does not get better by waiting).
 */

/** SQLSTATEs worth waiting for: the server will accept the connection once others have left. */
export const RETRYABLE_CONNECT_SQLSTATES: ReadonlySet<string> = new Set(['53300', '57P03']);

/** Whether `error` (from pg's `connect()`) says "try again later". */
export function isRetryableConnectError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_CONNECT_SQLSTATES.has(code);
}

/**
 * How long to keep trying: `TOKENGATE_TEST_CONNECT_WAIT_MS`, default 90 s (less than the hooks'
 * 120 s timeout, so a server that stays full fails with its own error, not a hook timeout).
 */
export function connectWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.TOKENGATE_TEST_CONNECT_WAIT_MS);
  return Number.isFinite(value) && value > 0 ? value : 90_000;
}

let waits = 0;

/** How many times `connectWithRetry` has waited in this process so far (tests watch it grow). */
export function connectRetries(): number {
  return waits;
}

/** Options of `connectWithRetry`. */
export interface RetryOptions {
  /** Give up (rethrowing the last error) once this many ms have passed. Default `connectWaitMs()`. */
  waitMs?: number;
  /** First backoff, ms; it doubles up to `maxDelayMs`, with jitter so that waiting runs spread out. Default 50. */
  initialDelayMs?: number;
  /** Longest backoff, ms. Default 2,000. */
  maxDelayMs?: number;
  /** Called before each wait, e.g. to log, or for a test to see that a retry happened. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Run `open` until it succeeds, retrying only connection-limit errors, with exponential backoff.
 * `open` must make a new attempt each call (a pg.Client cannot connect twice).
 *
 * @example
 * const client = await connectWithRetry(async () => {
 *   const c = new pg.Client({ connectionString });
 *   try { await c.connect(); return c; } catch (e) { await c.end().catch(() => {}); throw e; }
 * });
 */
export async function connectWithRetry<T>(open: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const waitMs = options.waitMs ?? connectWaitMs();
  const maxDelayMs = options.maxDelayMs ?? 2_000;
  const deadline = Date.now() + waitMs;
  let delay = options.initialDelayMs ?? 50;
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      if (!isRetryableConnectError(error) || Date.now() >= deadline) throw error;
      const wait = Math.min(delay, maxDelayMs, Math.max(0, deadline - Date.now())) * (0.5 + Math.random() / 2);
      waits++;
      options.onRetry?.(error, attempt, wait);
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay *= 2;
    }
  }
}
