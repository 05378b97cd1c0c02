import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { LedgerArgs } from '../ledger-call.ts';
import type { DeductBatchOutcome, RpcOptions, TokenStore } from '../store.ts';
import { databaseError } from './database-error.ts';

/** deduct's argument names → the keys of a `tokengate.deduct_batch` item. */
const ITEM_KEYS: Record<string, string> = {
  p_org_id: 'orgId',
  p_user_id: 'userId',
  p_token_type: 'tokenType',
  p_idempotency_key: 'idempotencyKey',
  p_metadata: 'metadata',
  p_units: 'units',
};

/** One item of `tokengate.deduct_batch`, as the SQL reads it. */
type BatchAnswer =
  | { result: unknown }
  | { error: { code: string; sqlstate: string; detail: unknown; hint: string } };

/**
 * `deductBatch` for any store that can call `tokengate.deduct_batch` through its `rpc`: turns
 * deduct's named arguments into batch items and each item's answer into a result or the
 * `TokenGateError` deduct would have thrown (mapped by `databaseError`, like a raised error).
 * Absent (undefined) arguments take deduct's defaults, as in an unbatched call.
 *
 * @example
 * const store: TokenStore = { rpc, deductBatch: (items, options) => deductBatch(store, items, options) };
 */
export async function deductBatch<T>(store: Pick<TokenStore, 'rpc'>, items: LedgerArgs[], options?: RpcOptions): Promise<DeductBatchOutcome<T>[]> {
  const payload = items.map((args) => {
    const item: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(args)) {
      const key = ITEM_KEYS[name];
      if (!key) throw new TypeError(`deductBatch: ${name} is not an argument of deduct`);
      if (value !== undefined) item[key] = value;
    }
    return item;
  });
  const answers = await store.rpc<BatchAnswer[]>('deduct_batch', { p_items: payload }, options);
  if (!Array.isArray(answers) || answers.length !== items.length) {
    throw new TokenGateError('internal', 'The token ledger failed unexpectedly.', { facts: {} });
  }
  return answers.map((answer): DeductBatchOutcome<T> => {
    if ('result' in answer) return { ok: true, value: answer.result as T };
    const { code, sqlstate, detail, hint } = answer.error;
    // The shape a driver gives a raised ledger error, so the mapping is the one every store uses.
    return { ok: false, error: databaseError({ code: sqlstate, message: code, detail: JSON.stringify(detail), hint }) };
  });
}
