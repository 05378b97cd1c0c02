/**
 * Server-rendered balances (the README's Next.js App Router pattern) in-process: the "Server
 * Component" prefetches through the REAL gate on PGlite with `balancesServerQueryOptions` and
 * dehydrates; the page's client part (the app's QueryClient, `TokenGateProvider`,
 * `HydrationBoundary`, `useTokenBalance`, `useTokenGate`, a Suspense hook) is rendered to HTML with
 * `renderToString`, then hydrated over that HTML with `hydrateRoot` in jsdom while the provider's
 * live feed runs against the real handler's `/events`. The HTML shows the balance and the button's
 * cost; hydration reports nothing and asks for no balances. Controls show that the checks can
 * fail: a page whose server HTML differs is reported, and the kit's own QueryClient (staleTime 0)
 * refetches on hydration — why the pattern sets a staleTime.
 * `renderToString` runs in this file's jsdom environment (React's server renderer reads no DOM; a
 * render without `window` is src/react/token-gate.ssr.test.tsx's), and the same pattern runs in a
 * real `next build` + `next start` app in Chromium in test/package/consumer-install.test.ts.
 */
import { dehydrate, HydrationBoundary, QueryClient, QueryClientProvider, type DehydratedState } from '@tanstack/react-query';
import { act, cleanup, waitFor } from '@testing-library/react';
import { Component, Suspense, type ReactNode } from 'react';
import { hydrateRoot, type Root } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { supabaseAuth } from '../../server/auth.ts';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import { createHandler } from '../../server/http/handler.ts';
import { balancesServerQueryOptions } from '../../server/server-query-options.ts';
import { pgliteStore, type PgliteLike } from '../../server/stores/pglite-store.ts';
import { createTokenClient, type TokenClient } from '../../src/core/create-token-client.ts';
import { tokenGateRetry } from '../../src/react/token-gate-retry.ts';
import { TokenGateProvider } from '../../src/react/token-gate-provider.tsx';
import { useLiveStatus } from '../../src/react/use-live-status.ts';
import { useSuspenseTokenBalances } from '../../src/react/use-suspense-token-balances.ts';
import { useTokenBalance } from '../../src/react/use-token-balance.ts';
import { useTokenGate } from '../../src/react/use-token-gate.ts';
import { freshPglite, type TestDb } from '../db.ts';
import { createTestIssuer, type TestIssuer } from '../jwt.ts';
import { createOrg, type SeededOrg } from '../ledger.ts';

const BASE = 'http://localhost/api/tokengate';

let db: TestDb;
let gate: TokenGate;
let issuer: TestIssuer;
let handler: (request: Request) => Promise<Response>;
/** Requests the browser's client made, by route (`balances`, `events`, …). */
const requests: string[] = [];
const count = (route: string) => requests.filter((r) => r === route).length;
let root: Root | null = null;

beforeAll(async () => {
  db = await freshPglite();
  const pglite: PgliteLike = {
    query: async <T,>(sql: string, params?: unknown[]) => ({ rows: (await db.query(sql, params)) as T[] }),
    listen: (channel, callback) => db.listen(channel, callback),
  };
  gate = createTokenGate({ store: pgliteStore(pglite) });
  issuer = await createTestIssuer();
  handler = createHandler({ gate, authenticate: supabaseAuth(issuer.authOptions), events: { heartbeatMs: 1_000 } });
});
afterEach(() => {
  act(() => root?.unmount());
  root = null;
  document.body.innerHTML = '';
  cleanup();
  requests.length = 0;
  vi.restoreAllMocks();
});
afterAll(async () => {
  await db.close();
});

/** The browser's client of the handler, acting as `user` (the signal stays with the client, as in fixture.tsx). */
function clientFor(org: SeededOrg, user = org.members[0]!): TokenClient {
  return createTokenClient({
    baseUrl: BASE,
    getAccessToken: async () => (await issuer.bearer(user)).slice('Bearer '.length),
    orgId: org.orgId,
    fetch: async (input, init) => {
      requests.push(new URL(input).pathname.split('/').pop()!);
      const { signal: _signal, ...rest } = init;
      return handler(new Request(input, rest));
    },
  });
}

/** The Server Component's part: read through the gate (no HTTP), dehydrate, serialise (the props cross as JSON). */
async function serverState(org: SeededOrg, user = org.members[0]!): Promise<DehydratedState> {
  const queryClient = new QueryClient();
  await queryClient.prefetchQuery(balancesServerQueryOptions(gate, { userId: user, orgId: org.orgId }));
  return JSON.parse(JSON.stringify(dehydrate(queryClient))) as DehydratedState;
}

/** The app's QueryClient, as in TanStack Query's SSR guide: a staleTime, so hydrated data is not refetched on mount. */
const appQueryClient = () => new QueryClient({ defaultOptions: { queries: { staleTime: 60_000, retry: tokenGateRetry } } });

function Credits() {
  const { data: balance } = useTokenBalance('quest_generation');
  const quest = useTokenGate('quest_generation');
  const live = useLiveStatus();
  return (
    <section data-live={live}>
      <p data-testid="left">{balance ? `${balance.available} quest tokens left` : 'Loading balance…'}</p>
      <button aria-disabled={!quest.canRun}>Generate New Quest ({quest.cost ?? '…'} tokens)</button>
    </section>
  );
}

