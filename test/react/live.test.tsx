/**
 * `TokenGateProvider`'s live feed (issue 12): the hooks' cache kept current from a real event
 * stream over HTTP on a loopback port (test/react/live-sse-server.ts speaks the events contract),
 * and from Supabase Realtime through a fake channel. Requests are counted on the server, so "no
 * refetch" is measured, not assumed.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { StrictMode, type ReactNode } from 'react';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { lowBalances, proBalances } from '../../src/components/fixtures.ts';
import type { TokenClient } from '../../src/core/create-token-client.ts';
import { tokenGateKeys } from '../../src/core/query-keys.ts';
import type { BalanceChange, Balances } from '../../src/core/types.ts';
import type { LiveTransport } from '../../src/live/live-transport.ts';
import { createSupabaseTransport } from '../../src/live/supabase-transport.ts';
import { TokenGateProvider } from '../../src/react/token-gate-provider.tsx';
import { useLiveStatus } from '../../src/react/use-live-status.ts';
import { useTokenBalance } from '../../src/react/use-token-balance.ts';
import { useTokenBalances } from '../../src/react/use-token-balances.ts';
import { useTokenStats } from '../../src/react/use-token-stats.ts';
import { fakeSupabase } from '../fake-supabase-realtime.ts';
import { waitFor as waitUntil } from '../wait-for.ts';
import { problem, startLiveServer, type LiveServer } from './live-sse-server.ts';

const ORG = '7b0c3f5e-0000-4000-8000-00000000000a';
// lowBalances: quest_generation 60 of 500 left, used 440; no member quota.
const initial: Balances = { ...lowBalances, orgId: ORG };
const change = (over: Partial<BalanceChange> = {}): BalanceChange => ({
  orgId: ORG,
  tokenType: 'quest_generation',
  ledgerId: 1,
  kind: 'deduct',
  available: 55,
  allowanceRemaining: 55,
  purchased: 0,
  held: 0,
  ...over,
});
const RANGE = { from: '2026-11-01', to: '2026-11-30' };

let server: LiveServer;
let visibility: DocumentVisibilityState = 'visible';
function setVisibility(next: DocumentVisibilityState) {
  visibility = next;
  document.dispatchEvent(new Event('visibilitychange'));
}

beforeAll(async () => {
  server = await startLiveServer(initial);
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
});
afterEach(async () => {
  cleanup();
  setVisibility('visible');
  // The feed outlives its last observer by a moment (route changes): wait for it to close.
  await waitUntil(() => server.open().length === 0, { what: 'every stream closed after the test' });
  Object.assign(server.state, { balances: initial, answers: [], events: [], retryMs: null, snapshotOnConnect: true, balancesRequests: 0, statsRequests: 0 });
});
afterAll(async () => {
  await server.stop();
});

function setup(props: { live?: boolean | LiveTransport; pollInterval?: number; client?: TokenClient } = {}) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const client = props.client ?? server.client(ORG);
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={queryClient}>
      <TokenGateProvider client={client} {...(props.live === undefined ? {} : { live: props.live })} {...(props.pollInterval === undefined ? {} : { pollInterval: props.pollInterval })}>
        {children}
      </TokenGateProvider>
    </QueryClientProvider>
  );
  return { queryClient, wrapper };
}

/** The balances, one token type, the stats and the live status, as a page would use them. */
function usePage() {
  return { balances: useTokenBalances(), quests: useTokenBalance('quest_generation'), stats: useTokenStats(RANGE), status: useLiveStatus() };
}

