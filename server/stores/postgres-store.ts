import type pg from 'pg';
import { ledgerCall, type LedgerArgs, type LedgerFunction } from '../ledger-call.ts';
import type { DeductBatchStore, ListenOptions, RpcOptions, TokenStore } from '../store.ts';
import { databaseError } from './database-error.ts';
import { deductBatch } from './deduct-batch.ts';
import { pgListener, type PgListener } from './pg-listener.ts';

/**
 * The `application_name` of the connection `listen` opens (to find it in `pg_stat_activity`).
 *
 * @example
 * await client.query(`select pid from pg_stat_activity where application_name = $1`, [LISTEN_APPLICATION_NAME]);
 */
export const LISTEN_APPLICATION_NAME = 'tokengate-listen';

/**
 * The ledger functions a read pool may answer: they only read (both are `stable` in SQL, and a test
 * runs them on a read-only session). `stats`, `balances` and `check` are not here: they apply the
 * lazy monthly refresh and expire stale holds (writes) before answering.
 */
export const READ_ONLY_LEDGER_FUNCTIONS: ReadonlySet<LedgerFunction> = new Set<LedgerFunction>(['usage_export', 'verify_ledger']);

/** Options of `postgresStore`. */
export interface PostgresStoreOptions {
  /** A connection string (Supabase's pooler or direct URL, or any Postgres)… */
  connectionString?: string;
  /**
   * …or a pool the app already has (the store will not close it). Its connections must act as the
   * server role (`service_role`): `role` is only applied to pools the store creates.
   */
  pool?: pg.Pool;
  /** Pool size when the store creates the pool (and the read pool). Default 10. */
  max?: number;
  /**
   * Role to act as on every connection the store opens. Default `service_role`, which can execute
   * the ledger functions; set null when the connecting user already is the server role.
   */
  role?: string | null;
  /**
   * A read replica (or any second connection) for the calls that provably do not write:
   * `usage_export` (exports) and `verify_ledger` — see `READ_ONLY_LEDGER_FUNCTIONS`. Everything
   * else stays on the primary, including `stats`, `balances` and `check`: they apply the lazy
   * monthly refresh and expire stale holds before answering, so they write. A replica lags: an
   * export may miss the last moments of writes.
   *
   * The store opens this pool read-only (`default_transaction_read_only = on`, plus `role`), so a
   * write sent to it fails instead of landing on a primary by mistake.
   */
  readConnectionString?: string;
  /**
   * …or a read pool the app already has (the store will not close it; it must act as the server
   * role). Give it `default_transaction_read_only = on` when it does not point at a replica.
   */
  readPool?: pg.Pool;
  /**
   * The database `listen` connects to (live balances: one connection per store, opened on the
   * first subscriber). Default: `connectionString`, or the connection settings of `pool`. It must
   * be a session connection — Postgres itself, or a pooler in SESSION mode (Supabase's direct URL
   * or its pooler on port 5432) —: a pooler in transaction mode (PgBouncer, Supavisor on port
   * 6543) cannot LISTEN.
   */
  listenConnectionString?: string;
}

/**
 * A store on any Postgres through node-postgres with a connection pool: Supabase's connection
 * string, or your own server with the migrations applied. `pg` is loaded on first use, so
 * importing the server module does not require it.
 *
 * @example
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL });
 * const gate = createTokenGate({ store });
 * process.once('SIGTERM', () => void store.close()); // ends the pool it created
 *
 * @example
 * // Exports and verify_ledger() on a read replica; every charge and balance on the primary.
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL, readConnectionString: process.env.REPLICA_URL });
 */
export function postgresStore(options: PostgresStoreOptions): DeductBatchStore & Required<Pick<TokenStore, 'listen' | 'close'>> {
  const role = options.role === undefined ? 'service_role' : options.role;
  const primary = lazyPool(options.pool, options.connectionString, options.max, role ? [`role=${role}`] : []);
  const replica =
    options.readPool || options.readConnectionString
      ? lazyPool(options.readPool, options.readConnectionString, options.max, [...(role ? [`role=${role}`] : []), 'default_transaction_read_only=on'])
      : primary;
  let listener: PgListener | undefined;
  const store = {
    async rpc<T>(fn: LedgerFunction, args: LedgerArgs, rpcOptions?: RpcOptions): Promise<T> {
      const { text, values } = ledgerCall(fn, args, rpcOptions);
      try {
        const pool = READ_ONLY_LEDGER_FUNCTIONS.has(fn) ? replica : primary;
        const { rows } = await (await pool.get()).query(text, values);
        return rows[0].result;
      } catch (error) {
        throw databaseError(error);
      }
    },
    /** Many deducts in one statement (`tokengate.deduct_batch`): see `TokenStore.deductBatch`. */
    deductBatch: <T>(items: LedgerArgs[], rpcOptions?: RpcOptions) => deductBatch<T>(store, items, rpcOptions),
    /**
     * LISTEN on one dedicated connection (not from the pool), opened on the first call and shared
     * by every channel and subscriber: see `TokenStore.listen`.
     */
    listen(channel: string, onMessage: (payload: string) => void, listenOptions?: ListenOptions) {
      listener ??= pgListener({ connect: () => connectListener(options) });
      return listener.listen(channel, onMessage, listenOptions);
    },
    async close() {
      await Promise.all([primary.close(), replica === primary ? undefined : replica.close(), listener?.close()]);
    },
  };
  return store;
}

/**
 * A new client for LISTEN: the listen URL, the connection string, or the given pool's settings.
 * No role is set (LISTEN needs no privilege); TCP keep-alive notices a silently dead connection.
 */
async function connectListener(options: PostgresStoreOptions): Promise<pg.Client> {
  const { default: pgModule } = await import('pg');
  const connectionString = options.listenConnectionString ?? options.connectionString;
  const settings: pg.ClientConfig = connectionString ? { connectionString } : { ...options.pool?.options };
  const client = new pgModule.Client({
    ...settings,
    application_name: LISTEN_APPLICATION_NAME,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: 5000,
  });
  client.on('error', () => {}); // until the listener attaches its own handler
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return client;
}

/** A pool given by the app (never closed here), or one created on first use from a connection string. */
function lazyPool(given: pg.Pool | undefined, connectionString: string | undefined, max = 10, settings: string[]) {
  let pool: Promise<pg.Pool> | undefined = given ? Promise.resolve(given) : undefined;
  return {
    get: () =>
      (pool ??= import('pg').then(({ default: pgModule }) => {
        const created = new pgModule.Pool({
          connectionString,
          max,
          connectionTimeoutMillis: 5000,
          ...(settings.length > 0 ? { options: settings.map((s) => `-c ${s}`).join(' ') } : {}),
        });
        // An idle client losing its connection must not crash the process; the next query reconnects.
        created.on('error', () => {});
        return created;
      })),
    async close() {
      if (!given && pool) await (await pool).end();
    },
  };
}
