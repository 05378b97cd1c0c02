/**
 * useTokenGate against the real handler, guard and ledger (PGlite): every charge or refund is read
 * back from the database, not from the hook.
 */
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { TokenClient } from '../../src/core/create-token-client.ts';
import { tokenGateKeys } from '../../src/core/query-keys.ts';
import type { Balances } from '../../src/core/types.ts';
import { useTokenGate, type TokenGateActionContext } from '../../src/react/use-token-gate.ts';
import { call, type SeededOrg } from '../ledger.ts';
import { createReactEnv, deferred, GENERATE_URL, wrapperFor, type ReactEnv } from './fixture.tsx';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(cleanup);
beforeEach(() => {
  env.control.runs.length = 0;
  env.control.hold = null;
  env.control.fail = false;
  env.control.holdBalances = null;
});

/** The app's action: POST the goal to its guarded route through the pre-authorised fetch. */
const generateQuests = async (ctx: TokenGateActionContext, goal: string) => {
  const response = await ctx.fetch(GENERATE_URL, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ goal }) });
  return (await response.json()) as { quests: string[] };
};

/** The hook for `org`, with its balances loaded. */
async function mount(org: SeededOrg, options: { concurrent?: boolean; estimate?: number } = {}) {
  const client: TokenClient = env.clientFor(org);
  const { queryClient, wrapper } = wrapperFor(client);
  const hook = renderHook(() => useTokenGate('quest_generation', { action: generateQuests, ...options }), { wrapper });
  await waitFor(() => expect(hook.result.current.balance).toBeDefined());
  const cachedAvailable = () =>
    queryClient.getQueryData<Balances>(tokenGateKeys.balances(org.orgId))?.tokenTypes.find((b) => b.tokenType === 'quest_generation')?.available;
  return { ...hook, queryClient, client, cachedAvailable };
}

it('knows cost and that it can run before the click, and a run charges the org once', async () => {
  const org = await env.org('pro');
  const { result, cachedAvailable } = await mount(org);
  expect(result.current).toMatchObject({ cost: 3, canRun: true, blocked: false, reason: null, status: 'idle', error: null });
  expect(await env.stored(org.orgId)).toEqual({ left: 60, held: 0, used: 0 });

  let value: unknown;
  await act(async () => {
    value = await result.current.run('Save 10k');
  });
  expect(value).toEqual({ quests: ['Save 10k: first', 'Save 10k: second'] });
  expect(result.current).toMatchObject({ status: 'success', data: value, error: null });
  expect(env.control.runs).toHaveLength(1);
  expect(await env.stored(org.orgId)).toEqual({ left: 57, held: 0, used: 3 });
  // The guard's x-tokengate-available, then the refetch: the cache agrees with the database.
  expect(cachedAvailable()).toBe(57);
  await waitFor(() => expect(result.current.balance).toMatchObject({ available: 57, used: 3 }));
});

it("puts the guard's x-tokengate-available into the cache before the refetch lands", async () => {
  const org = await env.org('pro');
  // The hook expects 5 (optimistic 55); the guard charges the catalog cost, 3, and reports 57.
  const { result, cachedAvailable } = await mount(org, { estimate: 5 });
  expect(result.current.cost).toBe(5);
  const refetch = deferred();
  env.control.holdBalances = refetch.promise;
  await act(async () => {
    await result.current.run('x');
  });
  expect(cachedAvailable()).toBe(57);
  expect(await env.stored(org.orgId)).toEqual({ left: 57, held: 0, used: 3 });
  refetch.resolve();
  await waitFor(() => expect(result.current.balance).toMatchObject({ available: 57, used: 3 }));
});

it('a Starter org is blocked before any click, and run does not reach the server', async () => {
  const org = await env.org('starter');
  const { result } = await mount(org);
  expect(result.current).toMatchObject({ blocked: true, reason: 'plan_blocked', canRun: false, cost: 3 });
  let value: unknown = 'not run';
  await act(async () => {
    value = await result.current.run('x');
  });
  expect(value).toBeUndefined();
  expect(result.current).toMatchObject({ status: 'idle', blocked: true, reason: 'plan_blocked', error: { code: 'plan_blocked' } });
  expect(env.control.runs).toHaveLength(0);
});

