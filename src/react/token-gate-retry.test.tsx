/**
 * The kit's retry policy: a refusal (4xx) is never retried, a network failure / 5xx / 429 is; the
 * app's own QueryClient `retry` wins where it sets one. Against a fake fetch (no server needed).
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, renderHook, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTokenClient } from '../core/create-token-client.ts';
import { isRetryableError } from '../core/is-retryable-error.ts';
import { TokenGateError } from '../core/token-gate-error.ts';
import { proBalances } from '../components/fixtures.ts';
import { TokenGateProvider } from './token-gate-provider.tsx';
import { tokenGateRetry } from './token-gate-retry.ts';
import { useTokenBalances } from './use-token-balances.ts';
import { useTokenGate } from './use-token-gate.ts';

afterEach(cleanup);

const problem = (status: number, code: string) =>
  new Response(JSON.stringify({ type: `https://tokengate.dev/errors/${code}`, title: code, status, code, detail: code }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });

/** A client whose balances answer the given responses in turn (the last one repeats). */
function clientAnswering(...answers: (() => Response | Promise<Response>)[]) {
  const fetch = vi.fn(async () => (answers.length > 1 ? answers.shift()! : answers[0]!)());
  const client = createTokenClient({ baseUrl: '/api/tokengate', getAccessToken: () => 't', orgId: proBalances.orgId, fetch });
  return { client, fetch };
}

const inside = (client: ReturnType<typeof clientAnswering>['client'], queryClient?: QueryClient) =>
  function Wrapper({ children }: { children: ReactNode }) {
    // live off: the fake fetch answers the balances calls it counts, not an events stream.
    const tree = (
      <TokenGateProvider client={client} live={false}>
        {children}
      </TokenGateProvider>
    );
    return queryClient ? <QueryClientProvider client={queryClient}>{tree}</QueryClientProvider> : tree;
  };

describe('isRetryableError / tokenGateRetry', () => {
  it('retries network failures, 5xx and 429 (three times), never a refusal or an abort', () => {
    const retryable = [
      new TokenGateError('network'),
      new TokenGateError('unavailable'),
      new TokenGateError('internal'),
      new TokenGateError('internal', 'bad gateway', { facts: { status: 502 } }),
      new TokenGateError('internal', 'slow down', { facts: { status: 429 } }),
      new Error('not ours'),
    ];
    const final = [
      new TokenGateError('not_a_member'),
      new TokenGateError('unauthorized'),
      new TokenGateError('plan_blocked'),
      new TokenGateError('insufficient_tokens'),
      new TokenGateError('not_found'),
      new TokenGateError('aborted'),
      new TokenGateError('internal', 'teapot', { facts: { status: 418 } }),
    ];
    for (const e of retryable) expect(isRetryableError(e), e.message).toBe(true);
    for (const e of final) expect(isRetryableError(e), e.message).toBe(false);
    expect([0, 1, 2, 3].map((n) => tokenGateRetry(n, new TokenGateError('network')))).toEqual([true, true, true, false]);
  });
});

describe('the hooks under an app QueryClient that leaves retry unset', () => {
  it('a 403 not_a_member fails at once: one request, no ~7 s of retries', async () => {
    const { client, fetch } = clientAnswering(() => problem(403, 'not_a_member'));
    const start = Date.now();
    const { result } = renderHook(() => useTokenBalances(), { wrapper: inside(client, new QueryClient()) });
    await waitFor(() => expect(result.current.error?.code).toBe('not_a_member'), { timeout: 800 });
    expect(Date.now() - start).toBeLessThan(800);
    // A retry would come after TanStack's first delay of 1 s.
    await new Promise((r) => setTimeout(r, 1200));
    expect(fetch).toHaveBeenCalledOnce();
  });

  it('a network failure is still retried, then loads', async () => {
    const { client, fetch } = clientAnswering(
      () => Promise.reject(new TypeError('fetch failed')),
      () => Response.json(proBalances),
    );
    const { result } = renderHook(() => useTokenBalances(), { wrapper: inside(client, new QueryClient()) });
    await waitFor(() => expect(result.current.data?.plan.id).toBe('pro'), { timeout: 5000 });
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('the provider’s own QueryClient (no app one) does not retry a refusal either', async () => {
    const { client, fetch } = clientAnswering(() => problem(403, 'not_a_member'));
    const { result } = renderHook(() => useTokenBalances(), { wrapper: inside(client) });
    await waitFor(() => expect(result.current.error?.code).toBe('not_a_member'), { timeout: 800 });
    await new Promise((r) => setTimeout(r, 1200));
    expect(fetch).toHaveBeenCalledOnce();
  });
});

it("an app QueryClient that sets retry keeps its own policy (the kit does not clobber it)", async () => {
  const { client, fetch } = clientAnswering(() => problem(403, 'not_a_member'));
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: 2, retryDelay: 1 } } });
  const { result } = renderHook(() => useTokenBalances(), { wrapper: inside(client, queryClient) });
  await waitFor(() => expect(result.current.isError).toBe(true));
  expect(fetch).toHaveBeenCalledTimes(3);
  expect(queryClient.getDefaultOptions().queries?.retry).toBe(2);
});

it('useTokenGate exposes reason not_a_member: blocked, cannot run, and says why', async () => {
  const { client } = clientAnswering(() => problem(403, 'not_a_member'));
  const { result } = renderHook(() => useTokenGate('quest_generation'), { wrapper: inside(client, new QueryClient()) });
  await waitFor(() => expect(result.current.reason).toBe('not_a_member'), { timeout: 800 });
  expect(result.current).toMatchObject({ blocked: true, canRun: false, cost: null, isLoading: false });
});
