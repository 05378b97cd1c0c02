import type pg from 'pg';
import { ledgerCall, type LedgerArgs, type LedgerFunction } from '../ledger-call.ts';
import type { DeductBatchStore, RpcOptions } from '../store.ts';
import { databaseError } from './database-error.ts';
import { deductBatch } from './deduct-batch.ts';

/** Options of `postgresStore`. */
export interface PostgresStoreOptions {
  /** A connection string (Supabase's pooler or direct URL, or any Postgres)… */
  connectionString?: string;
  /**
   * …or a pool the app already has (the store will not close it). Its connections must act as the
   * server role (`service_role`): `role` is only applied to pools the store creates.
   */
  pool?: pg.Pool;
  /** Pool size when the store creates the pool. Default 10. */
  max?: number;
  /**
   * Role to act as on every connection the store opens. Default `service_role`, which can execute
   * the ledger functions; set null when the connecting user already is the server role.
   */
  role?: string | null;
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
 */
export function postgresStore(options: PostgresStoreOptions): DeductBatchStore & { close(): Promise<void> } {
  const owned = !options.pool;
  const role = options.role === undefined ? 'service_role' : options.role;
  let pool: Promise<pg.Pool> | undefined = options.pool ? Promise.resolve(options.pool) : undefined;
  const getPool = () =>
    (pool ??= import('pg').then(({ default: pgModule }) => {
      const created = new pgModule.Pool({
        connectionString: options.connectionString,
        max: options.max ?? 10,
        connectionTimeoutMillis: 5000,
        ...(role ? { options: `-c role=${role}` } : {}),
      });
      // An idle client losing its connection must not crash the process; the next query reconnects.
      created.on('error', () => {});
      return created;
    }));
  const store = {
    async rpc<T>(fn: LedgerFunction, args: LedgerArgs, rpcOptions?: RpcOptions): Promise<T> {
      const { text, values } = ledgerCall(fn, args, rpcOptions);
      try {
        const { rows } = await (await getPool()).query(text, values);
        return rows[0].result;
      } catch (error) {
        throw databaseError(error);
      }
    },
    /** Many deducts in one statement (`tokengate.deduct_batch`): see `TokenStore.deductBatch`. */
    deductBatch: <T>(items: LedgerArgs[], rpcOptions?: RpcOptions) => deductBatch<T>(store, items, rpcOptions),
    async close() {
      if (owned && pool) await (await pool).end();
    },
  };
  return store;
}
