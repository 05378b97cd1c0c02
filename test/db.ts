/**
 * The real-Postgres test harness every SQL test suite uses.
 *
 * Two engines run the same migrations:
 * - PGlite (Postgres in WASM, always available): `test/global-setup.ts` migrates one PGlite once
 *   per run and dumps its data directory to a temp file; each `freshPglite()` loads that dump
 *   (~0.5 s) instead of creating and migrating a new instance.
 * - A Postgres server (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`): the
 *   global setup creates one migrated template database per run; each `freshPostgres()` is a
 *   `CREATE DATABASE … TEMPLATE <template>` that `close()` drops again.
 *
 * Connections to the server are capped per run (`TOKENGATE_TEST_MAX_CONNECTIONS`, see
 * test/connection-budget.ts: each test file gets a share, and `pool(n)` refuses to go past it) and
 * retried with backoff while the shared server is full (test/connect-with-retry.ts).
 *
 * Both engines return the same JS values for the same SQL (see `PG_TYPES` and `PGLITE_PARSERS`):
 * int2/int4/int8 → number (int8 beyond ±2^53 → bigint), numeric → string, timestamptz/timestamp →
 * Date, date → 'YYYY-MM-DD', interval → Postgres text, bytea → Uint8Array, json/jsonb → parsed.
 * Both run with `TimeZone = UTC`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite, type ParserOptions } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { COMPAT_MIGRATION, describeSqlError, migrationFiles, runMigrations } from '../server/migrate.ts';
import { connectWithRetry, type RetryOptions } from './connect-with-retry.ts';
import { type ConnectionBudget, connectionBudget, maxTestConnections } from './connection-budget.ts';

export { COMPAT_MIGRATION, describeSqlError, migrationFiles, runMigrations };

/** A result row: column name → value, parsed as described in the module comment. */
export type Row = Record<string, unknown>;

