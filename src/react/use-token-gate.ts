'use client';
import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useRef, useState } from 'react';
import type { ChargeEvent } from '../core/charge-event.ts';
import { readGuardInfo } from '../core/create-token-client.ts';
import { tokenGateKeys } from '../core/query-keys.ts';
import { TokenGateError } from '../core/token-gate-error.ts';
import type { Balances, DeductResult, DenialReason, ReserveResult, TokenBalance, TokenTypeId } from '../core/types.ts';
import { DENIAL_CODES, denialReason } from './denial-reason.ts';
import { applyOptimisticCharge, setCachedBalance } from './optimistic-balance.ts';
import { settleBalances } from './settle-balances.ts';
import { useTokenGateContext } from './token-gate-context.ts';
import { useTokenBalances } from './use-token-balances.ts';

/**
 * Why an action cannot run: the plan, the organization's tokens, the member's quota, or the caller
 * not being a member of the organization at all (the ledger's error codes, so a refusal maps 1:1).
 *
 * @example
 * const copy: Record<TokenGateReason, string> = {
 *   plan_blocked: 'Not in your plan', insufficient_tokens: 'Out of tokens',
 *   member_quota_exceeded: 'Your quota is used up', not_a_member: 'You’re not a member of this organization',
 * };
 */
export type TokenGateReason = DenialReason | 'not_a_member';

/** Every `TokenGateReason`: the error codes that mean "this caller cannot run it now" (the rest are failures). */
const GATE_REASONS: readonly TokenGateReason[] = [...DENIAL_CODES, 'not_a_member'];

/**
 * Where a run stands. `refunded`: the action failed and nothing was charged (the guard or the kit
 * released the hold). `error`: it failed after a charge (or before the action could start).
 * A refusal (blocked) or an abort leaves it `idle` with `error` set.
 *
 * @example
 * if (gate.status === 'refunded') toast('That failed; you were not charged.');
 */
export type TokenGateStatus = 'idle' | 'running' | 'success' | 'refunded' | 'error';

/**
 * What the wrapped action receives first.
 *
 * @example
 * const action = async ({ fetch, signal }: TokenGateActionContext, prompt: string) =>
 *   (await fetch('/api/summarize', { method: 'POST', body: prompt, signal })).json();
 */
export interface TokenGateActionContext {
  /** This run's key: sent as `Idempotency-Key` by `fetch` (one run = at most one charge). */
  idempotencyKey: string;
  /** Aborted by `abort()`: pass it on to long work. */
  signal: AbortSignal;
  /**
   * A pre-authorised fetch to one of the app's guarded routes (`client.callGuarded`): it adds
   * `Authorization`, `X-Tokengate-Org`, this run's `Idempotency-Key` and the signal, and rejects
   * with a `TokenGateError` on a non-2xx answer (a 402/403 refusal becomes `blocked` + `reason`).
   */
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
  /** In `mode: 'reserve'`, the hold taken for this run (else null). */
  reservation: ReserveResult | null;
  /**
   * Tell the hook the final charge of a streamed answer (the guard's `tokengate-charge` event):
   * pass it as `onCharge` to `readGuardedStream`, and the cached balance shows the charged
   * `available` as soon as the stream ends. Without it the hook refetches the balance after the run.
   */
  onCharge: (charge: ChargeEvent) => void;
}

/**
 * Options of `useTokenGate`.
 *
 * @example
 * const options: UseTokenGateOptions<[goalId: string], Quest[]> = {
 *   action: async ({ fetch }, goalId) => (await fetch('/api/quests', { method: 'POST', body: goalId })).json(),
 * };
 */
