/**
 * <TokenGate> and <TokenGateProvider> against the real handler on PGlite.
 */
import { QueryClient, QueryClientProvider, useQueryClient } from '@tanstack/react-query';
import { cleanup, render, renderHook, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { tokenGateKeys } from '../../src/core/query-keys.ts';
import { balancesQueryOptions } from '../../src/react/query-options.ts';
import { TokenGate } from '../../src/react/token-gate.tsx';
import { TokenGateProvider } from '../../src/react/token-gate-provider.tsx';
import { useTokenBalances } from '../../src/react/use-token-balances.ts';
import { useTokenClient } from '../../src/react/use-token-client.ts';
import { createReactEnv, wrapperFor, type ReactEnv } from './fixture.tsx';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(cleanup);

const gated = (
  <TokenGate
    tokenType="strategy_analysis"
    loading={<p>Checking your plan…</p>}
    fallback={({ reason, balance }) => (
      <p role="status">
        Unavailable: {reason ?? 'unknown'} ({balance?.name ?? 'no balance'})
      </p>
    )}
  >
    <button>Analyse strategy</button>
  </TokenGate>
);

it('renders the children when the org can use the token type', async () => {
  const org = await env.org('pro');
  render(gated, { wrapper: wrapperFor(env.clientFor(org)).wrapper });
  expect(screen.getByText('Checking your plan…')).toBeTruthy();
  expect(await screen.findByRole('button', { name: 'Analyse strategy' })).toBeTruthy();
  expect(screen.queryByRole('status')).toBeNull();
});

it('renders the fallback with the reason when the plan blocks it', async () => {
  const org = await env.org('starter');
  render(gated, { wrapper: wrapperFor(env.clientFor(org)).wrapper });
  expect((await screen.findByRole('status')).textContent).toBe('Unavailable: plan_blocked (Strategy analysis)');
  expect(screen.queryByRole('button')).toBeNull();
});

it('renders a node fallback, and the fallback with reason not_a_member when the caller is not a member', async () => {
  const org = await env.org('pro');
  const stranger = crypto.randomUUID();
  render(
    <TokenGate tokenType="strategy_analysis" fallback={<p>Not available</p>}>
      <button>Analyse strategy</button>
    </TokenGate>,
    { wrapper: wrapperFor(env.clientFor(org, stranger)).wrapper },
  );
  expect(await screen.findByText('Not available')).toBeTruthy();
  const other = await env.org('pro');
  render(gated, { wrapper: wrapperFor(env.clientFor(other, stranger)).wrapper });
  expect((await screen.findByRole('status')).textContent).toBe('Unavailable: not_a_member (no balance)');
});

it("shares the app's QueryClient, so the app can prefetch and invalidate with the key factory", async () => {
  const org = await env.org('pro');
  const client = env.clientFor(org);
  const { queryClient, wrapper } = wrapperFor(client);
  await queryClient.prefetchQuery(balancesQueryOptions(client));
  expect(queryClient.getQueryData(tokenGateKeys.balances(org.orgId))).toMatchObject({ orgId: org.orgId });
  const { result } = renderHook(() => ({ balances: useTokenBalances(), qc: useQueryClient(), client: useTokenClient() }), { wrapper });
  // Prefetched: no loading state at all.
  expect(result.current.balances.isSuccess).toBe(true);
  expect(result.current.qc).toBe(queryClient);
  expect(result.current.client).toBe(client);
});

it('creates its own QueryClient once when the app has none, and honours a queryClient prop', async () => {
  const org = await env.org('pro');
  const client = env.clientFor(org);
  const { result, rerender } = renderHook(() => ({ balances: useTokenBalances(), qc: useQueryClient() }), {
    wrapper: ({ children }) => <TokenGateProvider client={client}>{children}</TokenGateProvider>,
  });
  await waitFor(() => expect(result.current.balances.isSuccess).toBe(true));
  const own = result.current.qc;
  rerender();
  expect(result.current.qc).toBe(own);

  const explicit = new QueryClient();
  const outer = new QueryClient();
  const { result: second } = renderHook(() => useQueryClient(), {
    wrapper: ({ children }) => (
      <QueryClientProvider client={outer}>
        <TokenGateProvider client={client} queryClient={explicit}>
          {children}
        </TokenGateProvider>
      </QueryClientProvider>
    ),
  });
  expect(second.current).toBe(explicit);
});

it('the orgId prop re-keys the queries (org switcher)', async () => {
  const [a, b] = [await env.org('pro'), await env.org('starter')];
  // The same user in both orgs: add the member of `a` to `b`.
  const added = await env.app.request(`/orgs/${b.orgId}/admin/members/${a.members[0]}`, { method: 'PUT', server: true, json: { role: 'member' } });
  expect(added.status).toBe(200);
  const client = env.clientFor(a);
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const Plan = () => {
    const { data } = useTokenBalances();
    return <p role="status">{data ? `${data.orgId} ${data.plan.id}` : 'loading'}</p>;
  };
  const app = (orgId: string) => (
    <QueryClientProvider client={queryClient}>
      <TokenGateProvider client={client} orgId={orgId}>
        <Plan />
      </TokenGateProvider>
    </QueryClientProvider>
  );
  const { rerender } = render(app(a.orgId));
  await waitFor(() => expect(screen.getByRole('status').textContent).toBe(`${a.orgId} pro`));
  rerender(app(b.orgId));
  await waitFor(() => expect(screen.getByRole('status').textContent).toBe(`${b.orgId} starter`));
});

it('hooks outside a provider fail with a clear message', () => {
  expect(() => renderHook(() => useTokenClient())).toThrow('inside <TokenGateProvider');
});
