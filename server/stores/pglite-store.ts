import { ledgerCall } from '../ledger-call.ts';
import type { TokenStore } from '../store.ts';
import { databaseError } from './database-error.ts';

/** The part of a PGlite instance the store uses (so any PGlite-compatible client fits). */
export interface PgliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

/**
 * A store on embedded PGlite (Postgres in WebAssembly): the demo, Storybook's live story and
 * tests. Run the compatibility script and the migrations on it first (see `migrate`).
 *
 * @example
 * import { PGlite } from '@electric-sql/pglite';
 * const store = pgliteStore(await PGlite.create('./.tokengate'));
 */
export function pgliteStore(db: PgliteLike): TokenStore {
  return {
    async rpc(fn, args, options) {
      const { text, values } = ledgerCall(fn, args, options);
      try {
        const { rows } = await db.query<{ result: never }>(text, values);
        return rows[0]!.result;
      } catch (error) {
        throw databaseError(error);
      }
    },
  };
}
