/**
 * useTokenGate's runs are TanStack Query mutations: in the mutation cache under
 * `tokenGateKeys.run(orgId, tokenType)`, seen by `useMutationState` while running, never retried
 * or paused by the app's mutation defaults — and switching org or token type keeps the hook's state.
 * Against the real handler, guard and ledger (PGlite).
 */
import { onlineManager, QueryClient, QueryClientProvider, useIsMutating, useMutationState } from '@tanstack/react-query';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { tokenGateKeys } from '../../src/core/query-keys.ts';
import { TokenGateProvider } from '../../src/react/token-gate-provider.tsx';
import { useTokenGate, type TokenGateActionContext } from '../../src/react/use-token-gate.ts';
import { createReactEnv, deferred, GENERATE_URL, wrapperFor, type ReactEnv } from './fixture.tsx';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(() => {
  cleanup();
  onlineManager.setOnline(true);
});
beforeEach(() => {
  env.control.runs.length = 0;
  env.control.hold = null;
  env.control.fail = false;
});

const generateQuests = async (ctx: TokenGateActionContext, goal: string) => {
  const response = await ctx.fetch(GENERATE_URL, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ goal }) });
  return (await response.json()) as { quests: string[] };
};

it('files each run in the mutation cache under tokenGateKeys.run(orgId, tokenType), with its arguments', async () => {
  const org = await env.org('pro');
  const { queryClient, wrapper } = wrapperFor(env.clientFor(org));
  const { result } = renderHook(() => ({ quests: useTokenGate('quest_generation', { action: generateQuests }), goals: useTokenGate('goal_generation') }), { wrapper });
  await waitFor(() => expect(result.current.quests.canRun).toBe(true));
  await act(async () => {
    await result.current.quests.run('Save 10k');
    await result.current.goals.run();
  });
  const runs = queryClient.getMutationCache().findAll({ mutationKey: tokenGateKeys.run(org.orgId, 'quest_generation') });
  expect(runs.map((m) => [m.state.status, (m.state.variables as { args: unknown[] }).args])).toEqual([['success', ['Save 10k']]]);
  expect(runs[0]!.state.data).toEqual({ quests: ['Save 10k: first', 'Save 10k: second'] });
  expect(queryClient.getMutationCache().findAll({ mutationKey: tokenGateKeys.run(org.orgId, 'goal_generation') })).toHaveLength(1);
  // The org's key matches every run of the organization.
  expect(queryClient.getMutationCache().findAll({ mutationKey: tokenGateKeys.org(org.orgId) })).toHaveLength(2);
});

it('useMutationState and useIsMutating see a run while it runs, and not after', async () => {
  const org = await env.org('pro');
  const { wrapper } = wrapperFor(env.clientFor(org));
  const key = tokenGateKeys.run(org.orgId, 'quest_generation');
  const { result } = renderHook(
    () => ({
      gate: useTokenGate('quest_generation', { action: generateQuests }),
      pending: useMutationState({ filters: { mutationKey: key, status: 'pending' }, select: (m) => (m.state.variables as { args: unknown[] }).args }),
      working: useIsMutating({ mutationKey: tokenGateKeys.org(org.orgId) }),
    }),
    { wrapper },
  );
  await waitFor(() => expect(result.current.gate.canRun).toBe(true));
  expect(result.current).toMatchObject({ pending: [], working: 0 });
  const gate = deferred();
  env.control.hold = gate.promise;
  let pending!: Promise<unknown>;
  act(() => {
    pending = result.current.gate.run('x');
  });
  await waitFor(() => expect(result.current.pending).toEqual([['x']]));
  expect(result.current.working).toBe(1);
  gate.resolve();
  await act(async () => {
    await pending;
  });
  await waitFor(() => expect(result.current).toMatchObject({ pending: [], working: 0 }));
  expect(result.current.gate.status).toBe('success');
});

it("the app's mutation defaults neither retry a failed run nor pause one while offline", async () => {
  const org = await env.org('pro');
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: 3, retryDelay: 1 } } });
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={queryClient}>
      <TokenGateProvider client={env.clientFor(org)}>{children}</TokenGateProvider>
    </QueryClientProvider>
  );
  const { result } = renderHook(() => useTokenGate('quest_generation', { action: generateQuests }), { wrapper });
  await waitFor(() => expect(result.current.canRun).toBe(true));
  env.control.fail = true;
  await act(async () => {
    expect(await result.current.run('x')).toBeUndefined();
  });
  expect(result.current.status).toBe('refunded');
  expect(env.control.runs).toHaveLength(1);

  // Offline by the browser's account: the run still goes (the route may be reachable, and it was the user's click).
  env.control.fail = false;
  onlineManager.setOnline(false);
  await act(async () => {
    expect(await result.current.run('y')).toEqual({ quests: ['y: first', 'y: second'] });
  });
  expect(result.current.status).toBe('success');
});

