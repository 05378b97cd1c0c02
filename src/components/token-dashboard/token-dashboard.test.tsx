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
const DAY = 86_400_000;

/** A grant from the server credential (actor null), as a payment webhook or the CLI makes it. */
function grantTokens(org: { orgId: string }, o: { amount: number; source?: string; expiresAt?: Date }) {
  return call(env.db, 'grant_tokens', {
    p_org_id: org.orgId,
    p_actor_id: null,
    p_token_type: 'quest_generation',
    p_amount: o.amount,
    p_idempotency_key: crypto.randomUUID(),
    p_metadata: {},
    p_source: o.source ?? 'purchase',
    p_expires_at: o.expiresAt?.toISOString() ?? null,
  });
}

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

  it('grants: fetched when the disclosure first opens, listed with source and expiry in burn order', async () => {
    const org = await env.org('pro');
    const soon = new Date(Date.now() + 5 * DAY + 3_600_000);
    await grantTokens(org, { amount: 100 });
    await grantTokens(org, { amount: 30, source: 'promo', expiresAt: soon });
    const client = env.clientFor(org);
    const grants = vi.spyOn(client, 'grants');
    const { container } = renderDashboard(client);
    await screen.findByText('No usage in this period yet.');
    await screen.findByText('130 purchased tokens');
    // Nothing is being spent: no forecast needs the grants, and the disclosure is closed.
    expect(grants).not.toHaveBeenCalled();
    const toggle = screen.getByRole('button', { name: 'Grants of Quest generation' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    await userEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const table = await screen.findByRole('table', { name: 'Quest generation grants, in the order they are spent' });
    const date = new Intl.DateTimeFormat('en-US', { month: 'long', day: 'numeric', year: 'numeric' }).format(soon);
    expect(within(table).getAllByRole('row').slice(1).map((r) => [...r.children].map((c) => c.textContent))).toEqual([
      ['Promotion', '30 of 30', `in 6 days (${date})`],
      ['Purchase', '100 of 100', 'Never'],
    ]);
    expect(grants).toHaveBeenCalledOnce();
    expect(grants.mock.calls[0]![0]).toMatchObject({ tokenType: 'quest_generation' });
    await expectNoAxeViolations(container);
  });

  it('grants: a failed load says so in the disclosure, and Retry loads them', async () => {
    const org = await env.org('pro');
    await grantTokens(org, { amount: 40 });
    const member = org.members[0]!;
    renderDashboard(env.clientFor(org));
    const toggle = await screen.findByRole('button', { name: 'Grants of Quest generation' });
    // Removed from the organization after the page loaded: the grants request is refused.
    await call(env.db, 'remove_member', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: member });
    await userEvent.click(toggle);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Couldn’t load the grants.');
    await call(env.db, 'add_member', { p_org_id: org.orgId, p_actor_id: org.owner, p_user_id: member, p_role: 'member' });
    await userEvent.click(within(alert).getByRole('button', { name: 'Retry' }));
    const table = await screen.findByRole('table', { name: /Quest generation grants/ });
    expect(within(table).getByText('40 of 40')).toBeTruthy();
  });

  it('forecast: tokens of a grant that expires before they would be spent do not extend the runway', async () => {
    const org = await env.org('pro');
    // Spend the whole allowance today (60 tokens: 60/7 a day over the last week), then hold 40 promotion
    // tokens that expire in 2 days and 30 that never do.
    await call(env.db, 'deduct', {
      p_org_id: org.orgId, p_user_id: org.members[0], p_token_type: 'quest_generation',
      p_idempotency_key: crypto.randomUUID(), p_metadata: {}, p_units: 20,
    });
    await grantTokens(org, { amount: 40, source: 'promo', expiresAt: new Date(Date.now() + 2 * DAY) });
    await grantTokens(org, { amount: 30 });
    const client = env.clientFor(org);
    const grants = vi.spyOn(client, 'grants');
    const { container } = renderDashboard(client);
    const item = () => container.querySelector('[data-slot=token-dashboard-forecast-item][data-state]')!;
    const day = (n: number) => new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' }).format(Date.now() + n * DAY);
    // At 8.57 a day: 17 of the promotion's 40 are spent before it expires (2 days), then 30 more (3.5 days).
    await waitFor(() => expect(item().textContent).toContain('23 Quest generation tokens expire before you would use them at this pace.'));
    expect(item().textContent).toContain(`run out of Quest generation on ${day(6)}`);
    // The server alone counted all 70 tokens: 9 days.
    const stats = await client.stats(last30Days(new Date()));
    expect(stats.forecast.find((f) => f.tokenType === 'quest_generation')!.runsOutOn).toBe(new Date(Date.now() + 9 * DAY).toISOString().slice(0, 10));
    // The forecast asked for every type's grants (no disclosure opened).
    expect(grants.mock.calls.every(([o]) => o?.tokenType === undefined)).toBe(true);
  });

  it('compact variant: plan and bars, and no statistics request', async () => {
    const org = await env.org('pro');
    const client = env.clientFor(org);
    const stats = vi.spyOn(client, 'stats');
    const grants = vi.spyOn(client, 'grants');
    renderDashboard(client, { variant: 'compact' });
    expect(await screen.findByRole('progressbar', { name: 'Quest generation' })).toBeTruthy();
    expect(screen.queryByRole('img')).toBeNull();
    expect(screen.queryByRole('button', { name: /^Grants of/ })).toBeNull();
    expect(stats).not.toHaveBeenCalled();
    expect(grants).not.toHaveBeenCalled();
  });
});