describe('TokenGateProvider live (server-sent events)', () => {
  it('patches useTokenBalances from changes without refetching, and refreshes the stats once per burst', async () => {
    const { wrapper } = setup();
    const { result } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.status).toBe('live'));
    // (Reading `data` here also makes the query's tracked result re-render when it changes.)
    await waitFor(() => expect(result.current.stats.data?.totals.tokens === 1 && result.current.quests.data?.available === 60).toBe(true));
    expect(server.state.balancesRequests).toBe(1);
    expect(server.state.statsRequests).toBe(1);
    // One connection for the organization, shared by every hook.
    expect(server.open()).toHaveLength(1);

    server.send(change({ ledgerId: 5, available: 55, allowanceRemaining: 55 }));
    server.send(change({ ledgerId: 6, kind: 'reserve', available: 45, allowanceRemaining: 45, held: 10 }));
    server.send(change({ ledgerId: 7, kind: 'commit', available: 52, allowanceRemaining: 52, held: 0 }));
    await waitFor(() => expect(result.current.quests.data).toMatchObject({ available: 52, allowanceRemaining: 52, held: 0, used: 448 }));
    expect(result.current.balances.data!.plan).toEqual(initial.plan);
    expect(server.state.balancesRequests).toBe(1);
    // The usage statistics follow, refetched once for the burst.
    await waitFor(() => expect(server.state.statsRequests).toBe(2));
    await waitFor(() => expect(result.current.stats.data!.totals.tokens).toBe(2));
    expect(server.state.balancesRequests).toBe(1);

    // And the next burst the same way.
    server.send(change({ ledgerId: 8, available: 49, allowanceRemaining: 49 }));
    await waitFor(() => expect(result.current.quests.data).toMatchObject({ available: 49, used: 451 }));
    await waitFor(() => expect(result.current.stats.data!.totals.tokens).toBe(3));
    expect(server.state.balancesRequests).toBe(1);
  });

  it('counts a charge once when the server repeats, after a snapshot, a change the snapshot includes', async () => {
    // The organization's balances already include charges 5 and 6 (60 → 55 → 50, used 450)…
    server.state.balances = { ...initial, tokenTypes: [{ ...initial.tokenTypes[0]!, available: 50, allowanceRemaining: 50, used: 450 }] };
    const { wrapper } = setup();
    const { result } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.status).toBe('live'));
    await waitFor(() => expect(result.current.quests.data).toMatchObject({ available: 50, used: 450 }));
    // …and the stream repeats them after the snapshot (they committed while it was being read).
    server.send(change({ ledgerId: 5, available: 55, allowanceRemaining: 55 }), { record: false });
    server.send(change({ ledgerId: 6, available: 50, allowanceRemaining: 50 }), { record: false });
    // Applied as deltas on the snapshot they would step back to 55 and count charge 6 twice; a
    // new charge after them shows they were handled, once.
    server.send(change({ ledgerId: 7, available: 45, allowanceRemaining: 45 }));
    await waitFor(() => expect(result.current.quests.data).toMatchObject({ available: 45, used: 455 }));
    expect(server.state.balancesRequests).toBe(1);
  });

  it('ignores a change older than the last one applied for its token type', async () => {
    server.state.balances = { ...initial, tokenTypes: [...initial.tokenTypes, { ...proBalances.tokenTypes[1]! }] };
    const { wrapper } = setup();
    const { result } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.status).toBe('live'));
    await waitFor(() => expect(result.current.quests.data?.available).toBe(60));
    server.send(change({ ledgerId: 20, kind: 'reserve', available: 40, allowanceRemaining: 40, held: 20 }));
    server.send(change({ ledgerId: 19, kind: 'reserve', available: 45, allowanceRemaining: 45, held: 15 }), { record: false });
    server.send(change({ ledgerId: 20, kind: 'reserve', available: 35, allowanceRemaining: 35, held: 25 }), { record: false });
    // Another token type's lower id still applies (ids are not commit-ordered across buckets)…
    server.send(change({ ledgerId: 3, tokenType: 'image_generation', available: 150, allowanceRemaining: 150 }));
    // …and once it shows, every change before it was handled.
    await waitFor(() => expect(result.current.balances.data!.tokenTypes[1]!.available).toBe(150));
    expect(result.current.quests.data!.available).toBe(40);
    expect(server.state.balancesRequests).toBe(1);
  });

  it('replaces the balances with the snapshot the server sends when the stream resumes (with Last-Event-ID)', async () => {
    const { wrapper } = setup();
    const { result } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.status).toBe('live'));
    server.send(change({ ledgerId: 31, kind: 'reserve', available: 50, allowanceRemaining: 50, held: 10 }));
    await waitFor(() => expect(result.current.quests.data?.available).toBe(50));
    // While disconnected, the plan changed and tokens were bought.
    server.state.balances = { ...initial, plan: { id: 'scale', name: 'Scale', access: 'metered' }, tokenTypes: [{ ...initial.tokenTypes[0]!, purchased: 100, available: 150, allowanceRemaining: 50 }] };
    server.endStreams();
    await waitFor(() => expect(result.current.balances.data!.plan.name).toBe('Scale'));
    expect(result.current.quests.data).toMatchObject({ available: 150, purchased: 100 });
    expect(server.state.events.map((e) => e.lastEventId)).toEqual([null, '31']);
    expect(server.state.balancesRequests).toBe(1);
  });

  it('applies again, on top of a refetch that was in flight, the changes that arrived meanwhile', async () => {
    const { wrapper, queryClient } = setup();
    const { result } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.status).toBe('live'));
    await waitFor(() => expect(result.current.quests.data?.available).toBe(60));
    // A refetch starts; the server reads the balances (60) but its answer is held back…
    let release!: () => void;
    server.state.holdBalances = new Promise((resolve) => (release = resolve));
    let refetched!: Promise<unknown>;
    act(() => {
      refetched = queryClient.refetchQueries({ queryKey: tokenGateKeys.balances(ORG) });
    });
    await waitUntil(() => server.state.balancesRequests === 2, { what: 'the refetch to reach the server' });
    // …while a change arrives and is applied.
    server.send(change({ ledgerId: 40, kind: 'reserve', available: 30, allowanceRemaining: 30, held: 30 }), { record: false });
    await waitFor(() => expect(result.current.quests.data?.available).toBe(30));
    server.state.holdBalances = null;
    release();
    await act(async () => {
      await refetched;
    });
    // The answer said 60 (it predates the change): the change, newer, is applied again on top.
    const state = queryClient.getQueryState<Balances>(tokenGateKeys.balances(ORG))!;
    expect(state.fetchStatus).toBe('idle');
    expect(state.data!.tokenTypes[0]!.available).toBe(30);
    // And the hooks render what the cache holds once they caught up with it.
    await waitFor(() => expect(result.current.balances.dataUpdatedAt).toBe(queryClient.getQueryState(tokenGateKeys.balances(ORG))!.dataUpdatedAt));
    expect(result.current.quests.data?.available).toBe(30);
  });

  it('closes while the page is hidden (paused) and resumes with Last-Event-ID when visible', async () => {
    const { wrapper } = setup();
    const { result } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.status).toBe('live'));
    server.send(change({ ledgerId: 50, available: 51, allowanceRemaining: 51 }));
    await waitFor(() => expect(result.current.quests.data?.available).toBe(51));
    act(() => setVisibility('hidden'));
    expect(result.current.status).toBe('paused');
    await waitUntil(() => server.open().length === 0, { what: 'the stream closed while hidden' });
    act(() => setVisibility('visible'));
    await waitFor(() => expect(result.current.status).toBe('live'));
    expect(server.state.events.map((e) => e.lastEventId)).toEqual([null, '50']);
  });

  it('stops on 401 (off), and tries live again only after the balances are read again', async () => {
    server.state.answers.push(problem(401, 'unauthorized'));
    // The balances answer only after the refusal: their success must not count as "read since".
    let release!: () => void;
    server.state.holdBalances = new Promise((resolve) => (release = resolve));
    const { wrapper } = setup();
    const { result } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.status).toBe('off'));
    server.state.holdBalances = null;
    release();
    await waitFor(() => expect(result.current.quests.data?.available).toBe(60));
    expect(result.current.status).toBe('off');
    expect(server.state.events).toHaveLength(1);

    // A later read of the balances succeeds (the app refreshed the session): one new attempt.
    await act(async () => {
      await result.current.balances.refetch();
    });
    await waitFor(() => expect(result.current.status).toBe('live'));
    expect(server.state.events).toHaveLength(2);
  });

  it('with live={false}, never connects', async () => {
    const { wrapper } = setup({ live: false });
    const { result } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.quests.data?.available).toBe(60));
    // Give a (wrong) feed every chance to connect: a change of the balances query's observers.
    await act(async () => {
      await result.current.balances.refetch();
    });
    expect(result.current.status).toBe('off');
    expect(server.state.events).toHaveLength(0);
  });

  it('opens one connection under StrictMode (effects run twice) and follows an org switch', async () => {
    const OTHER = '7b0c3f5e-0000-4000-8000-00000000000b';
    const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const client = server.client(ORG);
    const Wrapper = ({ children, orgId }: { children: ReactNode; orgId: string }) => (
      <StrictMode>
        <QueryClientProvider client={queryClient}>
          <TokenGateProvider client={client} orgId={orgId}>
            {children}
          </TokenGateProvider>
        </QueryClientProvider>
      </StrictMode>
    );
    let orgId = ORG;
    const { result, rerender } = renderHook(usePage, { wrapper: ({ children }) => <Wrapper orgId={orgId}>{children}</Wrapper> });
    await waitFor(() => expect(result.current.status).toBe('live'));
    expect(server.state.events.map((e) => e.orgId)).toEqual([ORG]);

    server.state.balances = { ...initial, orgId: OTHER };
    orgId = OTHER;
    rerender();
    await waitFor(() => expect(result.current.status).toBe('live'));
    await waitFor(() => expect(result.current.balances.data?.orgId).toBe(OTHER));
    // The previous organization's stream closes once nothing observes its balances.
    await waitUntil(() => server.state.events[0]!.closed, { what: "the first organization's stream closed" });
    expect(server.state.events.map((e) => e.orgId)).toEqual([ORG, OTHER]);
    expect(server.open().map((e) => e.orgId)).toEqual([OTHER]);
  });

  it('restarts the feed with a new client (a new session), on the same QueryClient', async () => {
    const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    let client = server.client(ORG, 'an-expired-token');
    const { result, rerender } = renderHook(usePage, {
      wrapper: ({ children }) => (
        <QueryClientProvider client={queryClient}>
          <TokenGateProvider client={client}>{children}</TokenGateProvider>
        </QueryClientProvider>
      ),
    });
    // The expired session's stream is refused ('off' is also the status before any attempt, so wait
    // for the request itself: the feed loads after the first render).
    await waitFor(() => expect(server.state.events.map((e) => e.authorization)).toEqual(['Bearer an-expired-token']));
    await waitFor(() => expect(result.current.status).toBe('off'));
    client = server.client(ORG);
    rerender();
    await waitFor(() => expect(result.current.status).toBe('live'));
    expect(server.state.events.map((e) => e.authorization)).toEqual(['Bearer an-expired-token', 'Bearer token-of-ada']);
  });

  it('closes the connection when the last balances observer unmounts', async () => {
    const { wrapper } = setup();
    const { result, unmount } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(result.current.status).toBe('live'));
    unmount();
    await waitUntil(() => server.state.events[0]!.closed, { what: 'the stream closed after unmount' });
    expect(server.state.events).toHaveLength(1);
  });
});

