import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { LedgerArgs, LedgerFunction } from '../ledger-call.ts';
import type { DeductBatchStore, RpcOptions } from '../store.ts';
import { databaseError } from './database-error.ts';

/** Options of `batchingStore`. */
export interface BatchingStoreOptions {
  /**
   * Most charges sent in one batch. Default 64: each charged item is a subtransaction, and past 64
   * of them in one transaction Postgres's snapshots slow down for every session.
   */
  maxBatch?: number;
  /**
   * Milliseconds to wait before sending, to gather more charges. Default 0: no artificial wait —
   * a lone charge goes at once, and batches form only from charges that arrive while the bucket's
   * previous call is in flight (group commit).
   */
  windowMs?: number;
}

/** A charge waiting for its bucket's turn. */
interface Waiter {
  args: LedgerArgs;
  resolve(value: unknown): void;
  reject(error: TokenGateError): void;
}

/** One bucket's queue: at most one call of it is in flight at a time. */
interface Lane {
  queue: Waiter[];
  options: RpcOptions | undefined;
}

/**
 * Wrap a store so that concurrent charges of one bucket — the same organization and token type —
 * share one call and one transaction. While a bucket's call is in flight, the next charges of that
 * bucket wait; when it finishes they go together as one `tokengate.deduct_batch` call (up to
 * `maxBatch`). A hot organization's charges then pay the bucket's lock, the round trip and the
 * commit once per batch instead of once per charge. Every other call passes straight through.
 *
 * Each caller gets what an unbatched `deduct` would give it: its own result, or its own
 * `TokenGateError` (insufficient_tokens, idempotency_conflict, …; the batch's other charges keep
 * theirs). Charges of one bucket run in arrival order, each key exactly once, and every decision is
 * still `tokengate.deduct`'s. If the whole batch call fails, it charged nothing: on `unavailable`
 * every caller of the batch gets that error (a retry with the same key is safe); on any other
 * failure each charge is sent again on its own, so one bad charge cannot fail the others.
 *
 * Batching only pays off when many requests charge one bucket at once (one organization with many
 * concurrent users); it changes nothing for spread traffic, where a lone charge goes at once.
 *
 * @example
 * const gate = createTokenGate({ store: batchingStore(postgresStore({ connectionString: process.env.DATABASE_URL })) });
 */
export function batchingStore<S extends DeductBatchStore>(store: S, options: BatchingStoreOptions = {}): DeductBatchStore & Pick<S, 'close' | 'listen'> {
  const maxBatch = options.maxBatch ?? 64;
  const windowMs = options.windowMs ?? 0;
  if (typeof store?.deductBatch !== 'function') throw new TypeError('batchingStore: the store has no deductBatch (use postgresStore, pgliteStore or supabaseStore)');
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 1000) throw new TypeError('batchingStore: maxBatch must be an integer from 1 to 1000');
  if (!Number.isFinite(windowMs) || windowMs < 0) throw new TypeError('batchingStore: windowMs must be 0 or more');

  const lanes = new Map<string, Lane>();

  /** Send one bucket's waiting charges, a batch at a time, until none is left. */
  async function drain(key: string, lane: Lane): Promise<void> {
    try {
      while (lane.queue.length > 0) {
        if (windowMs > 0) await new Promise((resolve) => setTimeout(resolve, windowMs));
        await send(lane.queue.splice(0, maxBatch), lane.options);
      }
    } catch (error) {
      // send() answers every caller itself; should it ever throw, no waiting caller may hang.
      for (const w of lane.queue.splice(0)) w.reject(databaseError(error));
    } finally {
      lanes.delete(key);
    }
  }

  async function send(batch: Waiter[], rpcOptions: RpcOptions | undefined): Promise<void> {
    if (batch.length === 1) return sendAlone(batch[0]!, rpcOptions);
    let outcomes;
    try {
      outcomes = await store.deductBatch(batch.map((w) => w.args), rpcOptions);
    } catch (error) {
      const failure = databaseError(error);
      if (failure.code === 'unavailable') {
        for (const w of batch) w.reject(copy(failure));
        return;
      }
      // The batch wrote nothing; charged alone, each caller gets exactly its unbatched answer.
      for (const w of batch) await sendAlone(w, rpcOptions);
      return;
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) w.resolve(outcome.value);
      else w.reject(outcome.error);
    });
  }

  async function sendAlone(w: Waiter, rpcOptions: RpcOptions | undefined): Promise<void> {
    try {
      w.resolve(await store.rpc('deduct', w.args, rpcOptions));
    } catch (error) {
      w.reject(databaseError(error));
    }
  }

  return {
    rpc<T>(fn: LedgerFunction, args: LedgerArgs, rpcOptions?: RpcOptions): Promise<T> {
      if (fn !== 'deduct') return store.rpc<T>(fn, args, rpcOptions);
      // One lane per bucket (and per pinned clock: a batch runs at one ledger time).
      const key = JSON.stringify([args.p_org_id, args.p_token_type, rpcOptions?.now?.toISOString() ?? null]);
      return new Promise<T>((resolve, reject) => {
        const waiter: Waiter = { args, resolve: resolve as (value: unknown) => void, reject };
        const lane = lanes.get(key);
        if (lane) {
          lane.queue.push(waiter);
          return;
        }
        const created: Lane = { queue: [waiter], options: rpcOptions };
        lanes.set(key, created);
        void drain(key, created);
      });
    },
    deductBatch: store.deductBatch.bind(store),
    ...(store.listen ? { listen: store.listen.bind(store) } : {}),
    ...(store.close ? { close: store.close.bind(store) } : {}),
  } as DeductBatchStore & Pick<S, 'close' | 'listen'>;
}

/** The same error for another caller (callers may not share one mutable object). */
function copy(error: TokenGateError): TokenGateError {
  return new TokenGateError(error.code, error.message, { facts: { ...error.facts }, cause: error.cause });
}