it("maps the guard's 403 plan_blocked to blocked + reason when the cache was stale", async () => {
  const org = await env.org('pro');
  const { result, cachedAvailable } = await mount(org);
  expect(result.current.canRun).toBe(true);
  // The plan changes on the server after the balances were cached.
  const res = await env.app.request(`/orgs/${org.orgId}/admin/plan`, { server: true, json: { planId: 'starter' } });
  expect(res.status).toBe(200);

  let value: unknown = 'not run';
  await act(async () => {
    value = await result.current.run('x');
  });
  expect(value).toBeUndefined();
  expect(result.current).toMatchObject({ status: 'idle', blocked: true, reason: 'plan_blocked', error: { code: 'plan_blocked', status: 403 } });
  expect(env.control.runs).toHaveLength(0);
  // The optimistic charge was rolled back (the refetch then reports the Starter balance).
  expect(cachedAvailable()).toBe(60);
  await waitFor(() => expect(result.current.balance).toMatchObject({ blocked: true }));
});

it('a failed action is refunded: status refunded, the optimistic charge rolled back, the database unchanged', async () => {
  const org = await env.org('pro');
  const { result, cachedAvailable } = await mount(org);
  env.control.fail = true;
  let value: unknown = 'not run';
  await act(async () => {
    value = await result.current.run('x');
  });
  expect(value).toBeUndefined();
  // Read before the refetch lands: the rollback itself restored the cache.
  expect(cachedAvailable()).toBe(60);
  expect(result.current).toMatchObject({ status: 'refunded', blocked: false, reason: null, error: { code: 'internal', facts: { status: 500 } } });
  expect(env.control.runs).toHaveLength(1);
  expect(await env.stored(org.orgId)).toEqual({ left: 60, held: 0, used: 0 });
});

it('shows the optimistic charge while running and rolls it back on failure', async () => {
  const org = await env.org('pro');
  const { result, cachedAvailable } = await mount(org);
  const gate = deferred();
  env.control.hold = gate.promise;
  env.control.fail = true;
  let pending!: Promise<unknown>;
  act(() => {
    pending = result.current.run('x');
  });
  await waitFor(() => expect(env.control.runs).toHaveLength(1));
  expect(result.current.status).toBe('running');
  expect(result.current.balance).toMatchObject({ available: 57, used: 3 });
  expect(result.current.canRun).toBe(false);
  // The server holds the estimate meanwhile.
  expect(await env.stored(org.orgId)).toEqual({ left: 57, held: 3, used: 0 });

  gate.resolve();
  await act(async () => {
    await pending;
  });
  expect(cachedAvailable()).toBe(60);
  expect(result.current.status).toBe('refunded');
  expect(await env.stored(org.orgId)).toEqual({ left: 60, held: 0, used: 0 });
});

it('abort() cancels the run: run resolves undefined with an aborted error and the charge rolled back', async () => {
  const org = await env.org('pro');
  const { result, cachedAvailable } = await mount(org);
  const gate = deferred();
  env.control.hold = gate.promise;
  let pending!: Promise<unknown>;
  act(() => {
    pending = result.current.run('x');
  });
  await waitFor(() => expect(env.control.runs).toHaveLength(1));
  expect(cachedAvailable()).toBe(57);
  act(() => result.current.abort());
  let value: unknown = 'not run';
  await act(async () => {
    value = await pending;
  });
  expect(value).toBeUndefined();
  expect(result.current).toMatchObject({ status: 'idle', blocked: false, error: { code: 'aborted' } });
  expect(cachedAvailable()).toBe(60);
  // The server did not see the abort: let its handler fail so nothing is charged, then check.
  env.control.fail = true;
  gate.resolve();
  await waitFor(async () => expect(await env.stored(org.orgId)).toEqual({ left: 60, held: 0, used: 0 }));
});

