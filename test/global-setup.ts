/**
 * Vitest global setup of the `db` project: runs once per run, in the main process.
 *
 * 1. Reads the migrations (`TOKENGATE_MIGRATIONS_DIR` or `<repo>/migrations`) with the same
 *    `migrationFiles()` loader the workers use.
 * 2. Migrates one PGlite and dumps its data directory to a temp file (each `freshPglite()` loads it).
 * 3. Probes the Postgres server (`DATABASE_URL`, 3 s timeout). Reachable: creates this run's
 *    migrated template database. Unreachable: with `CI=true` the run fails; otherwise server
 *    suites are skipped and one `[tokengate] …` line says so.
 * 4. Hands all of it to the workers as `inject('tokengate')`.
 * Teardown drops the template, any per-test database of this run left behind by a crashed
 * worker, and the temp directory.
 *
 * The projects that list this setup (db, dom, storybook) share one build per run (kept on
 * `globalThis` in Vitest's main process), and the last project to finish tears it down. The
 * storybook project uses only the PGlite dump, served to the browser by test/pglite-dump-route.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { connectWithRetry, isRetryableConnectError } from './connect-with-retry.ts';
import { connectionBudget, maxTestConnections } from './connection-budget.ts';
import {
  buildPgliteTemplate,
  configuredDatabaseUrl,
  configuredMigrationsDir,
  describeSqlError,
  type HarnessContext,
  migrationFiles,
  redactUrl,
  runMigrations,
  withClient,
  withDatabase,
} from './db.ts';

/** Oldest server the harness supports: `DROP DATABASE … WITH (FORCE)` needs 13. */
const MIN_SERVER_VERSION = 130000;

/**
 * Why the server cannot be used, or null when it can. Each attempt has a 3 s connect timeout; a
 * refused connection answers at once, a timeout (a busy machine) is tried up to 3 times, and a full
 * server (other runs' connections) is waited for: it is there, just busy.
 */
async function probeServer(url: string): Promise<string | null> {
  let reason: string | null = null;
  for (let attempt = 1; attempt <= 3; attempt++) {
    reason = await connectWithRetry(() => probeOnce(url)).catch((err: unknown) => connectionErrorText(err));
    if (reason === null || !/timeout/i.test(reason)) return reason;
  }
  return reason;
}

/** Null when usable, else why not; throws the errors worth retrying (a full server). */
async function probeOnce(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000, query_timeout: 10_000 });
  try {
    await client.connect();
    const [row] = (await client.query<{ v: number }>(`select current_setting('server_version_num')::int as v`)).rows;
    if (!row || row.v < MIN_SERVER_VERSION) return `server version ${row?.v ?? '?'} is older than PostgreSQL 13`;
    return null;
  } catch (err) {
    if (isRetryableConnectError(err)) throw err;
    return connectionErrorText(err);
  } finally {
    await client.end().catch(() => {});
  }
}

function connectionErrorText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return err.errors.map((e: unknown) => connectionErrorText(e)).join('; ');
  }
  if (err instanceof Error) return err.message || (err as { code?: string }).code || err.name;
  return String(err);
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, async (admin) => {
    const found = await admin.query(`select datistemplate from pg_database where datname = $1`, [name]);
    if (found.rowCount === 0) return;
    if (found.rows[0]?.datistemplate) await admin.query(`alter database ${pg.escapeIdentifier(name)} is_template false`);
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
  });
}

/** Create `name` and run the migrations in it; left behind as a template nobody can connect to. */
async function buildServerTemplate(url: string, name: string, files: { name: string; sql: string }[]): Promise<void> {
  const id = pg.escapeIdentifier(name);
  await withClient(url, (admin) => admin.query(`create database ${id}`));
  try {
    await withClient(withDatabase(url, name), (client) => runMigrations((sql) => client.query(sql), files));
    // No connections (not even autovacuum's) so that concurrent CREATE DATABASE … TEMPLATE never
    // fails with "source database is being accessed by other users".
    await withClient(url, (admin) => admin.query(`alter database ${id} with is_template true allow_connections false`));
  } catch (err) {
    await dropDatabase(url, name).catch(() => {});
    throw err;
  }
}

