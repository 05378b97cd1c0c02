/**
 * `TOKENGATE_LONG=1` runs the long randomized suites in full: the ledger model run
 * (test/ledger/model.test.ts) and the HTTP fuzzer (test/http/fuzz.test.ts). `.ci/run` sets it, so
 * CI runs them in full on every submission; a local `npm test` runs shorter versions of the same
 * properties, which keeps it fast on a busy machine while still finding most regressions.
 * Explicit counts (TOKENGATE_RUNS, FUZZ_RUNS) override both.
 */

/** Whether this run is a long one (`TOKENGATE_LONG=1`). */
export function longRuns(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.TOKENGATE_LONG === '1';
}

/**
 * `long` in a long run, else `short`.
 *
 * @example
 * const numRuns = runCount({ long: 100, short: 25 });
 */
export function runCount(counts: { long: number; short: number }, env: NodeJS.ProcessEnv = process.env): number {
  return longRuns(env) ? counts.long : counts.short;
}