it('the signal given to the action aborts too', async () => {
  const org = await env.org('pro');
  const client = env.clientFor(org);
  const { wrapper } = wrapperFor(client);
  const seen: AbortSignal[] = [];
  const { result } = renderHook(
    () =>
      useTokenGate('quest_generation', {
        action: (ctx) =>
          new Promise<string>((_resolve, reject) => {
            seen.push(ctx.signal);
            ctx.signal.addEventListener('abort', () => reject(new Error('stopped')));
          }),
      }),
    { wrapper },
  );
  await waitFor(() => expect(result.current.balance).toBeDefined());
  let pending!: Promise<unknown>;
  act(() => {
    pending = result.current.run();
  });
  await waitFor(() => expect(seen).toHaveLength(1));
  act(() => result.current.abort());
  await act(async () => {
    await pending;
  });
  expect(seen[0]!.aborted).toBe(true);
  expect(result.current.error?.code).toBe('aborted');
});

it('two rapid clicks run the action once and charge once', async () => {
  const org = await env.org('pro');
  const { result } = await mount(org);
  const gate = deferred();
  env.control.hold = gate.promise;
  let first!: Promise<unknown>;
  let second!: Promise<unknown>;
  act(() => {
    first = result.current.run('a');
    second = result.current.run('b');
  });
  expect(second).toBe(first);
  gate.resolve();
  await act(async () => {
    await Promise.all([first, second]);
  });
  expect(await second).toEqual({ quests: ['a: first', 'a: second'] });
  expect(env.control.runs).toHaveLength(1);
  expect(await env.stored(org.orgId)).toEqual({ left: 57, held: 0, used: 3 });
});

it('with concurrent: true, two clicks are two runs and two charges', async () => {
  const org = await env.org('pro');
  const { result } = await mount(org, { concurrent: true });
  let both!: Promise<unknown[]>;
  act(() => {
    both = Promise.all([result.current.run('a'), result.current.run('b')]);
  });
  await act(async () => {
    await both;
  });
  expect(env.control.runs).toHaveLength(2);
  expect(await env.stored(org.orgId)).toEqual({ left: 54, held: 0, used: 6 });
});

it("mode 'reserve' holds the estimate, then commits the actual usage from the result", async () => {
  const org = await env.org('pro');
  const { wrapper } = wrapperFor(env.clientFor(org));
  let heldDuringAction: unknown;
  const { result } = renderHook(
    () =>
      useTokenGate('strategy_analysis', {
        mode: 'reserve',
        estimate: 10,
        action: async (ctx, text: string) => {
          heldDuringAction = { reservation: ctx.reservation?.estimate, stored: await env.stored(org.orgId, 'strategy_analysis') };
          if (text === 'fail') throw new Error('model failed');
          return { summary: text.toUpperCase(), tokensUsed: 7 };
        },
        actualUsage: (r) => r.tokensUsed,
      }),
    { wrapper },
  );
  await waitFor(() => expect(result.current.balance).toBeDefined());
  expect(result.current.cost).toBe(10);

  await act(async () => {
    expect(await result.current.run('plan')).toEqual({ summary: 'PLAN', tokensUsed: 7 });
  });
  expect(heldDuringAction).toEqual({ reservation: 10, stored: { left: 90, held: 10, used: 0 } });
  expect(result.current.status).toBe('success');
  expect(await env.stored(org.orgId, 'strategy_analysis')).toEqual({ left: 93, held: 0, used: 7 });
  // The commit's balance went straight into the cache.
  expect(result.current.balance).toMatchObject({ available: 93, used: 7 });

  await act(async () => {
    expect(await result.current.run('fail')).toBeUndefined();
  });
  expect(result.current).toMatchObject({ status: 'refunded', error: { code: 'internal', message: 'model failed' } });
  expect(result.current.balance).toMatchObject({ available: 93, used: 7 });
  expect(await env.stored(org.orgId, 'strategy_analysis')).toEqual({ left: 93, held: 0, used: 7 });
});

