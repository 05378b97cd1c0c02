import type { TokenGateError } from '../src/core/token-gate-error.ts';
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
  /**
   * Charge many deducts in one call and one transaction (`tokengate.deduct_batch`): each item is
   * deduct's named arguments, each answer what that deduct would have returned or thrown. Rejects
   * only when the whole call failed (it then charged nothing). `batchingStore` needs it.
   */
  deductBatch?<T>(items: LedgerArgs[], options?: RpcOptions): Promise<DeductBatchOutcome<T>[]>;
  /** Release connections the store opened itself. */
  close?(): Promise<void>;
}

/** Per-call options. */
export interface RpcOptions {
  /** Pin the ledger clock for this call (tests, simulations). Not supported by every store. */
  now?: Date;
}

/** The answer for one item of `deductBatch`: deduct's result, or the error deduct would have thrown. */
export type DeductBatchOutcome<T = unknown> = { ok: true; value: T } | { ok: false; error: TokenGateError };

/** A store that can charge many deducts in one call (every built-in store): what `batchingStore` wraps. */
export type DeductBatchStore = TokenStore & Required<Pick<TokenStore, 'deductBatch'>>;