/** Something that runs one parameterised statement and returns its rows. */
export interface Querier {
  /** Run one statement (`$1`, `$2`… placeholders); several statements in one string are an error on both engines. */
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** Who a statement runs as, the way Supabase's PostgREST sets it up for a request. */
export type Actor =
  | { role: 'anon' }
  | { role: 'authenticated'; userId: string }
  | { role: 'service_role' };

/** One database, either engine. All SQL goes through here. */
export interface TestDb {
  /** Which engine this database runs on. */
  kind: 'pglite' | 'postgres';
  /**
   * For postgres: the connection URL of this database (same user as `DATABASE_URL`), for code
   * under test that opens its own connections. New sessions opened with it see the clock set by
   * `setNow()` too (it is stored with `ALTER DATABASE … SET`). Null on PGlite.
   */
  url: string | null;
  /**
   * Run one parameterised statement as the connection's owner (superuser): returns rows.
   * Several statements in one string are rejected on both engines (use `exec`).
   */
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Run several statements (no params), as the owner. */
  exec(sql: string): Promise<void>;
  /**
   * Run `fn` inside a transaction acting as a Supabase role, the way PostgREST does:
   * `set local role <role>` and `set_config('request.jwt.claims', <json>, true)` with claims
   * `{sub, role}` for authenticated, `{role:'anon'}` for anon, `{role:'service_role'}` for service.
   * The transaction is committed if `fn` resolves, rolled back if it throws (the error is
   * rethrown). If a statement failed and `fn` swallowed the error, Postgres can only roll back:
   * `as()` then rejects with "Transaction was rolled back instead of committed" on both engines.
   * Inside `fn` use the `Querier` it is given: calling this `TestDb` from inside `fn` would wait
   * for the transaction forever, so it throws instead.
   */
  as<T>(who: Actor, fn: (q: Querier) => Promise<T>): Promise<T>;
  /**
   * Set the injectable SQL clock: every later statement on this database sees
   * `current_setting('tokengate.now', true)` = `at` (a Date is stored as its ISO string, a
   * string as given after checking it casts to timestamptz). `null` restores the real clock
   * (stores ''). Before any `setNow` the setting is unset (`current_setting(…, true)` is null).
   * On postgres this covers the harness's own connection, every pool from `pool()` (applied when
   * a client is checked out, so a client already checked out sees it from its next checkout) and
   * new sessions opened with `url`.
   */
  setNow(at: Date | string | null): Promise<void>;
  /**
   * For postgres only: a new pg.Pool of up to `max` connections to this database, with the same
   * type parsing and clock as the harness (the harness ends it on close()). For concurrency
   * tests. Throws on PGlite, which has a single connection, and when `max` would take this test
   * file past its share of the run's connections (`poolLimit()`). New connections are retried
   * while the server is full.
   */
  pool(max: number): pg.Pool;
  /**
   * LISTEN on `channel`: `onPayload` gets each notification's payload, in commit order. Resolves
   * once listening, to a function that stops. On postgres it holds one connection of this file's
   * share until stopped or closed.
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /** Close every connection (and on postgres drop the database). Idempotent. */
  close(): Promise<void>;
}

/** What `test/global-setup.ts` hands to the test workers through Vitest's `provide`/`inject`. */
export interface HarnessContext {
  /** The server's URL (`DATABASE_URL` or the default); per-test databases live on this server. */
  databaseUrl: string;
  /** Whether server suites run in this run. */
  serverAvailable: boolean;
  /** Why server suites are skipped (null when they run). */
  serverSkipReason: string | null;
  /** Name of this run's migrated template database on the server (null when unavailable). */
  template: string | null;
  /** Unique id of this run; per-test database names start with `tokengate_t_<runId>_`. */
  runId: string;
  /** Path of the tar dump of the migrated PGlite data directory (null: build in-process). */
  pgliteDataDir: string | null;
  /** Directory the migrations were read from. */
  migrationsDir: string;
  /** The run's connection cap and each test file's share of it (test/connection-budget.ts). */
  connections: ConnectionBudget;
}

declare module 'vitest' {
  export interface ProvidedContext {
    tokengate: HarnessContext;
  }
}

/** The server used when `DATABASE_URL` is not set. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The repository root (the parent of `test/`). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `<repo>/migrations`. */
export const DEFAULT_MIGRATIONS_DIR = path.join(REPO_ROOT, 'migrations');

/** `DATABASE_URL` if set and non-empty, else `DEFAULT_DATABASE_URL`. */
export function configuredDatabaseUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

/** `TOKENGATE_MIGRATIONS_DIR` (resolved against the cwd) if set, else `DEFAULT_MIGRATIONS_DIR`. */
export function configuredMigrationsDir(): string {
  const dir = process.env.TOKENGATE_MIGRATIONS_DIR;
  return dir ? path.resolve(dir) : DEFAULT_MIGRATIONS_DIR;
}

// ---------------------------------------------------------------------------------------------
// Type parsing: make both engines return the same values.

/** int8 as a number when it is exactly representable, else a bigint (what PGlite does). */
function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

const defaultTypes = new pg.TypeOverrides(); // falls back to pg's global defaults
const parseTextArray = defaultTypes.getTypeParser(1009, 'text') as unknown as (text: string) => (string | null)[];
const parseByteaDefault = defaultTypes.getTypeParser(17, 'text') as unknown as (text: string) => Buffer;

/**
 * node-postgres type parsers used by every connection the harness opens (set on the pools' own
 * type config, never globally): int8 (20) and int8[] (1016) → number/bigint, date (1082) and
 * date[] (1182) → 'YYYY-MM-DD', interval (1186) and interval[] (1187) → Postgres text, bytea (17)
 * → plain Uint8Array (not Buffer). Matches PGlite's defaults plus `PGLITE_PARSERS`.
 */
export const PG_TYPES = new pg.TypeOverrides();
PG_TYPES.setTypeParser(20, 'text', parseInt8);
PG_TYPES.setTypeParser(1016, 'text', (text: string) => parseTextArray(text).map((v) => (v === null ? null : parseInt8(v))));
PG_TYPES.setTypeParser(1082, 'text', (text: string) => text);
PG_TYPES.setTypeParser(1182, 'text', parseTextArray);
PG_TYPES.setTypeParser(1186, 'text', (text: string) => text);
PG_TYPES.setTypeParser(1187, 'text', parseTextArray);
PG_TYPES.setTypeParser(17, 'text', (text: string) => new Uint8Array(parseByteaDefault(text)));

/** PGlite parsers: date (1082) stays 'YYYY-MM-DD' (PGlite's default makes it a Date at UTC midnight). */
export const PGLITE_PARSERS: ParserOptions = { 1082: (text: string) => text };

// ---------------------------------------------------------------------------------------------
// Shared pieces.

const NOW_SETTING = 'tokengate.now';

/** The `as()` transaction currently running in this async context, to catch self-deadlocks. */
const activeAs = new AsyncLocalStorage<TestDb>();

function assertNotInsideAs(db: TestDb, method: string): void {
  if (activeAs.getStore() === db) {
    throw new Error(
      `TestDb.${method}() was called inside as() on the same database: it would wait for the as() ` +
        'transaction forever. Use the Querier passed to the as() callback instead.',
    );
  }
}

function roleOf(who: Actor): { role: string; claims: string } {
  switch (who.role) {
    case 'anon':
      return { role: 'anon', claims: JSON.stringify({ role: 'anon' }) };
    case 'authenticated':
      return { role: 'authenticated', claims: JSON.stringify({ sub: who.userId, role: 'authenticated' }) };
    case 'service_role':
      return { role: 'service_role', claims: JSON.stringify({ role: 'service_role' }) };
    default:
      throw new Error(`unknown actor ${JSON.stringify(who)}`);
  }
}

/** The `tokengate.now` value for `setNow(at)`: ISO for a Date, '' for null. */
function clockValue(at: Date | string | null): string {
  if (at === null) return '';
  if (at instanceof Date) {
    if (Number.isNaN(at.getTime())) throw new Error('setNow(): invalid Date');
    return at.toISOString();
  }
  return at;
}

const CHECK_CLOCK_SQL = `select case when $1::text = '' then null else $1::text::timestamptz end as at`;
const SET_CLOCK_SQL = `select set_config('${NOW_SETTING}', $1::text, false)`;

// ---------------------------------------------------------------------------------------------
// Provided context.

let context: HarnessContext | undefined;

/** The context from `test/global-setup.ts`, or a PGlite-only fallback when it did not run. */
export function harnessContext(): HarnessContext {
  if (context) return context;
  let provided: HarnessContext | undefined;
  try {
    provided = inject('tokengate');
  } catch {
    provided = undefined; // not inside a Vitest worker (e.g. imported by the global setup)
  }
  context = provided ?? {
    databaseUrl: configuredDatabaseUrl(),
    serverAvailable: false,
    serverSkipReason: 'test/global-setup.ts did not run',
    template: null,
    runId: `${Date.now()}_${process.pid}`,
    pgliteDataDir: null,
    migrationsDir: configuredMigrationsDir(),
    connections: connectionBudget(maxTestConnections(), 1),
  };
  return context;
}

/** Whether this run has a usable Postgres server (decided once by the global setup). */
export const serverAvailable: boolean = harnessContext().serverAvailable;

// ---------------------------------------------------------------------------------------------
// PGlite.

/**
 * Create a PGlite, run `files` on it and return a dump of its data directory (an uncompressed
 * tar) that `PGlite.create({ loadDataDir })` loads.
 */
export async function buildPgliteTemplate(files: readonly { name: string; sql: string }[]): Promise<Blob> {
  const db = await PGlite.create();
  try {
    await runMigrations((sql) => db.exec(sql), files);
    return await db.dumpDataDir('none');
  } finally {
    await db.close();
  }
}

let pgliteTemplate: Promise<Blob> | undefined;

function loadPgliteTemplate(): Promise<Blob> {
  pgliteTemplate ??= (async () => {
    const ctx = harnessContext();
    if (ctx.pgliteDataDir) return new Blob([await readFile(ctx.pgliteDataDir)], { type: 'application/x-tar' });
    return buildPgliteTemplate(await migrationFiles(ctx.migrationsDir));
  })();
  return pgliteTemplate;
}

/** A new, migrated PGlite database of its own (loaded from this run's migrated data directory). */
export async function freshPglite(): Promise<TestDb> {
  const pglite = await PGlite.create({ loadDataDir: await loadPgliteTemplate(), parsers: PGLITE_PARSERS });
  return wrapPglite(pglite);
}

function wrapPglite(pglite: PGlite): TestDb {
  const db: TestDb = {
    kind: 'pglite',
    url: null,
    async query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]> {
      assertNotInsideAs(db, 'query');
      return (await pglite.query<T>(sql, params ?? [])).rows;
    },
    async exec(sql: string): Promise<void> {
      assertNotInsideAs(db, 'exec');
      await pglite.exec(sql);
    },
    async as<T>(who: Actor, fn: (q: Querier) => Promise<T>): Promise<T> {
      assertNotInsideAs(db, 'as');
      const { role, claims } = roleOf(who);
      return pglite.transaction(async (tx) => {
        await tx.query(`select set_config('request.jwt.claims', $1, true)`, [claims]);
        await tx.exec(`set local role ${role}`);
        const q: Querier = {
          async query<R extends Row = Row>(sql: string, params?: unknown[]): Promise<R[]> {
            return (await tx.query<R>(sql, params ?? [])).rows;
          },
        };
        return activeAs.run(db, () => fn(q));
      });
    },
    async setNow(at: Date | string | null): Promise<void> {
      assertNotInsideAs(db, 'setNow');
      const value = clockValue(at);
      await pglite.query(CHECK_CLOCK_SQL, [value]);
      await pglite.query(SET_CLOCK_SQL, [value]);
    },
    pool(): pg.Pool {
      throw new Error('TestDb.pool() needs the postgres engine: PGlite has a single connection');
    },
    async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
      const stop = await pglite.listen(channel, onPayload);
      return async () => stop();
    },
    async close(): Promise<void> {
      if (!pglite.closed) await pglite.close();
    },
  };
  return db;
}