it('switching token type or org keeps the last run visible; the next run is filed under the new key', async () => {
  const org = await env.org('pro');
  const other = await env.org('pro');
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const client = env.clientFor(org);
  // The provider's org, read when the wrapper renders (rerender renders it again).
  let orgId = org.orgId;
  const { result, rerender } = renderHook(
    ({ type }: { type: string }) => useTokenGate(type, { action: async (_ctx, text: string) => ({ echo: `${type}: ${text}` }) }),
    {
      initialProps: { type: 'quest_generation' },
      wrapper: ({ children }: { children: ReactNode }) => (
        <QueryClientProvider client={queryClient}>
          <TokenGateProvider client={client} orgId={orgId}>
            {children}
          </TokenGateProvider>
        </QueryClientProvider>
      ),
    },
  );
  await waitFor(() => expect(result.current.canRun).toBe(true));
  await act(async () => {
    await result.current.run('one');
  });
  const first = { status: 'success', data: { echo: 'quest_generation: one' }, error: null };
  expect(result.current).toMatchObject(first);

  rerender({ type: 'goal_generation' });
  await waitFor(() => expect(result.current.balance?.tokenType).toBe('goal_generation'));
  expect(result.current).toMatchObject(first);
  orgId = other.orgId;
  rerender({ type: 'goal_generation' });
  // The member of `org` is not one of `other`: its balances are refused.
  await waitFor(() => expect(result.current.reason).toBe('not_a_member'));
  expect(result.current).toMatchObject(first);

  let value: unknown;
  await act(async () => {
    value = await result.current.run('two');
  });
  expect(value).toEqual({ echo: 'goal_generation: two' });
  expect(result.current).toMatchObject({ status: 'success', data: { echo: 'goal_generation: two' } });
  const data = (key: readonly unknown[]) => queryClient.getMutationCache().findAll({ mutationKey: key }).map((m) => m.state.data);
  expect(data(tokenGateKeys.run(org.orgId, 'quest_generation'))).toEqual([{ echo: 'quest_generation: one' }]);
  expect(data(tokenGateKeys.run(org.orgId, 'goal_generation'))).toEqual([]);
  expect(data(tokenGateKeys.run(other.orgId, 'goal_generation'))).toEqual([{ echo: 'goal_generation: two' }]);
});

it('with concurrent: true, two runs started at once after a switch both run, under the new key', async () => {
  const org = await env.org('pro');
  const { queryClient, wrapper } = wrapperFor(env.clientFor(org));
  const { result, rerender } = renderHook(
    ({ type }: { type: string }) => useTokenGate(type, { concurrent: true, action: async (_ctx, text: string) => `${type}: ${text}` }),
    { initialProps: { type: 'quest_generation' }, wrapper },
  );
  await waitFor(() => expect(result.current.canRun).toBe(true));
  rerender({ type: 'goal_generation' });
  let both!: Promise<unknown[]>;
  act(() => {
    both = Promise.all([result.current.run('a'), result.current.run('b')]);
  });
  await act(async () => {
    expect(await both).toEqual(['goal_generation: a', 'goal_generation: b']);
  });
  const runs = queryClient.getMutationCache().findAll({ mutationKey: tokenGateKeys.run(org.orgId, 'goal_generation') });
  expect(runs.map((m) => m.state.data)).toEqual(['goal_generation: a', 'goal_generation: b']);
});

it('a run in flight when the token type switches still shows how it ended', async () => {
  const org = await env.org('pro');
  const { wrapper } = wrapperFor(env.clientFor(org));
  const { result, rerender } = renderHook(({ type }: { type: string }) => useTokenGate(type, { action: generateQuests }), {
    initialProps: { type: 'quest_generation' },
    wrapper,
  });
  await waitFor(() => expect(result.current.canRun).toBe(true));
  const gate = deferred();
  env.control.hold = gate.promise;
  let pending!: Promise<unknown>;
  act(() => {
    pending = result.current.run('x');
  });
  await waitFor(() => expect(env.control.runs).toHaveLength(1));
  rerender({ type: 'goal_generation' });
  await waitFor(() => expect(result.current.balance?.tokenType).toBe('goal_generation'));
  expect(result.current).toMatchObject({ status: 'running', canRun: false });
  gate.resolve();
  await act(async () => {
    await pending;
  });
  expect(result.current).toMatchObject({ status: 'success', data: { quests: ['x: first', 'x: second'] }, canRun: true });
  // reset() clears it, as before.
  act(() => result.current.reset());
  expect(result.current).toMatchObject({ status: 'idle', data: undefined });
});
