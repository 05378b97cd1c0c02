// @vitest-environment node
/**
 * Server render without a DOM: the provider (creating its own QueryClient) and <TokenGate> render
 * with react-dom/server, fetch nothing, and show the loading state.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { renderToString } from 'react-dom/server';
import { expect, it } from 'vitest';
import { createTokenClient } from '../core/create-token-client.ts';
import { TokenGate } from './token-gate.tsx';
import { TokenGateProvider } from './token-gate-provider.tsx';
import { useTokenGate } from './use-token-gate.ts';

const calls: string[] = [];
const client = createTokenClient({
  baseUrl: 'http://localhost/api/tokengate',
  fetch: async (url) => {
    calls.push(url);
    throw new Error('no network on the server render');
  },
  getAccessToken: () => null,
  orgId: '00000000-0000-4000-8000-000000000001',
});

function Button() {
  const gate = useTokenGate('quest_generation', { action: async (_ctx, goal: string) => goal });
  return <button disabled={!gate.canRun}>Generate ({gate.cost ?? '…'})</button>;
}

it('renders the provider, <TokenGate> and useTokenGate on the server without window', () => {
  expect(typeof window).toBe('undefined');
  const html = renderToString(
    <TokenGateProvider client={client}>
      <TokenGate tokenType="quest_generation" loading={<p>Loading…</p>} fallback={<p>Upgrade</p>}>
        <p>Secret feature</p>
      </TokenGate>
      <Button />
    </TokenGateProvider>,
  );
  expect(html).toContain('Loading…');
  expect(html).not.toContain('Secret feature');
  expect(html).toContain('disabled');
  expect(calls).toEqual([]);
});

it("renders prefetched balances on the server inside the app's QueryClientProvider", () => {
  const queryClient = new QueryClient();
  queryClient.setQueryData(['tokengate', client.orgId(), 'balances'], {
    orgId: client.orgId(),
    plan: { id: 'starter', name: 'Starter', access: 'blocked' },
    periodAnchor: '2028-01-01T00:00:00Z',
    tokenTypes: [
      {
        tokenType: 'quest_generation', name: 'Quest generation', cost: 3, access: 'blocked', unlimited: false, blocked: true,
        allowance: 0, allowanceRemaining: 0, purchased: 0, held: 0, used: 0, available: 0,
        periodStart: '2028-01-01T00:00:00Z', refreshesAt: '2028-02-01T00:00:00Z',
      },
    ],
    member: { userId: '00000000-0000-4000-8000-000000000002', role: 'owner', quotas: [] },
  });
  const html = renderToString(
    <QueryClientProvider client={queryClient}>
      <TokenGateProvider client={client}>
        <TokenGate tokenType="quest_generation" fallback={({ reason }) => <p>Blocked: {reason}</p>}>
          <p>Secret feature</p>
        </TokenGate>
      </TokenGateProvider>
    </QueryClientProvider>,
  );
  expect(html).toContain('Blocked: <!-- -->plan_blocked');
  expect(calls).toEqual([]);
});