// ---------------------------------------------------------------------------------------------
// Postgres server.

/** `url` with its database name replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** `url` with any password replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * A connected pg.Client; while the server is full (53300) or starting (57P03) it waits and tries
 * again (test/connect-with-retry.ts). For tests that need a plain client outside the harness.
 */
export async function connectClient(config: pg.ClientConfig, retry?: RetryOptions): Promise<pg.Client> {
  return connectWithRetry(async () => {
    const client = new pg.Client({ connectionTimeoutMillis: 60_000, ...config });
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }, retry);
}

/** Run `fn` on a short-lived connection to `url` (the server's maintenance database). */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectClient({ connectionString: url });
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const ident = (name: string) => pg.escapeIdentifier(name);

/** SQLSTATE 55006: the template is being accessed by another session (e.g. autovacuum). */
const OBJECT_IN_USE = '55006';

let databaseSeq = 0;

/**
 * A new, migrated database on the server of its own: `CREATE DATABASE … TEMPLATE <this run's
 * template>`; `close()` drops it. Throws when server suites are disabled in this run.
 */
export async function freshPostgres(): Promise<TestDb> {
  const ctx = harnessContext();
  if (!ctx.serverAvailable || !ctx.template) {
    throw new Error(`freshPostgres(): server suites are disabled in this run (${ctx.serverSkipReason ?? 'no template'})`);
  }
  const template = ctx.template;
  const name = `tokengate_t_${ctx.runId}_${process.pid}_${++databaseSeq}`;
  await withClient(ctx.databaseUrl, async (admin) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`create database ${ident(name)} template ${ident(template)}`);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== OBJECT_IN_USE || attempt >= 20) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  });
  return wrapPostgres(withDatabase(ctx.databaseUrl, name), name, () =>
    withClient(ctx.databaseUrl, async (admin) => {
      await admin.query(`drop database if exists ${ident(name)} with (force)`);
    }),
  );
}

