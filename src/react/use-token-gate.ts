'use client';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useReducer, useRef } from 'react';
import type { ChargeEvent } from '../core/charge-event.ts';
import { tokenGateKeys } from '../core/query-keys.ts';
import { TokenGateError } from '../core/token-gate-error.ts';
import type { Balances, DeductResult, DenialReason, ReserveResult, TokenBalance, TokenTypeId } from '../core/types.ts';
import { DENIAL_CODES, denialReason } from './denial-reason.ts';
import { loadOnce } from './load-once.ts';
import { applyOptimisticCharge } from './optimistic-balance.ts';
import type { Run } from './run-token-gate.ts';
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

/** The run's work (run-token-gate.ts), loaded on demand: most renders of a gate never run it. */
const loadRun = /* @__PURE__ */ loadOnce(() => import('./run-token-gate.ts'), 'The run could not start: its code did not load.');

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
 * Each run is a TanStack Query mutation under `tokenGateKeys.run(orgId, tokenType)` (Devtools, `useMutationState`).
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
 *
 * @example
 * // Anywhere in the app: "AI is working" while any run of the organization is in flight.
 * const working = useIsMutating({ mutationKey: tokenGateKeys.org(orgId) }) > 0;
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
  // The latest options and org, read when a run starts (so `run` keeps one identity).
  const latest = useRef({ options, orgId, tokenType });
  latest.current = { options, orgId, tokenType };
  const inflight = useRef<Promise<unknown>>(null);
  const aborter = useRef<AbortController>(undefined);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  // Loaded while the user looks at the button, not after the click (a failure shows at the run).
  useEffect(() => void loadRun().catch(() => {}), []);

  const mutation = useMutation<unknown, TokenGateError, Run, () => void>({
    // A run is the user's click: never paused while offline, never retried (one run, one charge).
    mutationKey: tokenGateKeys.run(orgId, tokenType), networkMode: 'always', retry: 0,
    onMutate: async ({ o, org, type, estimate }) => {
      const [balancesKey, grantsKey] = [tokenGateKeys.balances(org), tokenGateKeys.allGrants(org)];
      const cached = queryClient.getQueryData<Balances>(balancesKey);
      const cost = estimate ?? (cached?.tokenTypes.find((b) => b.tokenType === type)?.cost ?? 0) * (o.action ? 1 : (o.units ?? 1));
      // The cache says no: do not even ask the server (it would refuse the same way).
      const denied = cached && denialReason(cached, type, cost);
      if (denied) throw new TokenGateError(denied, 'Not enough tokens, or not in the plan.', { facts: { reason: denied } });
      // Optimistic: a refetch landing now would overwrite it, so cancel those first.
      await Promise.all([balancesKey, grantsKey].map((queryKey) => queryClient.cancelQueries({ queryKey })));
      return applyOptimisticCharge(queryClient, balancesKey, type, cost, grantsKey);
    },
    // Loaded on demand, and preloaded when the hook mounts (below).
    mutationFn: async (r) => (await loadRun()).runTokenGate(r, client, queryClient),
    onError: (_error, r, undo) => void (r.charged || undo?.()),
    // The server is the truth: refetch the org after every run the cache let through (settle a streamed charge not seen).
    onSettled: (_data, _error, r, undo) => {
      if (undo) r.unsettled ? settleBalances(queryClient, r.org, r.type) : void queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(r.org) });
    },
  });
  // useMutation starts afresh (idle) when its key changes, for another org or type: the hook keeps
  // showing the last run until the next one (and how it ends, below), as `reset` alone clears it.
  const kept = useRef<Pick<typeof mutation, 'status' | 'data' | 'error' | 'variables'>>(undefined);
  if (!mutation.isIdle) kept.current = mutation;
  const { status: state, data, error, variables } = mutation.isIdle && kept.current ? kept.current : mutation;
  const { mutateAsync, reset } = mutation;

  const balance = balances.data?.tokenTypes.find((b) => b.tokenType === tokenType);
  // Without an action, run() deducts `units` uses.
  const cost = typeof options.estimate === 'number' ? options.estimate : balance ? balance.cost * (options.action ? 1 : (options.units ?? 1)) : null;
  const cachedReason = balances.data && balance && cost !== null ? denialReason(balances.data, tokenType, cost) : null;
  // The balances were refused outright: say so (the button otherwise stays disabled with no reason).
  const loadReason = balances.error?.code === 'not_a_member' ? 'not_a_member' : null;
  const refusal = error && isDenial(error.code) ? error.code : null;
  const reason = cachedReason ?? loadReason ?? refusal;
  // A refusal or an abort leaves the gate idle; a failure is refunded unless something was charged.
  const status: TokenGateStatus =
    state === 'pending' ? 'running' : state === 'success' ? 'success'
    : !error || refusal || error.code === 'aborted' ? 'idle' : variables!.charged || !variables!.started ? 'error' : 'refunded';

  const run = useCallback(
    (...args: unknown[]): Promise<unknown> => {
      const { options: o, orgId: org, tokenType: type } = latest.current;
      if (inflight.current && !o.concurrent) return inflight.current;
      const signal = (aborter.current ??= new AbortController()).signal;
      const estimate = typeof o.estimate === 'function' ? o.estimate(...args) : o.estimate;
      const r: Run = { args, o, org, type, estimate, signal, idempotencyKey: crypto.randomUUID() };
      // Never rejects: the outcome is the mutation's state. TanStack Query tells the hook's store on
      // a later tick; re-rendering when it settles lets the render after `await run()` show it.
      const promise = mutateAsync(r, { onSettled: rerender })
        .catch(() => undefined)
        .finally(() => {
          if (inflight.current === promise) inflight.current = null;
          // Still the run on show, but maybe no longer useMutation's (a switch of org or type).
          if (kept.current?.variables !== r) return;
          kept.current = queryClient.getMutationCache().find({ predicate: (m) => m.state.variables === r })!.state as typeof kept.current;
          rerender();
        });
      inflight.current = promise;
      return promise;
    },
    [mutateAsync, rerender, queryClient],
  );

  return {
    run,
    // Every run in flight shares the signal; the next run gets a fresh one.
    abort: useCallback(() => {
      aborter.current?.abort();
      aborter.current = undefined;
    }, []),
    reset: useCallback(() => {
      kept.current = undefined;
      reset();
      rerender();
    }, [reset, rerender]),
    status,
    data,
    error,
    cost,
    canRun: balance !== undefined && cachedReason === null && (!!options.concurrent || status !== 'running'),
    blocked: reason !== null,
    reason,
    balance,
    isLoading: balances.isPending,
  };
}

function isDenial(code: string): code is TokenGateReason {
  return (GATE_REASONS as readonly string[]).includes(code);
}
