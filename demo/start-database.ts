/**
 * The playground's database, as `npm start` opens it: embedded PGlite persisted in the data folder
 * (default `.tokengate/`), or the Postgres/Supabase database at `DATABASE_URL`.
 *
 * A new PGlite folder starts from a migrated data-directory dump (`server/pglite-dump.ts`: built
 * once per set of migrations and cached in `node_modules/.cache/tokengate-demo/`), never by initdb
 * + migrations. The demo organizations and their month of history are seeded in the background:
 * the returned store and `query` wait for the seed, so the server can listen meanwhile and no
 * request ever sees a half-seeded database.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TokenGateError } from '../src/core/token-gate-error.ts';
import { migrationFiles, runMigrations } from '../server/migrate.ts';
import { cachedPgliteDump, extractPgliteDump, migrationsFingerprint } from '../server/pglite-dump.ts';
import type { TokenStore } from '../server/store.ts';
import { pgliteStore } from '../server/stores/pglite-store.ts';
import { postgresStore } from '../server/stores/postgres-store.ts';
import { seedDemo } from './seed.ts';

const REPO_ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
/** Where the migrated PGlite dump is cached (outside the data folder, so `--reset` keeps it). */
export const DUMP_CACHE_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'tokengate-demo');

/** Options of `startDatabase`. */
export interface StartDatabaseOptions {
  /** The data folder (PGlite database, signing secret, markers). */
  dir: string;
  /** A Postgres/Supabase connection string to use instead of PGlite. */
  databaseUrl?: string;
  /** The database is Supabase: do not run the compatibility script. */
  supabase?: boolean;
  /** Progress lines. */
  log: (line: string) => void;
  /** Where the migrated dump is cached. Default `DUMP_CACHE_DIR`. */
  cacheDir?: string;
}

/** The playground's open database. */
export interface DemoDatabase {
  kind: 'pglite' | 'postgres';
  /** The ledger store; its calls wait until the demo data is seeded. */
  store: TokenStore;
  /** Raw SQL (the demo's database view; not the API); waits until the demo data is seeded. */
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Settles when the background seed has finished (rejects if it failed). */
  seeded: Promise<void>;
  /** Waits for the seed to settle, then closes the database. */
  close(): Promise<void>;
}

