/**
 * How many connections a test run may open on the shared Postgres server, and how they are split.
 *
 * The server's `max_connections` (100 by default) is shared with everything else on it, other
 * test runs included. A run opens at most `TOKENGATE_TEST_MAX_CONNECTIONS` (default 24):
 * - Vitest runs at most `files` test files at once (its maxWorkers, set in vite.config.ts from
 *   `fileParallelism()` below); each file may hold `perFile` = ⌊(max − 1) / files⌋ connections;
 * - the 1 is the global setup's admin connection (building or dropping the template database);
 * - inside a file, test/db.ts counts what the harness opens (each database's own session, each
 *   `pool(n)`) and refuses a pool that would go past `perFile`; the concurrency suites size their
 *   pools from it (`perFile` − 2: their database's session and one admin connection beside them);
 * - connections a file opens outside the harness are small and fixed, and fit in
 *   `MIN_FILE_CONNECTIONS`: `npm run bench -- --quick` (8 lanes + its admin + a database being
 *   created), the CLI and consumer-app tests (≤ 6), the store contract (2) and faults (4) pools.
 * Should the server still be full (other runs), the harness waits and retries (connect-with-retry.ts).
 */
import os from 'node:os';

/** Default of `TOKENGATE_TEST_MAX_CONNECTIONS`: four runs fit a default server (4 × 24 < 97). */
export const DEFAULT_MAX_TEST_CONNECTIONS = 24;

/** The fewest connections a test file needs (see the module comment). */
export const MIN_FILE_CONNECTIONS = 10;

/** Held outside any test file: the global setup's admin connection. */
export const SETUP_CONNECTIONS = 1;

/** How a run's connections are split. */
export interface ConnectionBudget {
  /** The most the whole run opens at once. */
  max: number;
  /** Test files running at once (Vitest's maxWorkers). */
  files: number;
  /** The most one test file holds at once. */
  perFile: number;
}

/** `TOKENGATE_TEST_MAX_CONNECTIONS`, or the default. */
export function maxTestConnections(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TOKENGATE_TEST_MAX_CONNECTIONS;
  if (raw === undefined || raw === '') return DEFAULT_MAX_TEST_CONNECTIONS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < SETUP_CONNECTIONS + MIN_FILE_CONNECTIONS) {
    throw new Error(`TOKENGATE_TEST_MAX_CONNECTIONS=${raw}: expected an integer ≥ ${SETUP_CONNECTIONS + MIN_FILE_CONNECTIONS}`);
  }
  return value;
}

/**
 * Test files to run at once: as many as the machine has cores to spare (at least 2: most files
 * wait on Postgres, Chromium or a child process, not on the CPU), but no more than the connection
 * budget gives `MIN_FILE_CONNECTIONS` each.
 */
export function fileParallelism(env: NodeJS.ProcessEnv = process.env): number {
  const byCores = Math.max(2, os.availableParallelism() - 1);
  const byConnections = Math.floor((maxTestConnections(env) - SETUP_CONNECTIONS) / MIN_FILE_CONNECTIONS);
  return Math.max(1, Math.min(byCores, byConnections));
}

/**
 * The split for `files` files at once; throws when a file would get fewer than
 * `MIN_FILE_CONNECTIONS` (e.g. `--maxWorkers` raised without raising the budget).
 *
 * @example
 * connectionBudget(24, 2); // { max: 24, files: 2, perFile: 11 }
 */
export function connectionBudget(max: number, files: number): ConnectionBudget {
  const perFile = Math.floor((max - SETUP_CONNECTIONS) / files);
  if (perFile < MIN_FILE_CONNECTIONS) {
    throw new Error(
      `[tokengate] ${files} test files at once need ${files * MIN_FILE_CONNECTIONS + SETUP_CONNECTIONS} Postgres connections, ` +
        `but TOKENGATE_TEST_MAX_CONNECTIONS is ${max}: raise it, or run fewer files at once (--maxWorkers).`,
    );
  }
  return { max, files, perFile };
}