/** The app's error boundary around the Suspense part: the hook throws a refusal to it. */
class PlanBoundary extends Component<{ children: ReactNode }, { error: { code?: string } | null }> {
  override state = { error: null as { code?: string } | null };
  static getDerivedStateFromError(error: { code?: string }) {
    return { error };
  }
  override render() {
    return this.state.error ? <p>Plan unavailable: {this.state.error.code}</p> : this.props.children;
  }
}

function PlanName() {
  const { data } = useSuspenseTokenBalances();
  return <p>Plan: {data.plan.name}</p>;
}

/** The page's client part. `queryClient: null`: no app QueryClientProvider (the provider makes its own). */
function Page({ client, state, queryClient }: { client: TokenClient; state: DehydratedState; queryClient: QueryClient | null }) {
  const tree = (
    <TokenGateProvider client={client}>
      <HydrationBoundary state={state}>
        <Credits />
        <PlanBoundary>
          <Suspense fallback={<p>Loading plan…</p>}>
            <PlanName />
          </Suspense>
        </PlanBoundary>
      </HydrationBoundary>
    </TokenGateProvider>
  );
  return queryClient ? <QueryClientProvider client={queryClient}>{tree}</QueryClientProvider> : tree;
}

/** Hydrates `page` over `html` like the browser does, collecting what React reports. */
async function hydrate(html: string, page: ReactNode) {
  const container = document.createElement('div');
  container.innerHTML = html;
  document.body.appendChild(container);
  const recoverable: unknown[] = [];
  const errors = vi.spyOn(console, 'error');
  const warnings = vi.spyOn(console, 'warn');
  await act(async () => {
    root = hydrateRoot(container, page, { onRecoverableError: (error) => void recoverable.push(error) });
  });
  return { container, recoverable, errors, warnings };
}

it('server-renders the balance and the cost from the gate, and hydrates without warnings or a balances request', async () => {
  const org = await createOrg(db, { plan: 'pro', members: 2 });
  const state = await serverState(org);
  const client = clientFor(org);

  const html = renderToString(<Page client={client} state={state} queryClient={appQueryClient()} />);
  expect(html).toContain('60 quest tokens left');
  expect(html).toContain('Generate New Quest (<!-- -->3<!-- --> tokens)');
  expect(html).toContain('Plan: <!-- -->Pro');
  expect(html).not.toMatch(/Loading/);
  expect(requests).toEqual([]);

  const { container, recoverable, errors, warnings } = await hydrate(html, <Page client={client} state={state} queryClient={appQueryClient()} />);
  // The live feed connected after hydration (its events request) and took its snapshot.
  await waitFor(() => expect(container.querySelector('section')!.dataset.live).toBe('live'));
  expect(container.textContent).toContain('60 quest tokens left');
  expect(container.querySelector('button')!.getAttribute('aria-disabled')).toBe('false');

  // Another member's charge reaches the page through the feed, after the snapshot: everything the
  // feed did so far is in, and no balances request was made for any of it.
  await clientFor(org, org.members[1]).deduct('quest_generation');
  await waitFor(() => expect(container.textContent).toContain('57 quest tokens left'));
  expect(count('events')).toBeGreaterThanOrEqual(1);
  expect(count('balances')).toBe(0);
  expect(recoverable).toEqual([]);
  expect(errors).not.toHaveBeenCalled();
  expect(warnings).not.toHaveBeenCalled();
});

it('control: a page whose server HTML does not match is reported by hydration (the check above can fail)', async () => {
  const org = await createOrg(db, { plan: 'pro' });
  const client = clientFor(org);
  // Server-rendered without the prefetched balances, hydrated with them: the text differs.
  const html = renderToString(<Page client={client} state={{ queries: [], mutations: [] }} queryClient={appQueryClient()} />);
  expect(html).toContain('Loading balance…');
  const { recoverable } = await hydrate(html, <Page client={client} state={await serverState(org)} queryClient={appQueryClient()} />);
  await waitFor(() => expect(recoverable.length).toBeGreaterThan(0));
  expect(String(recoverable[0])).toMatch(/hydrat/i);
});

it("control: with the kit's own QueryClient (staleTime 0) hydration refetches the balances — the pattern's staleTime is what prevents it", async () => {
  const org = await createOrg(db, { plan: 'pro' });
  const state = await serverState(org);
  const client = clientFor(org);
  const html = renderToString(<Page client={client} state={state} queryClient={null} />);
  expect(html).toContain('60 quest tokens left');
  const { recoverable } = await hydrate(html, <Page client={client} state={state} queryClient={null} />);
  await waitFor(() => expect(count('balances')).toBe(1));
  expect(recoverable).toEqual([]);
});

it('a refused server read puts nothing in the page: the browser asks for the balances itself and shows the refusal', async () => {
  const org = await createOrg(db, { plan: 'pro' });
  const stranger = crypto.randomUUID();
  const state = await serverState(org, stranger);
  expect(state.queries).toEqual([]);
  const client = clientFor(org, stranger);
  const html = renderToString(<Page client={client} state={state} queryClient={appQueryClient()} />);
  expect(html).toContain('Loading balance…');
  expect(html).toContain('Loading plan…');
  expect(html).not.toContain(org.orgId);
  // React reports the error its boundary caught with console.error.
  vi.spyOn(console, 'error').mockImplementation(() => {});
  const { container } = await hydrate(html, <Page client={client} state={state} queryClient={appQueryClient()} />);
  await waitFor(() => expect(container.textContent).toContain('Plan unavailable: not_a_member'));
  expect(container.querySelector('button')!.getAttribute('aria-disabled')).toBe('true');
  expect(count('balances')).toBeGreaterThan(0);
});
