/**
 * The Suspense hooks (`tokengate/react/suspense`) against the real handler and ledger on PGlite
 * (fixture.tsx): they suspend, then render the data of the same queries as the plain hooks (one
 * balances request for both), throw a refusal to the app's error boundary, and render at once
 * from a cache that already holds the data.
 */
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import { Component, Suspense, type ReactNode } from 'react';
import { afterEach, beforeAll, expect, it, vi } from 'vitest';
import { balancesQueryOptions, statsQueryOptions } from '../../src/react/query-options.ts';
import { useSuspenseTokenBalance } from '../../src/react/use-suspense-token-balance.ts';
import { useSuspenseTokenBalances } from '../../src/react/use-suspense-token-balances.ts';
import { useSuspenseTokenStats } from '../../src/react/use-suspense-token-stats.ts';
import { useTokenBalances } from '../../src/react/use-token-balances.ts';
import { createReactEnv, wrapperFor, type ReactEnv } from './fixture.tsx';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const balancesReads = () => env.app.calls.filter((c) => c.fn === 'balances').length;
const today = () => new Date().toISOString().slice(0, 10);

class Boundary extends Component<{ children: ReactNode }, { error: { name?: string; code?: string } | null }> {
  override state = { error: null as { name?: string; code?: string } | null };
  static getDerivedStateFromError(error: { name?: string; code?: string }) {
    return { error };
  }
  override render() {
    return this.state.error ? <p role="alert">{`${this.state.error.name}: ${this.state.error.code}`}</p> : this.props.children;
  }
}

function Summary() {
  const { data: balances } = useSuspenseTokenBalances();
  const { data: quests } = useSuspenseTokenBalance('quest_generation');
  const { data: missing } = useSuspenseTokenBalance('no_such_type');
  const range = { from: today(), to: today() };
  const { data: stats } = useSuspenseTokenStats(range);
  // The plain hook reads the same query: no second request, data at once.
  const plain = useTokenBalances();
  return (
    <p>
      {`${balances.plan.name}: ${quests?.available} left at ${quests?.cost} a quest; ${stats.totals.tokens} tokens today; missing ${String(missing)}; plain ${plain.data?.plan.name}`}
    </p>
  );
}

function page(children: ReactNode) {
  return (
    <Boundary>
      <Suspense fallback={<p>Loading…</p>}>{children}</Suspense>
    </Boundary>
  );
}

it('suspends, then renders the balances, one balance and the stats, with one balances request shared with the plain hook', async () => {
  const org = await env.org('pro');
  const client = env.clientFor(org);
  await client.deduct('quest_generation');
  const { wrapper, queryClient } = wrapperFor(client);
  const before = balancesReads();
  render(page(<Summary />), { wrapper });
  expect(screen.getByText('Loading…')).toBeTruthy();
  expect(await screen.findByText('Pro: 57 left at 3 a quest; 3 tokens today; missing undefined; plain Pro')).toBeTruthy();
  expect(screen.queryByText('Loading…')).toBeNull();
  expect(balancesReads() - before).toBe(1);
  // Same keys as the plain hooks and the query options.
  expect(queryClient.getQueryData(balancesQueryOptions(client).queryKey)).toMatchObject({ orgId: org.orgId });
  expect(queryClient.getQueryData(statsQueryOptions(client, { from: today(), to: today() }).queryKey)).toMatchObject({ totals: { tokens: 3 } });
});

it("throws a refusal to the app's error boundary as a TokenGateError", async () => {
  const org = await env.org('pro');
  const { wrapper } = wrapperFor(env.clientFor(org, crypto.randomUUID()));
  // React reports the error its boundary caught with console.error.
  vi.spyOn(console, 'error').mockImplementation(() => {});
  render(page(<Summary />), { wrapper });
  expect(screen.getByText('Loading…')).toBeTruthy();
  expect((await screen.findByRole('alert')).textContent).toBe('TokenGateError: not_a_member');
});

it('renders at once, without suspending or a request, from a cache that holds the data', async () => {
  const org = await env.org('pro');
  const client = env.clientFor(org);
  const { wrapper, queryClient } = wrapperFor(client);
  await queryClient.prefetchQuery(balancesQueryOptions(client));
  await queryClient.prefetchQuery(statsQueryOptions(client, { from: today(), to: today() }));
  const before = balancesReads();
  render(page(<Summary />), { wrapper });
  // Synchronously: no fallback was ever needed.
  expect(screen.getByText('Pro: 60 left at 3 a quest; 0 tokens today; missing undefined; plain Pro')).toBeTruthy();
  await waitFor(() => expect(screen.queryByText('Loading…')).toBeNull());
  expect(balancesReads()).toBe(before);
});