it('without an action, run() deducts one use through the kit and returns the DeductResult', async () => {
  const org = await env.org('pro');
  const { wrapper } = wrapperFor(env.clientFor(org));
  const { result } = renderHook(() => useTokenGate('goal_generation'), { wrapper });
  await waitFor(() => expect(result.current.balance).toBeDefined());
  await act(async () => {
    expect(await result.current.run()).toMatchObject({ tokenType: 'goal_generation', charged: 1, replayed: false });
  });
  expect(await env.stored(org.orgId, 'goal_generation')).toEqual({ left: 19, held: 0, used: 1 });
  expect(result.current.balance).toMatchObject({ available: 19 });

  const { result: three } = renderHook(() => useTokenGate('goal_generation', { units: 3 }), { wrapper });
  await waitFor(() => expect(three.current.cost).toBe(3));
  await act(async () => {
    expect(await three.current.run()).toMatchObject({ charged: 3 });
  });
  expect(await env.stored(org.orgId, 'goal_generation')).toEqual({ left: 16, held: 0, used: 4 });
});

it('reports insufficient_tokens and the member quota from the cached balance', async () => {
  const org = await env.org('pro');
  // Spend all but 2 quest tokens, then cap the member below one use of revenue_forecast.
  const adjust = await env.app.request(`/orgs/${org.orgId}/admin/adjust`, {
    server: true,
    json: { tokenType: 'quest_generation', amount: -58, reason: 'test' },
    idempotencyKey: crypto.randomUUID(),
  });
  expect(adjust.status).toBe(200);
  const quota = await env.app.request(`/orgs/${org.orgId}/admin/members/${org.members[0]}/quotas/revenue_forecast`, {
    method: 'PUT',
    server: true,
    json: { quota: 4 },
  });
  expect(quota.status).toBe(200);
  const { wrapper } = wrapperFor(env.clientFor(org));
  const { result } = renderHook(
    () => ({ quests: useTokenGate('quest_generation'), forecast: useTokenGate('revenue_forecast') }),
    { wrapper },
  );
  await waitFor(() => expect(result.current.forecast.balance).toBeDefined());
  expect(result.current.quests).toMatchObject({ blocked: true, reason: 'insufficient_tokens', canRun: false });
  expect(result.current.forecast).toMatchObject({ blocked: true, reason: 'member_quota_exceeded', canRun: false });
});

it('a caller who is not a member of the org gets reason not_a_member from the refused balances', async () => {
  const org = await env.org('pro');
  const { wrapper } = wrapperFor(env.clientFor(org, crypto.randomUUID()));
  const { result } = renderHook(() => useTokenGate('quest_generation', { action: generateQuests }), { wrapper });
  await waitFor(() => expect(result.current.reason).toBe('not_a_member'));
  expect(result.current).toMatchObject({ blocked: true, canRun: false, isLoading: false, balance: undefined });
});

it("a member removed after the balances loaded: the guard's 403 not_a_member becomes the reason, nothing charged", async () => {
  const org = await env.org('pro');
  const member = crypto.randomUUID();
  await call(env.db, 'add_member', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: member, p_role: 'member' });
  const { wrapper } = wrapperFor(env.clientFor(org, member));
  const { result } = renderHook(() => useTokenGate('quest_generation', { action: generateQuests }), { wrapper });
  await waitFor(() => expect(result.current.canRun).toBe(true));
  await call(env.db, 'remove_member', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: member });
  await act(async () => {
    expect(await result.current.run('x')).toBeUndefined();
  });
  expect(result.current).toMatchObject({ status: 'idle', reason: 'not_a_member', blocked: true });
  expect(result.current.error?.code).toBe('not_a_member');
  expect(await env.stored(org.orgId)).toEqual({ left: 60, held: 0, used: 0 });
});
