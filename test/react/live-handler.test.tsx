/**
 * The kit's live feed end to end in-process: the provider's default transport against the REAL
 * handler's `GET /orgs/:orgId/events`, gate, change hub and ledger on PGlite (with its `listen`),
 * real JWTs. A charge made through another client shows in `useTokenBalances` with no refetch of
 * the balances; charges made while the page was hidden are caught up on resume (Last-Event-ID);
 * a member of another organization sees none of it. (Over a loopback port against a server that
 * only speaks the contract: live.test.tsx.)
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { supabaseAuth } from '../../server/auth.ts';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import { createHandler } from '../../server/http/handler.ts';
import { pgliteStore, type PgliteLike } from '../../server/stores/pglite-store.ts';
import { createTokenClient, type TokenClient } from '../../src/core/create-token-client.ts';
import { TokenGateProvider } from '../../src/react/token-gate-provider.tsx';
import { useLiveStatus } from '../../src/react/use-live-status.ts';
import { useTokenBalance } from '../../src/react/use-token-balance.ts';
import { useGrants } from '../../src/react/use-grants.ts';
import { useTokenGate } from '../../src/react/use-token-gate.ts';
import { freshPglite, type TestDb } from '../db.ts';
import { createTestIssuer, type TestIssuer } from '../jwt.ts';
import { call, createOrg, type SeededOrg } from '../ledger.ts';

const BASE = 'http://localhost/api/tokengate';

let db: TestDb;
let gate: TokenGate;
let issuer: TestIssuer;
let handler: (request: Request) => Promise<Response>;
/** The same, limited to one stream per member, asking to come back after 1 s. */
let limited: (request: Request) => Promise<Response>;
/** Requests the kit's clients made, by route (`balances`, `events`, …). */
const requests: string[] = [];
let visibility: DocumentVisibilityState = 'visible';

beforeAll(async () => {
  db = await freshPglite();
  const pglite: PgliteLike = {
    query: async <T,>(sql: string, params?: unknown[]) => ({ rows: (await db.query(sql, params)) as T[] }),
    listen: (channel, callback) => db.listen(channel, callback),
  };
  gate = createTokenGate({ store: pgliteStore(pglite) });
  issuer = await createTestIssuer();
  handler = createHandler({ gate, authenticate: supabaseAuth(issuer.authOptions), events: { heartbeatMs: 1_000 } });
  limited = createHandler({ gate, authenticate: supabaseAuth(issuer.authOptions), events: { maxPerUser: 1, retryAfterSeconds: 1 } });
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
});
afterEach(() => {
  cleanup();
  requests.length = 0;
  setVisibility('visible');
});
afterAll(async () => {
  await db.close();
});

function setVisibility(next: DocumentVisibilityState) {
  visibility = next;
  document.dispatchEvent(new Event('visibilitychange'));
}

/** A client of the in-process handler acting as `user` in `org` (the signal stays with the client, as in fixture.tsx). */
function clientFor(org: SeededOrg, user = org.members[0]!, via = () => handler): TokenClient {
  return createTokenClient({
    baseUrl: BASE,
    getAccessToken: async () => (await issuer.bearer(user)).slice('Bearer '.length),
    orgId: org.orgId,
    fetch: async (input, init) => {
      requests.push(new URL(input).pathname.split('/').pop()!);
      const { signal: _signal, ...rest } = init;
      return via()(new Request(input, rest));
    },
  });
}

function render(client: TokenClient, withGrants = false) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={queryClient}>
      <TokenGateProvider client={client}>{children}</TokenGateProvider>
    </QueryClientProvider>
  );
  return renderHook(
    () => ({
      quests: useTokenBalance('quest_generation'),
      status: useLiveStatus(),
      gate: useTokenGate('quest_generation'),
      grants: useGrants('quest_generation', { enabled: withGrants }),
    }),
    { wrapper },
  );
}

const count = (route: string) => requests.filter((r) => r === route).length;

it("shows another client's charges without refetching, and catches up on resume after the page was hidden", async () => {
  const org = await createOrg(db, { plan: 'pro', members: 2 });
  const page = render(clientFor(org));
  await waitFor(() => expect(page.result.current.status).toBe('live'));
  await waitFor(() => expect(page.result.current.quests.data?.available).toBe(60));
  const other = clientFor(org, org.members[1]);

  await other.deduct('quest_generation');
  await waitFor(() => expect(page.result.current.quests.data).toMatchObject({ available: 57, used: 3 }));
  await other.deduct('quest_generation', { units: 2 });
  await waitFor(() => expect(page.result.current.quests.data).toMatchObject({ available: 51, used: 9 }));
  expect(count('balances')).toBe(1);

  // Hidden: the stream closes. Charges meanwhile are replayed on resume (Last-Event-ID).
  act(() => setVisibility('hidden'));
  expect(page.result.current.status).toBe('paused');
  await other.deduct('quest_generation');
  await other.deduct('quest_generation');
  act(() => setVisibility('visible'));
  await waitFor(() => expect(page.result.current.quests.data).toMatchObject({ available: 45, used: 15 }));
  expect(page.result.current.status).toBe('live');
  expect(count('events')).toBe(2);
  expect(count('balances')).toBe(1);
});

