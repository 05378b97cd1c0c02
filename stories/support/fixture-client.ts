/**
 * A Tokengate client whose `fetch` answers the kit's API from fixtures, in the story: no backend.
 * The guarded route answers as the real guard would (charge headers on success, a refunded
 * non-2xx on failure).
 */
import { createTokenClient, type TokenClient } from '../../src/core/create-token-client.ts';
import type { Balances } from '../../src/core/types.ts';
import { GENERATE_URL } from './quest-button.tsx';

/** How the fake guarded route answers: charge and answer, fail (refunded), answer nonsense after the charge, or never. */
export type RouteMode = 'ok' | 'fail' | 'bad-answer' | 'hang';

/** How the fake balances route answers instead of the data: never (loading), or 403 not_a_member. */
export type BalancesMode = 'data' | 'pending' | 'not-a-member';

/** A client answering `balances` from `data` (or per `balancesMode`) and the guarded route per `mode`. */
export function fixtureClient(data: Balances, mode: RouteMode = 'ok', balancesMode: BalancesMode = 'data'): TokenClient {
  let current = structuredClone(data);
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const path = url.split('?')[0]!;
    if (path.endsWith('/balances') && balancesMode === 'pending') return new Promise<Response>(() => {});
    if (path.endsWith('/balances') && balancesMode === 'not-a-member') {
      const problem = { type: 'https://tokengate.dev/errors/not_a_member', title: 'not a member', status: 403, code: 'not_a_member' };
      return Response.json(problem, { status: 403, headers: { 'content-type': 'application/problem+json' } });
    }
    if (path.endsWith('/balances')) return Response.json(current);
    if (path === GENERATE_URL) {
      if (mode === 'hang') return new Promise<Response>(() => {});
      if (mode === 'fail') return Response.json({ error: 'model failed' }, { status: 500 });
      const type = current.tokenTypes.find((t) => t.tokenType === 'quest_generation');
      let available = 'unlimited';
      if (type && !type.unlimited) {
        type.allowanceRemaining -= type.cost;
        type.used += type.cost;
        type.available = type.allowanceRemaining + type.purchased;
        available = String(type.available);
      }
      current = { ...current };
      const headers = { 'x-tokengate-charged': String(type?.cost ?? 0), 'x-tokengate-available': available };
      if (mode === 'bad-answer') return Response.json({}, { headers });
      const { goal } = JSON.parse(String(init.body)) as { goal: string };
      return Response.json({ quest: `${goal}: put 20 € aside this week` }, { headers });
    }
    return Response.json({ type: 'about:blank', title: 'Not found', status: 404 }, { status: 404 });
  };
  return createTokenClient({ baseUrl: '/api/tokengate', fetch, getAccessToken: () => 'story-token', orgId: data.orgId });
}
