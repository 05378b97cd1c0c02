import type { LedgerArgs, LedgerFunction } from './ledger-call.ts';

/**
 * Where the ledger lives. A store only carries a call to one SQL function and its JSON result
 * back; every decision (balances, limits, idempotency, refunds) is made in SQL, so every store
 * shares one atomic implementation.
 *
 * Stores throw `TokenGateError`: the ledger's named errors keep their code, an unreachable
 * database is `unavailable` (503), anything else is `internal` without SQL text.
 *
 * @example
 * const store = pgliteStore(await PGlite.create());
 * const balances = await store.rpc('balances', { p_org_id: org, p_user_id: user });
 */
export interface TokenStore {
  /** Call one ledger function with named arguments and return its JSON result. */
  rpc<T>(fn: LedgerFunction, args: LedgerArgs, options?: RpcOptions): Promise<T>;
  /** Release connections the store opened itself. */
  close?(): Promise<void>;
}

/** Per-call options. */
export interface RpcOptions {
  /** Pin the ledger clock for this call (tests, simulations). Not supported by every store. */
  now?: Date;
}
