/**
 * The ledger's SQL API as data: function names, and how to call one with named arguments.
 * Stores that speak SQL (postgres, PGlite) build their statement here; no business logic.
 */

/** The API functions of the `tokengate` schema (migrations/*_tokengate_api.sql). */
export type LedgerFunction =
  | 'create_account'
  | 'add_member'
  | 'remove_member'
  | 'set_member_quota'
  | 'set_plan'
  | 'balances'
  | 'check'
  | 'deduct'
  | 'deduct_batch'
  | 'reserve'
  | 'commit'
  | 'release'
  | 'guard_begin'
  | 'guard_commit'
  | 'guard_release'
  | 'expire_reservations'
  | 'grant_tokens'
  | 'clawback_grant'
  | 'grants'
  | 'expire_grants'
  | 'adjust'
  | 'stats'
  | 'usage_export'
  | 'verify_ledger'
  | 'prune_idempotency_keys'
  | 'roll_up_usage'
  | 'create_ledger_partitions'
  | 'archive_ledger_partition'
  | 'changes'
  | 'claim_alerts'
  | 'record_delivery'
  | 'list_alerts'
  | 'alert_deliveries'
  | 'replay_alert'
  | 'operator_top'
  | 'operator_near_exhaustion'
  | 'operator_spikes'
  | 'operator_expiring_grants'
  | 'catalog_apply'
  | 'watch'
  | 'renew_watches'
  | 'unwatch';

/** Named arguments of a ledger function, e.g. `{ p_org_id, p_user_id }`. */
export type LedgerArgs = Record<string, unknown>;

const NAME = /^p_[a-z_]+$/;
const JSON_ARGS = new Set(['p_metadata', 'p_response', 'p_items', 'p_config']);

/**
 * Build `select tokengate."fn"(p_a => $1, …) as result`, optionally pinning the ledger clock for
 * this one statement (the setting is transaction-local, and the statement is its own transaction).
 *
 * @example
 * const { text, values } = ledgerCall('deduct', { p_org_id: org, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'k' });
 * const { rows } = await pool.query(text, values);
 */
export function ledgerCall(fn: LedgerFunction, args: LedgerArgs, options: { now?: Date } = {}): { text: string; values: unknown[] } {
  const names = Object.keys(args).filter((name) => args[name] !== undefined);
  const values = names.map((name) => {
    if (!NAME.test(name)) throw new TypeError(`invalid ledger argument name: ${name}`);
    const value = args[name];
    if (value instanceof Date) return value.toISOString();
    return JSON_ARGS.has(name) && value !== null ? JSON.stringify(value) : value;
  });
  const list = names.map((name, i) => `${name} => $${i + 1}`).join(', ');
  let text = `select tokengate."${fn}"(${list}) as result`;
  if (options.now) {
    values.push(options.now.toISOString());
    // A volatile subquery is never flattened away: the clock is set before the call runs.
    text += ` from (select set_config('tokengate.now', $${values.length}, true)) as clock`;
  }
  return { text, values };
}