describe('TokenGateProvider live: polling fallback', () => {
  it.each([
    ['501 live_unavailable', problem(501, 'live_unavailable')],
    ['404 (no events route)', { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' }],
  ])('polls the balances every pollInterval while visible when the server answers %s', async (_what, answer) => {
    server.state.answers.push(answer);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const { wrapper } = setup({ pollInterval: 15_000 });
      const { result } = renderHook(usePage, { wrapper });
      await waitUntil(() => result.current.status === 'polling', { what: 'polling' });
      await waitUntil(() => result.current.quests.data?.available === 60, { what: 'the balances' });
      expect(server.state.balancesRequests).toBe(1);

      server.state.balances = { ...initial, tokenTypes: [{ ...initial.tokenTypes[0]!, available: 42, allowanceRemaining: 42 }] };
      await act(async () => {
        vi.advanceTimersByTime(15_000);
      });
      await waitUntil(() => result.current.quests.data?.available === 42, { what: 'the polled balances' });
      expect(server.state.balancesRequests).toBe(2);

      // Hidden: paused, and the intervals that pass poll nothing.
      act(() => setVisibility('hidden'));
      expect(result.current.status).toBe('paused');
      await act(async () => {
        vi.advanceTimersByTime(45_000);
      });
      expect(server.state.balancesRequests).toBe(2);

      act(() => setVisibility('visible'));
      expect(result.current.status).toBe('polling');
      await act(async () => {
        vi.advanceTimersByTime(15_000);
      });
      await waitUntil(() => server.state.balancesRequests === 3, { what: 'polling again once visible' });
      expect(server.state.events).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('TokenGateProvider live (Supabase Realtime, fake channel)', () => {
  it('patches from broadcasts, refetches once per (re)join, and removes the channel on unmount', async () => {
    const supabase = fakeSupabase();
    const live = createSupabaseTransport(supabase);
    const { wrapper } = setup({ live });
    const { result, unmount } = renderHook(usePage, { wrapper });
    await waitFor(() => expect(supabase.channels).toHaveLength(1));
    const channel = supabase.channels[0]!;
    expect(channel.name).toBe(`tokengate:org:${ORG}`);
    await waitFor(() => expect(result.current.quests.data?.available).toBe(60));
    expect(result.current.status).toBe('connecting');

    act(() => channel.status('SUBSCRIBED'));
    expect(result.current.status).toBe('live');
    // Realtime cannot resume: the join is followed by one refetch of the balances.
    await waitFor(() => expect(server.state.balancesRequests).toBe(2));

    act(() => channel.broadcast('balance', change({ ledgerId: 9, available: 33, allowanceRemaining: 33 })));
    await waitFor(() => expect(result.current.quests.data?.available).toBe(33));
    expect(server.state.balancesRequests).toBe(2);
    // No SSE connection was opened.
    expect(server.state.events).toHaveLength(0);

    unmount();
    await waitUntil(() => supabase.removed.length === 1, { what: 'the channel removed' });
    expect(supabase.removed[0]).toBe(channel);
  });
});