interface OpenDatabase {
  kind: 'pglite' | 'postgres';
  store: TokenStore;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Run `fn` with a store whose calls form one transaction where the engine allows it. */
  seedWith<T>(fn: (store: TokenStore) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Written once the data folder holds a migrated PGlite database (its migrations' fingerprint). */
const MIGRATED_MARK = 'migrations.sha256';
/** Written once the PGlite database is seeded. */
const SEEDED_MARK = 'seeded';

/**
 * Whether the data folder holds a PGlite database that was created and seeded before (so opening it
 * is only PGlite's start-up: no dump to extract, no seed to write).
 *
 * @example
 * if (isPgliteStarted('.tokengate')) void startDatabase({ dir: '.tokengate', log });
 */
export function isPgliteStarted(dir: string, databaseUrl?: string): boolean {
  return !databaseUrl && existsSync(path.join(dir, MIGRATED_MARK)) && existsSync(path.join(dir, SEEDED_MARK));
}

/**
 * Open (and on first use create) the playground's database and start seeding it.
 *
 * @example
 * const db = await startDatabase({ dir: '.tokengate', log: console.log });
 * const gate = createTokenGate({ store: db.store }); // calls wait for the seed
 */
export async function startDatabase(options: StartDatabaseOptions): Promise<DemoDatabase> {
  const opened = options.databaseUrl ? await openPostgres(options) : await openPglite(options);
  // Seeding is idempotent per organization; the marker only saves the check on later starts.
  const seededMark = path.join(options.dir, opened.kind === 'pglite' ? SEEDED_MARK : 'seeded-postgres');
  const seeded =
    opened.kind === 'pglite' && existsSync(seededMark)
      ? Promise.resolve()
      : (async () => {
          const events = await opened.seedWith((store) => seedDemo(store));
          if (events > 0) options.log(`Seeded 3 organizations and ${events} usage events over the last 30 days (ledger reconciles).`);
          if (opened.kind === 'pglite') await writeFile(seededMark, new Date().toISOString());
        })();
  seeded.catch((error: unknown) => {
    options.log(`Seeding the playground failed: ${error instanceof Error ? error.message : String(error)} — try \`npm run demo:reset\`.`);
  });
  const afterSeed = async () => {
    try {
      await seeded;
    } catch {
      throw new TokenGateError('unavailable', 'The playground data could not be seeded; see the server log.');
    }
  };
  return {
    kind: opened.kind,
    store: {
      async rpc(fn, args, rpcOptions) {
        await afterSeed();
        return opened.store.rpc(fn, args, rpcOptions);
      },
      // The live balances' change feed (the handler's /events route): LISTEN needs no seed.
      ...(opened.store.listen ? { listen: opened.store.listen.bind(opened.store) } : {}),
    },
    async query(sql, params) {
      await afterSeed();
      return opened.query(sql, params);
    },
    seeded,
    async close() {
      await seeded.catch(() => {});
      await opened.close();
    },
  };
}

async function openPostgres(options: StartDatabaseOptions): Promise<OpenDatabase> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
  pool.on('error', () => {});
  const query = async <T,>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T[];
  const exists = (await query<{ exists: boolean }>(`select to_regnamespace('tokengate') is not null as exists`))[0]?.exists === true;
  if (!exists) {
    options.log('Applying the migrations to DATABASE_URL…');
    const files = await migrationFiles(undefined, { compat: !options.supabase });
    const client = await pool.connect();
    try {
      await runMigrations((sql) => client.query(sql), files);
    } finally {
      client.release();
    }
  }
  // The pool connects as the database user; the store acts as service_role on its own pool.
  const store = postgresStore({ connectionString: options.databaseUrl! });
  return {
    kind: 'postgres',
    store,
    query,
    seedWith: (fn) => fn(store),
    close: async () => {
      await store.close?.();
      await pool.end();
    },
  };
}

async function openPglite(options: StartDatabaseOptions): Promise<OpenDatabase> {
  const files = await migrationFiles(undefined, { compat: !options.supabase });
  const fingerprint = migrationsFingerprint(files);
  const dataDir = path.join(options.dir, 'pgdata');
  // Written once the data folder holds a migrated database: without it, a first start was
  // interrupted and the data is discarded.
  const markFile = path.join(options.dir, MIGRATED_MARK);
  const fresh = !existsSync(markFile);
  const [{ PGlite }, dump] = await Promise.all([
    import('@electric-sql/pglite'),
    fresh ? cachedPgliteDump(files, options.cacheDir ?? DUMP_CACHE_DIR) : null,
  ]);
  if (fresh) {
    options.log(
      `First start: creating the database in ${path.relative(process.cwd(), dataDir) || dataDir}` +
        (dump!.built ? ` (migrated once, cached in ${path.relative(process.cwd(), dump!.file)})…` : ` from the migrated dump…`),
    );
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(options.dir, { recursive: true });
    // node:fs writes the files on its thread pool, several times faster than loadDataDir's
    // synchronous writes on the main thread (which Vite needs meanwhile).
    await extractPgliteDump(dump!.dump, dataDir);
  }
  const pglite = await PGlite.create(dataDir);
  if (fresh) {
    await writeFile(markFile, fingerprint);
  } else if ((await readFile(markFile, 'utf8').catch(() => '')) !== fingerprint) {
    options.log('The migrations changed since this database was created: run `npm run demo:reset` to recreate it.');
  }
  const query = async <T,>(sql: string, params?: unknown[]) => (await pglite.query<T>(sql, params ?? [])).rows;
  return {
    kind: 'pglite',
    store: pgliteStore(pglite),
    query,
    // The seed's few hundred ledger calls as ONE transaction: one WAL flush instead of one per
    // call, and a seed interrupted halfway leaves nothing behind (the next start seeds again).
    seedWith: (fn) => pglite.transaction((tx) => fn(pgliteStore(tx))),
    close: () => pglite.close(),
  };
}

/**
 * The per-install signing secret of the demo's tokens (created on first start).
 *
 * @example
 * const secret = await demoSecret('.tokengate');
 */
export async function demoSecret(dir: string): Promise<string> {
  const file = path.join(dir, 'demo-jwt-secret');
  const existing = await readFile(file, 'utf8').catch(() => '');
  if (existing.trim().length >= 32) return existing.trim();
  const secret = randomBytes(32).toString('base64url');
  await mkdir(dir, { recursive: true });
  await writeFile(file, secret, { mode: 0o600 });
  return secret;
}