interface Clock {
  /** The value of the last setNow(), undefined before the first. */
  value: string | undefined;
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * A pg.Pool that brings every client it hands out up to date with the harness clock before the
 * caller gets it (`pool.query()` goes through `connect()` too), so a session that was idle during
 * `setNow()` sees the new value on its next checkout. Awaited, not queued: pg 8 deprecates
 * queueing a query on a busy client.
 */
class ClockedPool extends pg.Pool {
  readonly #clock: Clock;
  readonly #isClosing: () => boolean;
  readonly #seen = new WeakMap<pg.PoolClient, string>();
  readonly #guarded = new WeakSet<pg.PoolClient>();

  constructor(config: pg.PoolConfig, clock: Clock, isClosing: () => boolean) {
    super(config);
    this.#clock = clock;
    this.#isClosing = isClosing;
    this.on('error', (err) => {
      // An idle client lost its connection. Expected while the database is being dropped.
      if (!this.#isClosing()) console.error(`[tokengate] idle Postgres connection failed: ${describeSqlError(err)}`);
    });
  }

  /**
   * A checked-out client whose connection ends (e.g. a test leaked it and close() dropped the
   * database WITH (FORCE)) emits 'error'; without a listener that would crash the worker.
   */
  #guard(client: pg.PoolClient): void {
    if (this.#guarded.has(client)) return;
    this.#guarded.add(client);
    client.on('error', (err) => {
      if (!this.#isClosing()) console.error(`[tokengate] checked-out Postgres connection failed: ${describeSqlError(err)}`);
    });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    // A failed connect leaves the pool as it was, so asking again opens a new connection.
    const ready = connectWithRetry(() => super.connect()).then(async (client) => {
      this.#guard(client);
      const value = this.#clock.value;
      if (value !== undefined && this.#seen.get(client) !== value) {
        try {
          await client.query(SET_CLOCK_SQL, [value]);
        } catch (err) {
          client.release(err as Error);
          throw err;
        }
        this.#seen.set(client, value);
      }
      return client;
    });
    if (!callback) return ready;
    ready.then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | boolean | undefined)),
      (err: unknown) => callback(err as Error, undefined, () => {}),
    );
  }
}