async function dropRunDatabases(url: string, runId: string): Promise<void> {
  const names = await withClient(url, async (admin) =>
    (await admin.query<{ datname: string }>(`select datname from pg_database where starts_with(datname, $1)`, [`tokengate_t_${runId}_`])).rows.map((r) => r.datname),
  );
  for (const name of names) await dropDatabase(url, name);
}

interface Harness {
  context: HarnessContext;
  teardown: () => Promise<void>;
}

/** One build per run, whichever project's setup asks first; `users` counts the projects using it. */
interface SharedHarness {
  ready: Promise<Harness>;
  users: number;
}
const SHARED = Symbol.for('tokengate.test-harness');
const store = globalThis as { [SHARED]?: SharedHarness };

/** Build the templates (once per run), provide the harness context, return the teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Test files running at once, as Vitest resolves it (maxWorkers; vite.config.ts sets it).
  const parallelFiles = project.config.maxWorkers ?? project.vitest.config.maxWorkers ?? Math.max(os.availableParallelism() - 1, 1);
  const shared = (store[SHARED] ??= { ready: buildHarness(parallelFiles), users: 0 });
  shared.users++;
  let harness: Harness;
  try {
    harness = await shared.ready;
  } catch (error) {
    if (--shared.users === 0) delete store[SHARED];
    throw error;
  }
  project.provide('tokengate', harness.context);
  // For the storybook project's dump route (test/pglite-dump-route.ts), in this same process.
  if (harness.context.pgliteDataDir) process.env.TOKENGATE_PGLITE_DUMP = harness.context.pgliteDataDir;
  return async () => {
    if (--shared.users > 0) return;
    delete store[SHARED];
    await harness.teardown();
  };
}

async function buildHarness(parallelFiles: number): Promise<Harness> {
  const databaseUrl = configuredDatabaseUrl();
  const migrationsDir = configuredMigrationsDir();
  const runId = `${Date.now()}_${process.pid}`;
  const files = await migrationFiles(migrationsDir);
  const connections = connectionBudget(maxTestConnections(), parallelFiles);

  const unreachable = await probeServer(databaseUrl);
  if (unreachable !== null) {
    const where = `Postgres at ${redactUrl(databaseUrl)}`;
    if (process.env.CI === 'true') {
      throw new Error(
        `[tokengate] ${where} unreachable and CI=true, so the run fails instead of skipping server suites (${unreachable}). ` +
          'Start the server (see .ci/run) or point DATABASE_URL at one.',
      );
    }
    console.log(`[tokengate] ${where} unreachable: server suites skipped (${unreachable})`);
  }

  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-test-'));
  const pgliteDataDir = path.join(tmpDir, 'pglite-datadir.tar');
  const template = unreachable === null ? `tokengate_tpl_${runId}` : null;
  const started = performance.now();
  const timings: string[] = [];
  const timed = async <T>(label: string, work: Promise<T>): Promise<T> => {
    const result = await work;
    timings.push(`${label} ${Math.round(performance.now() - started)} ms`);
    return result;
  };

  const builds = await Promise.allSettled([
    timed('pglite', buildPgliteTemplate(files).then(async (blob) => writeFile(pgliteDataDir, new Uint8Array(await blob.arrayBuffer())))),
    template === null ? Promise.resolve() : timed('postgres', buildServerTemplate(databaseUrl, template, files)),
  ]);
  const failures = builds.flatMap((b) => (b.status === 'rejected' ? [b.reason as unknown] : []));
  if (failures.length > 0) {
    if (template !== null && builds[1]?.status === 'fulfilled') await dropDatabase(databaseUrl, template).catch(() => {});
    await rm(tmpDir, { recursive: true, force: true });
    const messages = [...new Set(failures.map((f) => (f instanceof Error ? f.message : describeSqlError(f))))];
    throw new Error(`[tokengate] building the migrated test templates failed: ${messages.join(' | ')}`, { cause: failures[0] });
  }
  console.log(`[tokengate] ${files.length} migration file(s) applied to templates: ${timings.join(', ')}`);

  const context: HarnessContext = {
    databaseUrl,
    serverAvailable: template !== null,
    serverSkipReason: unreachable,
    template,
    runId,
    pgliteDataDir,
    migrationsDir,
    connections,
  };
  const teardown = async () => {
    try {
      if (template !== null) {
        await dropRunDatabases(databaseUrl, runId);
        await dropDatabase(databaseUrl, template);
      }
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
  };
  return { context, teardown };
}
