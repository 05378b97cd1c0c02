import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { RpcOptions, TokenStore } from '../store.ts';
import type { LedgerArgs, LedgerFunction } from '../ledger-call.ts';
import type {
  ExpiringGrantRow,
  ExpiringGrantsOptions,
  NearExhaustionOptions,
  NearExhaustionRow,
  OperatorTopOptions,
  OperatorTopRow,
  SpikeRow,
  SpikesOptions,
} from './types.ts';

/** The operator's view over a store (`createOperatorApi(store)`). */
export type OperatorApi = ReturnType<typeof createOperatorApi>;

/**
 * The operator's view: reads across every organization, for the app's own staff — never for a
 * member or an org admin. Give it the server's store (the one the gate uses, connected as the
 * server role); each method is one call to a server-only SQL function that reads the summary
 * tables (the daily usage rollup, the buckets, the grants), never the ledger itself.
 *
 * @example
 * const operator = createOperatorApi(gate.store);
 * const top = await operator.top({ from: '2028-01-01', to: '2028-01-31', limit: 5 });
 * const low = await operator.nearExhaustion({ percent: 10 });
 */
export function createOperatorApi(store: TokenStore, options: { now?: () => Date } = {}) {
  const { now } = options;
  const rpc = <T>(fn: LedgerFunction, args: LedgerArgs) =>
    store.rpc<T>(fn, args, now ? ({ now: now() } satisfies RpcOptions) : undefined);
  return {
    /** Top organizations by tokens charged per token type over a range of UTC days. */
    top: (opts: OperatorTopOptions) =>
      rpc<OperatorTopRow[]>('operator_top', { p_from: opts.from, p_to: opts.to, p_token_type: opts.tokenType ?? null, p_limit: opts.limit ?? 10 }),

    /** Metered buckets with nothing left, or less than `percent`% of the allowance; most exhausted first. */
    nearExhaustion: (opts: NearExhaustionOptions = {}) =>
      rpc<NearExhaustionRow[]>('operator_near_exhaustion', { p_percent: opts.percent ?? 10, p_limit: opts.limit ?? 100 }),

    /** A day's usage per organization and type that exceeds `factor` × its own trailing daily average. */
    spikes: (opts: SpikesOptions) =>
      rpc<SpikeRow[]>('operator_spikes', {
        p_day: opts.day,
        p_window_days: opts.windowDays ?? 7,
        p_factor: opts.factor ?? 3,
        p_min_tokens: opts.minTokens ?? 100,
      }),

    /** Active grants with tokens left expiring within `withinDays` days (or overdue for the sweep), soonest first. */
    expiringGrants: (opts: ExpiringGrantsOptions = {}) => {
      const days = opts.withinDays ?? 7;
      // Sent as an interval; SQL checks the range (1 minute to 366 days). Not a number at all
      // would be a malformed interval (a database error), so it is refused here the same way.
      if (typeof days !== 'number' || !Number.isFinite(days)) {
        return Promise.reject(new TokenGateError('invalid_argument', 'withinDays must be a number of days.', { facts: { argument: 'withinDays' } }));
      }
      return rpc<ExpiringGrantRow[]>('operator_expiring_grants', { p_within: `${Number(days)} days`, p_limit: opts.limit ?? 100 });
    },
  };
}