/** A pool with the harness's type parsers, `TimeZone = UTC` and clock. */
function clockedPool(url: string, max: number, clock: Clock, isClosing: () => boolean, idleTimeoutMillis?: number): pg.Pool {
  return new ClockedPool(
    {
      connectionString: url,
      max,
      types: PG_TYPES,
      options: '-c TimeZone=UTC',
      application_name: 'tokengate-test',
      connectionTimeoutMillis: 60_000,
      ...(idleTimeoutMillis === undefined ? {} : { idleTimeoutMillis }),
    },
    clock,
    isClosing,
  );
}

/** Forces the extended protocol even without params, so several statements fail as on PGlite. */
function extended(text: string, values: unknown[] | undefined): pg.QueryConfig {
  const config = { text, values: values ?? [], queryMode: 'extended' };
  return config as pg.QueryConfig;
}

async function endPool(pool: pg.Pool): Promise<void> {
  if (pool.ended || pool.ending) return;
  // pool.end() waits for checked-out clients; a test that leaked one must not hang the suite
  // (the database is dropped WITH (FORCE) afterwards, which ends those sessions).
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    pool.end(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 2_000);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Server connections the harness may hold open in this test file (this worker) right now: each
 * open database's session, and every pool's `max`. One more is kept free for the short-lived admin
 * connection that creates and drops databases.
 */
let heldConnections = 0;

/**
 * The largest `pool(n)` this test file may open now: its share of the run's connections
 * (test/connection-budget.ts) minus what the harness already holds and one admin connection.
 */
export function poolLimit(): number {
  return harnessContext().connections.perFile - heldConnections - 1;
}

/**
 * Pool size for a concurrency suite that wants `wanted` connections beside its database's own
 * session: `wanted`, or less when this file's share is smaller. Known when tests are collected
 * (test names can say it).
 */
export function concurrencyPoolSize(wanted: number): number {
  return Math.max(1, Math.min(wanted, harnessContext().connections.perFile - 2));
}

function wrapPostgres(url: string, database: string, drop: () => Promise<void>): TestDb {
  const clock: Clock = { value: undefined };
  let closing = false;
  const isClosing = () => closing;
  // One sticky session, like PGlite: session state (set …, the clock) behaves the same.
  const main = clockedPool(url, 1, clock, isClosing, 0);
  const extraPools = new Set<pg.Pool>();
  let held = 1;
  heldConnections += held;

  const db: TestDb = {
    kind: 'postgres',
    url,
    async query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]> {
      assertNotInsideAs(db, 'query');
      return (await main.query<T>(extended(sql, params))).rows;
    },
    async exec(sql: string): Promise<void> {
      assertNotInsideAs(db, 'exec');
      await main.query(sql);
    },
    async as<T>(who: Actor, fn: (q: Querier) => Promise<T>): Promise<T> {
      assertNotInsideAs(db, 'as');
      const { role, claims } = roleOf(who);
      const client = await main.connect();
      let broken: Error | undefined;
      try {
        try {
          await client.query('begin');
        } catch (err) {
          broken = err as Error;
          throw err;
        }
        let result: T;
        try {
          await client.query(`select set_config('request.jwt.claims', $1, true)`, [claims]);
          await client.query(`set local role ${role}`);
          const q: Querier = {
            async query<R extends Row = Row>(sql: string, params?: unknown[]): Promise<R[]> {
              return (await client.query<R>(extended(sql, params))).rows;
            },
          };
          result = await activeAs.run(db, () => fn(q));
        } catch (err) {
          try {
            await client.query('rollback');
          } catch (rollbackErr) {
            broken = rollbackErr as Error;
          }
          throw err;
        }
        const done = await client.query('commit');
        if (done.command !== 'COMMIT') {
          // COMMIT of an aborted transaction answers ROLLBACK; PGlite throws this same message.
          throw new Error('Transaction was rolled back instead of committed');
        }
        return result;
      } finally {
        client.release(broken);
      }
    },
    async setNow(at: Date | string | null): Promise<void> {
      assertNotInsideAs(db, 'setNow');
      const value = clockValue(at);
      await main.query(CHECK_CLOCK_SQL, [value]);
      clock.value = value; // the next checkout of every pooled client applies it
      await main.query(`alter database ${ident(database)} set ${NOW_SETTING} = ${pg.escapeLiteral(value)}`);
    },
    async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
      const client = await db.pool(1).connect();
      client.on('notification', (message) => {
        if (message.channel === channel) onPayload(message.payload ?? '');
      });
      await client.query(`listen ${ident(channel)}`);
      return async () => {
        await client.query(`unlisten ${ident(channel)}`);
        client.release();
      };
    },
    pool(max: number): pg.Pool {
      if (closing) throw new Error('TestDb.pool(): the database is closed');
      if (max > poolLimit()) {
        const { max: cap, files, perFile } = harnessContext().connections;
        throw new Error(
          `TestDb.pool(${max}): this test file may open ${Math.max(0, poolLimit())} more connection(s) ` +
            `(${perFile} per file: TOKENGATE_TEST_MAX_CONNECTIONS=${cap} shared by ${files} file(s) at once; ` +
            `${heldConnections} held by the harness, 1 kept for admin). Size pools with concurrencyPoolSize().`,
        );
      }
      const pool = clockedPool(url, max, clock, isClosing);
      extraPools.add(pool);
      held += max;
      heldConnections += max;
      return pool;
    },
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      try {
        await Promise.all([...extraPools, main].map(endPool));
        await drop();
      } finally {
        heldConnections -= held;
        held = 0;
      }
    },
  };
  return db;
}