export interface UseTokenGateOptions<TArgs extends unknown[], TResult> {
  /** The work: `(ctx, ...args) => Promise<result>`; its argument and result types flow to `run` and `data`. */
  action: (ctx: TokenGateActionContext, ...args: TArgs) => Promise<TResult>;
  /**
   * `'guarded'` (default): the action calls a route protected by `guard(...)`, which charges on the
   * server. `'reserve'`: the hook holds `estimate` through the kit's API, runs the action, then
   * commits `actualUsage(result)` — or releases the hold if the action throws.
   */
  mode?: 'guarded' | 'reserve';
  /** Tokens one run is expected to cost (shown as `cost`, applied optimistically, held in `reserve` mode). Default: the catalog cost. */
  estimate?: number | ((...args: TArgs) => number);
  /** `reserve` mode: the tokens the run really used, from its result. Default: the estimate. */
  actualUsage?: (result: TResult) => number;
  /**
   * Allow overlapping runs. Default false: a `run` while one is in flight returns that run's
   * promise (it does not start the action again, whatever its arguments).
   */
  concurrent?: boolean;
}

/**
 * Options of `useTokenGate` without an action: `run()` charges `units` uses through the kit's `deduct`
 * (for work the client does itself; server work belongs behind `guard`).
 *
 * @example
 * const { run } = useTokenGate('goal_generation', { units: 2 });
 */
export interface UseTokenGateDeductOptions {
  /** Uses charged per run (1 to 1000). Default 1. */
  units?: number;
  /** See `UseTokenGateOptions.concurrent`. */
  concurrent?: boolean;
}

/**
 * What `useTokenGate` returns.
 *
 * @example
 * const { run, canRun, blocked, reason, cost, status, data } = useTokenGate('quest_generation', { action });
 */
export interface UseTokenGateResult<TArgs extends unknown[], TResult> {
  /**
   * Run the action. Resolves with its result, or `undefined` when it did not succeed (blocked,
   * refunded, aborted, failed: see `status`, `error` and `reason`); it never rejects.
   */
  run: (...args: TArgs) => Promise<TResult | undefined>;
  /**
   * Abort the runs in flight (their `signal` aborts; fetches through `ctx.fetch` reject; a stream
   * read with `readGuardedStream(res, { signal })` is cancelled, and the guard charges what the
   * route reported so far). The balance is refetched until the guard's commit shows.
   */
  abort: () => void;
  /** Back to `idle`, clearing `data` and `error`. */
  reset: () => void;
  status: TokenGateStatus;
  /** The last successful run's result. */
  data: TResult | undefined;
  error: TokenGateError | null;
  /** Tokens one run costs (the estimate, else the catalog cost); null until balances load. */
  cost: number | null;
  /** Balances are loaded, nothing blocks the run, and (unless `concurrent`) none is in flight. */
  canRun: boolean;
  /** `reason !== null`. */
  blocked: boolean;
  /**
   * Why it cannot run: from the cached balance before the click, from the balances query's refusal
   * (`not_a_member`: the caller is not a member of the organization), or from the server's refusal of a run.
   */
  reason: TokenGateReason | null;
  /** The cached balance of the token type (undefined while loading or if unknown). */
  balance: TokenBalance | undefined;
  /** Balances are still loading. */
  isLoading: boolean;
}

/**
 * Wrap an AI action with Tokengate: knows its cost and whether it can run before the click, runs
 * it (server-guarded by default, or reserve → commit/release), updates the cached balance
 * optimistically and rolls it back when nothing was charged, and reports `blocked` + `reason`.
 *
 * @example
 * const quests = useTokenGate('quest_generation', {
 *   action: async ({ fetch }, goalId: string) => {
 *     const res = await fetch('/api/generate-quests', { method: 'POST', body: JSON.stringify({ goalId }) });
 *     return (await res.json()) as { quests: string[] };
 *   },
 * });
 * <button disabled={!quests.canRun} onClick={() => quests.run(goal.id)}>Generate ({quests.cost} tokens)</button>
 * {quests.blocked && <UpgradePrompt reason={quests.reason} />}
 *
 * @example
 * // A streamed answer: `status` stays 'running' until the stream ends; abort() stops it.
 * const [answer, setAnswer] = useState('');
 * const strategy = useTokenGate('strategy_analysis', {
 *   action: async (ctx) => {
 *     setAnswer('');
 *     const res = await ctx.fetch('/api/strategy', { method: 'POST' });
 *     return (await readGuardedStream(res, { signal: ctx.signal, onCharge: ctx.onCharge, onText: (t) => setAnswer((a) => a + t) })).text;
 *   },
 * });
 * {strategy.status === 'running' && <button onClick={strategy.abort}>Stop</button>}
 */
