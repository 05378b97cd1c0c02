import { cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { useTokenBalance } from '../../src/react/use-token-balance.ts';
import { useTokenBalances } from '../../src/react/use-token-balances.ts';
import { useTokenStats } from '../../src/react/use-token-stats.ts';
import { statsQueryOptions } from '../../src/react/query-options.ts';
import { createReactEnv, wrapperFor, type ReactEnv } from './fixture.tsx';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(cleanup);

it('loads the balances of the org from the real handler', async () => {
  const org = await env.org('pro');
  const { wrapper } = wrapperFor(env.clientFor(org));
  const { result } = renderHook(() => ({ all: useTokenBalances(), quests: useTokenBalance('quest_generation') }), { wrapper });
  await waitFor(() => expect(result.current.all.isSuccess).toBe(true));
  expect(result.current.all.data).toMatchObject({ orgId: org.orgId, plan: { id: 'pro' }, member: { userId: org.members[0], role: 'member' } });
  expect(result.current.quests.data).toMatchObject({ tokenType: 'quest_generation', cost: 3, allowance: 60, available: 60, used: 0 });
});

it('reports a refusal of the server as a TokenGateError', async () => {
  const org = await env.org('pro');
  const stranger = crypto.randomUUID();
  const { wrapper } = wrapperFor(env.clientFor(org, stranger));
  const { result } = renderHook(() => useTokenBalances(), { wrapper });
  await waitFor(() => expect(result.current.isError).toBe(true));
  expect(result.current.error).toMatchObject({ name: 'TokenGateError', code: 'not_a_member', status: 403 });
});

it('loads usage statistics for a range, and the hook shares the query-options key', async () => {
  const org = await env.org('pro');
  const client = env.clientFor(org);
  await client.deduct('quest_generation', { units: 2 });
  const today = new Date().toISOString().slice(0, 10);
  const range = { from: today, to: today };
  const { queryClient, wrapper } = wrapperFor(client);
  const { result } = renderHook(() => useTokenStats(range), { wrapper });
  await waitFor(() => expect(result.current.isSuccess).toBe(true));
  expect(result.current.data).toMatchObject({ orgId: org.orgId, totals: { tokens: 6, events: 1 } });
  expect(result.current.data?.byType).toEqual([{ tokenType: 'quest_generation', tokens: 6, events: 1 }]);
  expect(queryClient.getQueryData(statsQueryOptions(client, range).queryKey)).toBe(result.current.data);
});
