import { ledgerCall, type LedgerArgs, type LedgerFunction } from '../ledger-call.ts';
import type { DeductBatchStore, ListenOptions, RpcOptions } from '../store.ts';
import { databaseError } from './database-error.ts';
import { deductBatch } from './deduct-batch.ts';

/** The part of a PGlite instance the store uses (so any PGlite-compatible client fits). */
export interface PgliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /** PGlite's `listen`: when present, the store can `listen` too (live balances). */
  listen?(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * A store on embedded PGlite (Postgres in WebAssembly): the demo, Storybook's live story and
 * tests. Run the compatibility script and the migrations on it first (see `migrate`).
 *
 * @example
 * import { PGlite } from '@electric-sql/pglite';
 * const store = pgliteStore(await PGlite.create('./.tokengate'));
 */
export function pgliteStore(db: PgliteLike): DeductBatchStore {
  const store = {
    async rpc<T>(fn: LedgerFunction, args: LedgerArgs, options?: RpcOptions): Promise<T> {
      const { text, values } = ledgerCall(fn, args, options);
      try {
        const { rows } = await db.query<{ result: never }>(text, values);
        return rows[0]!.result;
      } catch (error) {
        throw databaseError(error);
      }
    },
    /** Many deducts in one statement (`tokengate.deduct_batch`): see `TokenStore.deductBatch`. */
    deductBatch: <T>(items: LedgerArgs[], options?: RpcOptions) => deductBatch<T>(store, items, options),
    // PGlite is in-process: its one connection never drops, so `onReconnect` is never called.
    ...(typeof db.listen === 'function'
      ? {
          async listen(channel: string, onMessage: (payload: string) => void, _options?: ListenOptions) {
            try {
              // PGlite runs `LISTEN <channel>` unquoted: a quoted name keeps the channel's case.
              const unlisten = await db.listen!(quoteIdentifier(channel), onMessage);
              return () => unlisten();
            } catch (error) {
              throw databaseError(error);
            }
          },
        }
      : {}),
  };
  return store;
}

/** A quoted identifier, as LISTEN takes a channel name. */
function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
