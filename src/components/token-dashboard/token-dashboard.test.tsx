/**
 * The connected dashboard against the real handler and ledger on PGlite (test/react/fixture.tsx):
 * no HTTP mocks — the client's fetch calls the handler in-process.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { call } from '../../../test/ledger.ts';
import { GENERATE_URL, createReactEnv, wrapperFor, type ReactEnv } from '../../../test/react/fixture.tsx';
import { TokenGateProvider } from '../../react/token-gate-provider.tsx';
import { expectNoAxeViolations } from '../expect-no-axe-violations.ts';
import { TokenDashboard, last30Days, type TokenDashboardProps } from './token-dashboard.tsx';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

function renderDashboard(client: ReturnType<ReactEnv['clientFor']>, props: TokenDashboardProps = {}) {
  const { wrapper: Wrapper, queryClient } = wrapperFor(client);
  const view = render(
    <Wrapper>
      <TokenDashboard locale="en-US" {...props} />
    </Wrapper>,
  );
  return { ...view, queryClient };
}
const dashboard = () => screen.getByRole('region', { name: 'AI token balance' });

describe('TokenDashboard (connected)', () => {
  it('loads balances and stats from the server, then shows a charge and announces it', async () => {
    const org = await env.org('pro');
    const client = env.clientFor(org);
    const { container, queryClient } = renderDashboard(client);
    expect(dashboard().getAttribute('aria-busy')).toBe('true');

    const bar = await screen.findByRole('progressbar', { name: 'Quest generation' });
    expect(bar.getAttribute('aria-valuenow')).toBe('0');
    expect(bar.getAttribute('aria-valuemax')).toBe('60');
    expect(screen.getByText('Pro plan')).toBeTruthy();
    await screen.findByText('No usage in this period yet.');
    await expectNoAxeViolations(container);

    await client.callGuarded(GENERATE_URL, { method: 'POST', body: JSON.stringify({ goal: 'launch' }) });
    await act(() => queryClient.invalidateQueries());
    await waitFor(() => expect(bar.getAttribute('aria-valuenow')).toBe('3'));
    expect(dashboard().querySelector('[aria-live="polite"]')!.textContent).toBe('Quest generation: 57 left');
    await screen.findByRole('img', { name: /^3 tokens used/ });
    expect(within(screen.getByRole('table', { name: 'Usage by member' })).getByRole('rowheader', { name: org.members[0] })).toBeTruthy();
  });

  it('tells a caller who is not a member so, and Retry loads once the caller is a member', async () => {
    const org = await env.org('pro');
    const stranger = crypto.randomUUID();
    const { container } = renderDashboard(env.clientFor(org, stranger));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('You’re not a member of this organization');
    expect(alert.textContent).not.toContain('Check your connection');
    await expectNoAxeViolations(container);

    await call(env.db, 'add_member', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: stranger, p_role: 'member' });
    await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByRole('progressbar', { name: 'Quest generation' })).toBeTruthy();
    await waitFor(() => expect(screen.queryByRole('alert')).toBeNull());
  });

  it("says 'not a member' at once under an app QueryClient with TanStack's default retry (no ~7 s of retries)", async () => {
    const org = await env.org('pro');
    const client = env.clientFor(org, crypto.randomUUID());
    const balances = vi.spyOn(client, 'balances');
    const started = Date.now();
    render(
      <QueryClientProvider client={new QueryClient()}>
        <TokenGateProvider client={client}>
          <TokenDashboard locale="en-US" variant="compact" />
        </TokenGateProvider>
      </QueryClientProvider>,
    );
    await screen.findByText('You’re not a member of this organization', undefined, { timeout: 2000 });
    expect(Date.now() - started).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 1200));
    expect(balances).toHaveBeenCalledOnce();
  });

  it('Export downloads the server export of the range', async () => {
    const org = await env.org('pro');
    const client = env.clientFor(org);
    await client.callGuarded(GENERATE_URL, { method: 'POST', body: JSON.stringify({ goal: 'export' }) });
    const blobs: Blob[] = [];
    // jsdom has no object URLs; capture the blob the dashboard hands to the download link.
    const original = { createObjectURL: URL.createObjectURL, revokeObjectURL: URL.revokeObjectURL };
    Object.assign(URL, { createObjectURL: (b: Blob) => (blobs.push(b), 'blob:x'), revokeObjectURL: () => {} });
    onTestFinished(() => void Object.assign(URL, original));
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    renderDashboard(client);
    await userEvent.click(await screen.findByRole('button', { name: 'Export CSV' }));
    await waitFor(() => expect(click).toHaveBeenCalledOnce());
    const range = last30Days(new Date());
    expect((click.mock.contexts[0] as HTMLAnchorElement).download).toBe(`tokengate-usage-${range.from}-${range.to}.csv`);
    const csv = await blobs[0]!.text();
    expect(csv.split('\n').length).toBeGreaterThan(1);
    expect(csv).toContain('quest_generation');
  });

  it('compact variant: plan and bars, and no statistics request', async () => {
    const org = await env.org('pro');
    const client = env.clientFor(org);
    const stats = vi.spyOn(client, 'stats');
    renderDashboard(client, { variant: 'compact' });
    expect(await screen.findByRole('progressbar', { name: 'Quest generation' })).toBeTruthy();
    expect(screen.queryByRole('img')).toBeNull();
    expect(stats).not.toHaveBeenCalled();
  });
});