export function useTokenGate<TArgs extends unknown[], TResult>(
  tokenType: TokenTypeId,
  options: UseTokenGateOptions<TArgs, TResult>,
): UseTokenGateResult<TArgs, TResult>;
export function useTokenGate(tokenType: TokenTypeId, options?: UseTokenGateDeductOptions): UseTokenGateResult<[], DeductResult>;
export function useTokenGate(
  tokenType: TokenTypeId,
  options: Partial<UseTokenGateOptions<unknown[], unknown>> & UseTokenGateDeductOptions = {},
): UseTokenGateResult<unknown[], unknown> {
  const { client, resolvedOrgId: orgId } = useTokenGateContext();
  const queryClient = useQueryClient();
  const balances = useTokenBalances();
  const [state, setState] = useState<{ status: TokenGateStatus; data: unknown; error: TokenGateError | null }>(IDLE);

  // The latest options and org, read when a run starts (so `run` keeps one identity).
  const latest = useRef({ options, orgId, tokenType });
  latest.current = { options, orgId, tokenType };
  const inflight = useRef<Promise<unknown> | null>(null);
  const controllers = useRef(new Set<AbortController>());
  const seq = useRef(0);

  const balance = balances.data?.tokenTypes.find((b) => b.tokenType === tokenType);
  // Without an action, run() deducts `units` uses.
  const uses = options.action ? 1 : (options.units ?? 1);
  const cost = typeof options.estimate === 'number' ? options.estimate : balance ? balance.cost * uses : null;
  const cachedReason = balances.data && balance && cost !== null ? denialReason(balances.data, tokenType, cost) : null;
  // The balances were refused outright: say so (the button otherwise stays disabled with no reason).
  const loadReason = balances.error?.code === 'not_a_member' ? 'not_a_member' : null;
  const refusal = state.error && isDenial(state.error.code) ? state.error.code : null;
  const reason = cachedReason ?? loadReason ?? refusal;
  const running = state.status === 'running';

  const execute = useCallback(
    async (args: unknown[]): Promise<unknown> => {
      const { options: o, orgId: org, tokenType: type } = latest.current;
      const mine = ++seq.current;
      // With concurrent runs, the latest one owns the visible state.
      const set = (next: typeof IDLE) => {
        if (mine === seq.current) setState(next);
      };
      const key = tokenGateKeys.balances(org);
      const controller = new AbortController();
      controllers.current.add(controller);
      const { signal } = controller;
      set({ status: 'running', data: undefined, error: null });

      const cached = queryClient.getQueryData<Balances>(key);
      const cachedType = cached?.tokenTypes.find((b) => b.tokenType === type);
      const estimate = typeof o.estimate === 'function' ? o.estimate(...args) : o.estimate;
      const runCost = estimate ?? (cachedType ? cachedType.cost * (o.action ? 1 : (o.units ?? 1)) : null);
      // The cache says no: do not even ask the server (it would refuse the same way).
      const denied = cached && cachedType && runCost !== null ? denialReason(cached, type, runCost) : null;
      if (denied) {
        set({ status: 'idle', data: undefined, error: new TokenGateError(denied, 'Not enough tokens, or not in the plan.', { facts: { reason: denied } }) });
        controllers.current.delete(controller);
        return undefined;
      }

      // Optimistic: a refetch landing now would overwrite it, so cancel those first.
      const grantsKey = tokenGateKeys.allGrants(org);
      await Promise.all([queryClient.cancelQueries({ queryKey: key }), queryClient.cancelQueries({ queryKey: grantsKey })]);
      const undo = runCost !== null ? applyOptimisticCharge(queryClient, key, type, runCost, grantsKey) : () => {};

      const idempotencyKey = crypto.randomUUID();
      let started = false;
      let charged = false;
      let exact: TokenBalance | null = null;
      let guardAvailable: number | null = null;
      // A guarded answer without charge headers is streamed: the guard charges when its stream ends.
      let unsettled = false;
      const fetchGuarded = async (url: string, init: RequestInit = {}) => {
        const response = await client.callGuarded(url, { ...init, idempotencyKey, orgId: org, signal: init.signal ?? signal });
        charged = true;
        const info = readGuardInfo(response);
        if (typeof info.available === 'number') guardAvailable = info.available;
        if (info.charged === null && !info.replayed) unsettled = true;
        return response;
      };
      const onCharge = (charge: ChargeEvent) => {
        if (typeof charge.available === 'number') guardAvailable = charge.available;
        unsettled = false;
      };
      try {
        let result: unknown;
        if (!o.action) {
          started = true;
          const deducted = await client.deduct(type, { idempotencyKey, orgId: org, signal, ...(o.units ? { units: o.units } : {}) });
          charged = true;
          exact = deducted.balance;
          result = deducted;
        } else if (o.mode === 'reserve') {
          const reservation = await client.reserve(type, { idempotencyKey, orgId: org, signal, ...(estimate === undefined ? {} : { estimate }) });
          started = true;
          try {
            result = await o.action({ idempotencyKey, signal, fetch: fetchGuarded, reservation, onCharge }, ...args);
            if (signal.aborted) throw new TokenGateError('aborted', 'The run was cancelled.');
          } catch (error) {
            // Not under the aborted signal: the refund must reach the server.
            await client.release(reservation.reservationId, { orgId: org }).catch(() => {});
            throw error;
          }
          const actual = o.actualUsage ? o.actualUsage(result) : reservation.estimate;
          const resolved = await client.commit(reservation.reservationId, { actual, orgId: org });
          charged = true;
          exact = resolved.balance;
        } else {
          started = true;
          result = await o.action({ idempotencyKey, signal, fetch: fetchGuarded, reservation: null, onCharge }, ...args);
        }
        if (exact) setCachedBalance(queryClient, key, type, exact);
        else if (guardAvailable !== null) setCachedBalance(queryClient, key, type, { available: guardAvailable });
        set({ status: 'success', data: result, error: null });
        return result;
      } catch (thrown) {
        const error = toTokenGateError(thrown, signal);
        if (!charged) undo();
        if (isDenial(error.code) || error.code === 'aborted') set({ status: 'idle', data: undefined, error });
        else set({ status: charged || !started ? 'error' : 'refunded', data: undefined, error });
        return undefined;
      } finally {
        controllers.current.delete(controller);
        // The server is the truth: balances and stats of the org, after every run (and, after a
        // streamed answer whose charge the run did not see, until the guard's commit shows).
        if (unsettled) settleBalances(queryClient, org, type);
        else void queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(org) });
      }
    },
    [client, queryClient],
  );

  const run = useCallback(
    (...args: unknown[]): Promise<unknown> => {
      if (inflight.current && !latest.current.options.concurrent) return inflight.current;
      const promise = execute(args);
      inflight.current = promise;
      void promise.then(() => {
        if (inflight.current === promise) inflight.current = null;
      });
      return promise;
    },
    [execute],
  );

  const abort = useCallback(() => {
    for (const controller of controllers.current) controller.abort();
  }, []);
  const reset = useCallback(() => {
    seq.current++;
    setState(IDLE);
  }, []);

  return {
    run,
    abort,
    reset,
    status: state.status,
    data: state.data,
    error: state.error,
    cost,
    canRun: balance !== undefined && cachedReason === null && (options.concurrent === true || !running),
    blocked: reason !== null,
    reason,
    balance,
    isLoading: balances.isPending,
  };
}

const IDLE: { status: TokenGateStatus; data: unknown; error: TokenGateError | null } = { status: 'idle', data: undefined, error: null };

function isDenial(code: string): code is TokenGateReason {
  return (GATE_REASONS as readonly string[]).includes(code);
}

function toTokenGateError(error: unknown, signal: AbortSignal): TokenGateError {
  if (error instanceof TokenGateError) return error;
  if (signal.aborted) return new TokenGateError('aborted', 'The run was cancelled.', { cause: error });
  return new TokenGateError('internal', error instanceof Error ? error.message : 'The action failed.', { cause: error });
}
