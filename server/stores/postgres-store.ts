import type pg from 'pg';
import { ledgerCall, type LedgerArgs, type LedgerFunction } from '../ledger-call.ts';
import type { DeductBatchStore, RpcOptions } from '../store.ts';
import { databaseError } from './database-error.ts';
import { deductBatch } from './deduct-batch.ts';

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
export function postgresStore(options: PostgresStoreOptions): DeductBatchStore & { close(): Promise<void> } {
  const role = options.role === undefined ? 'service_role' : options.role;
  const primary = lazyPool(options.pool, options.connectionString, options.max, role ? [`role=${role}`] : []);
  const replica =
    options.readPool || options.readConnectionString
      ? lazyPool(options.readPool, options.readConnectionString, options.max, [...(role ? [`role=${role}`] : []), 'default_transaction_read_only=on'])
      : primary;
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
    async close() {
      await Promise.all([primary.close(), replica === primary ? undefined : replica.close()]);
    },
  };
  return store;
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
