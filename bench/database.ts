/**
 * A scratch database for one benchmark section: uniquely named, migrated with the product's own
 * runner (compat script + migrations), dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrationFiles, runMigrations } from '../server/migrate.ts';

/** Scratch databases not dropped yet (dropped by `dropAllDatabases` on Ctrl-C). */
const active = new Set<BenchDatabase>();

/** Names of every scratch database this process created (reported, so a test can check they are gone). */
export const createdDatabases: string[] = [];

/** Drop every scratch database still open (interrupt handler). */
export async function dropAllDatabases(): Promise<void> {
  await Promise.allSettled([...active].map((db) => db.drop()));
}

/** A migrated scratch database on the server. */
export interface BenchDatabase {
  name: string;
  /** Connection string of the scratch database (as the connecting superuser). */
  url: string;
  /** A superuser session in the scratch database (setup, growth, checks). */
  admin: pg.Client;
  /** A pool whose sessions act as `service_role`, as `postgresStore` does in production. */
  servicePool(max: number): pg.Pool;
  /** Close every pool and the admin session, and drop the database. */
  drop(): Promise<void>;
}

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/** `url` without a password, for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

/** int8 as a JS number (counts and ids here stay far below 2^53). */
const TYPES = new pg.TypeOverrides();
TYPES.setTypeParser(20, 'text', (text: string) => Number(text));

/**
 * Create `tokengate_bench_<pid>_<random>` on the server at `serverUrl`, apply the compat script and
 * the migrations, and return handles to it.
 *
 * @example
 * const db = await createBenchDatabase('postgres://postgres@127.0.0.1:5432/test');
 * try { ... } finally { await db.drop(); }
 */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `tokengate_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const server = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  await server.connect();
  try {
    await server.query(`create database ${pg.escapeIdentifier(name)}`);
    createdDatabases.push(name);
  } finally {
    await server.end();
  }
  const url = withDatabase(serverUrl, name);
  const pools: pg.Pool[] = [];
  const admin = new pg.Client({ connectionString: url, types: TYPES });
  const drop = async () => {
    active.delete(handle);
    for (const pool of pools.splice(0)) await pool.end().catch(() => {});
    await admin.end().catch(() => {});
    const again = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
    await again.connect();
    try {
      await again.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    } finally {
      await again.end();
    }
  };
  const handle: BenchDatabase = {
    name,
    url,
    admin,
    servicePool(max) {
      const pool = new pg.Pool({ connectionString: url, max, options: '-c role=service_role', types: TYPES, connectionTimeoutMillis: 10_000 });
      pool.on('error', () => {});
      pools.push(pool);
      return pool;
    },
    drop,
  };
  active.add(handle);
  try {
    await admin.connect();
    await runMigrations((sql) => admin.query(sql), await migrationFiles());
  } catch (error) {
    await drop().catch(() => {});
    throw error;
  }
  return handle;
}

/** Fail fast with a readable message when the server cannot be reached. */
export async function probeServer(serverUrl: string): Promise<{ version: string }> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>(`select current_setting('server_version') as v`);
    return { version: rows[0]!.v };
  } catch (error) {
    const message = error instanceof AggregateError ? error.errors.map((e: Error) => e.message).join('; ') : (error as Error).message;
    throw new Error(`cannot reach the Postgres server at ${redactUrl(serverUrl)}: ${message}`, { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
}
