/**
 * Waiting for a condition instead of a duration: tests that need "B happens while A is still
 * going" wait until they can see it (a counter, a row, a state), however slow the machine is. The
 * deadline only decides when a condition that never comes fails the test, with what it waited for.
 */

/** Options of `waitFor`. */
export interface WaitForOptions {
  /** What is awaited, for the failure message. */
  what: string;
  /** Fail after this many ms. Default 30,000: generous on a loaded machine, never reached when all is well. */
  timeoutMs?: number;
  /** How often to check, ms. Default 5. */
  intervalMs?: number;
}

/**
 * Resolve once `condition()` returns true (it may be async); reject after `timeoutMs`.
 *
 * @example
 * await waitFor(() => stats.running === 10, { what: 'all 10 handlers running' });
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, options: WaitForOptions): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs ?? 30_000} ms waiting for ${options.what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 5));
  }
}