// ---------------------------------------------------------------------------------------------
// Suites.

function skipReason(): string {
  return harnessContext().serverSkipReason ?? 'Postgres server unavailable';
}

function registerSuite(title: string, open: () => Promise<TestDb>, body: (db: () => TestDb) => void): void {
  describe(title, () => {
    let db: TestDb | undefined;
    beforeAll(async () => {
      db = await open();
    });
    afterAll(async () => {
      const current = db;
      db = undefined;
      await current?.close();
    });
    body(() => {
      if (!db) throw new Error(`${title}: the database exists only inside tests and hooks (it is created in beforeAll)`);
      return db;
    });
  });
}

function registerSkipped(title: string, body: (db: () => TestDb) => void): void {
  describe.skip(`${title} (skipped: ${skipReason()})`, () => {
    body(() => {
      throw new Error(`${title}: skipped (${skipReason()})`);
    });
  });
}

/**
 * Register one describe block per engine: `describeEachDb('reservations', (getDb) => { … })`
 * gives `reservations [pglite]` and `reservations [postgres]`. Each block gets its own fresh
 * migrated database, created in `beforeAll` and closed (postgres: dropped) in `afterAll`; its
 * tests share it. When the server is unavailable, the postgres block is `describe.skip`-ped with
 * the reason in its name.
 */
export function describeEachDb(name: string, body: (db: () => TestDb) => void): void {
  registerSuite(`${name} [pglite]`, freshPglite, body);
  describeServer(name, body);
}

/**
 * Register a describe block on the server only (for concurrency tests), named `<name> [postgres]`,
 * with the same database lifecycle and skip rules as `describeEachDb`.
 */
export function describeServer(name: string, body: (db: () => TestDb) => void): void {
  const title = `${name} [postgres]`;
  if (serverAvailable) registerSuite(title, freshPostgres, body);
  else registerSkipped(title, body);
}
