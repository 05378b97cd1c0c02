import { TokenGateError } from '../src/core/token-gate-error.ts';
import type { Balances, Stats } from '../src/core/types.ts';
import type { GateContext, TokenGate } from './gate.ts';

/**
 * `tokenGateKeys.balances` / `.stats`, spelt out: importing the key factory into the server entry
 * makes the bundler split it into a chunk of its own, whose import costs the member-facing kit
 * bytes. A test keeps them equal to the kit's keys.
 */
const balancesKey = (orgId: string) => ['tokengate', orgId, 'balances'] as const;
const statsKey = (orgId: string, range: { from: string; to: string }) => ['tokengate', orgId, 'stats', { from: range.from, to: range.to }] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A verified member, checked when the query runs (so a missing session reaches the query's error
 * state, which `prefetchQuery` keeps out of the page, instead of crashing the render).
 */
function verified(member: GateContext): GateContext {
  if (typeof member?.userId !== 'string' || !UUID.test(member.userId)) {
    throw new TokenGateError('unauthorized', 'Server-rendered balances need the verified user of the request (a uuid).');
  }
  if (typeof member.orgId !== 'string' || !UUID.test(member.orgId)) {
    throw new TokenGateError('invalid_request', 'The organization id must be a uuid.');
  }
  return { userId: member.userId, orgId: member.orgId };
}

/**
 * Query options of an organization's balances read on the server by calling the gate directly (no
 * HTTP hop): the same key as the kit's `balancesQueryOptions(client)` and the same data as its
 * `GET /orgs/:orgId/balances`, so a Server Component can prefetch them, hand them to the browser
 * with TanStack Query's `dehydrate` + `HydrationBoundary`, and `useTokenBalances()`,
 * `useTokenGate()` and `TokenDashboard` render them in the first HTML.
 *
 * `member` must be the user your server verified for this request (its session cookie, never an id
 * sent by the browser): the balances carry that member's own quotas. A refusal (not a member, no
 * user) is the query's error: `prefetchQuery` keeps it out of the dehydrated state, and the browser
 * asks the API itself. Plain objects: `tokengate/server` needs no TanStack Query.
 *
 * @example
 * // app/billing/page.tsx (a Server Component); one QueryClient per request, never a shared one
 * const queryClient = new QueryClient();
 * await queryClient.prefetchQuery(balancesServerQueryOptions(gate, { userId: user.id, orgId }));
 * return <HydrationBoundary state={dehydrate(queryClient)}><Credits /></HydrationBoundary>;
 */
export function balancesServerQueryOptions(gate: Pick<TokenGate, 'balances'>, member: GateContext) {
  return {
    queryKey: balancesKey(member.orgId),
    queryFn: (): Promise<Balances> => gate.balances(verified(member)),
  };
}

/**
 * Query options of an organization's usage statistics for a range (UTC days, `YYYY-MM-DD`) read on
 * the server through the gate: the key of the kit's `statsQueryOptions(client, range)`, for
 * `useTokenStats(range)` and the dashboard's chart. `member` as in `balancesServerQueryOptions`.
 *
 * @example
 * await queryClient.prefetchQuery(statsServerQueryOptions(gate, { userId: user.id, orgId }, { from: '2028-01-01', to: '2028-01-31' }));
 */
export function statsServerQueryOptions(gate: Pick<TokenGate, 'stats'>, member: GateContext, range: { from: string; to: string }) {
  return {
    queryKey: statsKey(member.orgId, range),
    queryFn: (): Promise<Stats> => gate.stats(verified(member), { from: range.from, to: range.to }),
  };
}