it("never shows another organization's changes", async () => {
  const mine = await createOrg(db, { plan: 'pro' });
  const theirs = await createOrg(db, { plan: 'pro' });
  const page = render(clientFor(mine));
  await waitFor(() => expect(page.result.current.status).toBe('live'));
  await waitFor(() => expect(page.result.current.quests.data?.available).toBe(60));
  await clientFor(theirs).deduct('quest_generation', { units: 3 });
  // A charge of my organization after theirs: once it shows, theirs would have shown too.
  await clientFor(mine).deduct('quest_generation');
  await waitFor(() => expect(page.result.current.quests.data?.available).toBe(57));
  expect(count('balances')).toBe(1);
});

it('a tab over the per-member connection limit (429) polls, and goes live once a slot frees up', async () => {
  const org = await createOrg(db, { plan: 'pro' });
  const first = render(clientFor(org, org.members[0], () => limited));
  await waitFor(() => expect(first.result.current.status).toBe('live'));
  const second = render(clientFor(org, org.members[0], () => limited));
  await waitFor(() => expect(second.result.current.status).toBe('polling'));
  first.unmount();
  // It tries again after the server's Retry-After (1 s), and then holds the freed slot.
  await waitFor(() => expect(second.result.current.status).toBe('live'));
  await clientFor(org, org.members[0]).deduct('quest_generation');
  await waitFor(() => expect(second.result.current.quests.data?.available).toBe(57));
});

it("the page's own optimistic runs and changes from elsewhere end on the server's figures", async () => {
  const org = await createOrg(db, { plan: 'pro', members: 2 });
  const page = render(clientFor(org));
  await waitFor(() => expect(page.result.current.status).toBe('live'));
  await waitFor(() => expect(page.result.current.quests.data?.available).toBe(60));
  const other = clientFor(org, org.members[1]);
  // Two runs of this page (optimistic, then settled by a refetch) interleaved with two charges
  // from another member, which arrive as changes while the runs are in flight.
  await act(async () => {
    await Promise.all([
      page.result.current.gate.run(),
      other.deduct('quest_generation'),
      other.deduct('quest_generation'),
    ]);
    await page.result.current.gate.run();
  });
  const stored = (await db.query<{ left: number; used: number; held: number }>(
    `select allowance_remaining + purchased_remaining as left, used, held from tokengate.buckets where org_id = $1 and token_type_id = 'quest_generation'`,
    [org.orgId],
  ))[0]!;
  expect(stored).toEqual({ left: 48, used: 12, held: 0 });
  await waitFor(() => expect(page.result.current.quests.data).toMatchObject({ available: 48, used: 12, held: 0 }));
});

it("a grants list on screen follows another member's charges and new grants (one refetch per burst)", async () => {
  const org = await createOrg(db, { plan: 'pro', members: 2 });
  // The allowance is spent: the next charges come from the grant.
  await call(db, 'deduct', { p_org_id: org.orgId, p_user_id: org.members[1], p_token_type: 'quest_generation', p_idempotency_key: crypto.randomUUID(), p_metadata: {}, p_units: 20 });
  const first = await call<{ grantId: string }>(db, 'grant_tokens', {
    p_org_id: org.orgId, p_actor_id: null, p_token_type: 'quest_generation', p_amount: 30, p_idempotency_key: crypto.randomUUID(), p_metadata: {},
  });
  const page = render(clientFor(org), true);
  await waitFor(() => expect(page.result.current.status).toBe('live'));
  await waitFor(() => expect(page.result.current.grants.data?.map((g) => g.remaining)).toEqual([30]));
  await clientFor(org, org.members[1]).deduct('quest_generation', { units: 2 });
  await waitFor(() => expect(page.result.current.grants.data?.find((g) => g.grantId === first.grantId)?.remaining).toBe(24));
  const second = await call<{ grantId: string }>(db, 'grant_tokens', {
    p_org_id: org.orgId, p_actor_id: null, p_token_type: 'quest_generation', p_amount: 5, p_idempotency_key: crypto.randomUUID(), p_metadata: {},
    p_source: 'promo', p_expires_at: new Date(Date.now() + 86_400_000).toISOString(),
  });
  // The new grant expires first: it leads the list.
  await waitFor(() => expect(page.result.current.grants.data?.map((g) => g.grantId)).toEqual([second.grantId, first.grantId]));
  expect(count('grants')).toBeLessThanOrEqual(3);
});
