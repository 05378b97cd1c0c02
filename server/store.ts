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
  /**
   * Subscribe to a Postgres notification channel (`LISTEN`): resolves once notifications are
   * being received, with a function that unsubscribes. Every store instance listens on at most
   * one database connection of its own, shared by all channels and callers, so a process holds one
   * listening connection however many subscribers it serves (`createChangeHub` adds the fan-out).
   *
   * A connection can drop: notifications sent until it is listening again are lost, and
   * `options.onReconnect` is called once it is, so that the caller can resynchronise. Rejects with
   * `unavailable` when the database cannot be reached. Absent on stores that cannot listen
   * (`supabaseStore`: Supabase apps use Realtime).
   *
   * @example
   * const unlisten = await store.listen!('tokengate_changes', (payload) => console.log(JSON.parse(payload)));
   * await unlisten();
   */
  listen?(channel: string, onMessage: (payload: string) => void, options?: ListenOptions): Promise<() => Promise<void>>;
  /** Release connections the store opened itself. */
  close?(): Promise<void>;
}

/**
 * Options of `TokenStore.listen`.
 *
 * @example
 * await store.listen!('tokengate_changes', onPayload, { onReconnect: () => void reloadEverything() });
 */
export interface ListenOptions {
  /**
   * Called when the listening connection was lost and is listening again: notifications sent in
   * between were missed (reload whatever they would have updated).
   */
  onReconnect?: () => void;
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
