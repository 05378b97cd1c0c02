import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expectNoAxeViolations } from '../expect-no-axe-violations.ts';
import {
  FIXTURE_NOW,
  emptyStats,
  enterpriseBalances,
  exhaustedBalances,
  lowBalances,
  noTokenTypesBalances,
  proBalances,
  proStats,
  purchasedHeldBalances,
  starterBalances,
  zeroAllowanceBalances,
} from '../fixtures.ts';
import { TokenDashboardView, type TokenDashboardViewProps } from './token-dashboard-view.tsx';

function renderView(props: Partial<TokenDashboardViewProps> = {}) {
  return render(
    <TokenDashboardView balances={proBalances} status="success" now={FIXTURE_NOW} locale="en-US" {...props} />,
  );
}
const dashboard = () => screen.getByRole('region', { name: 'AI token balance' });
const row = (name: string) => screen.getByText(name, { selector: '[data-slot=token-balance-name]' }).closest('li')!;

afterEach(cleanup);

describe('TokenDashboardView', () => {
  it('loading: a busy region with a skeleton and a text for screen readers', async () => {
    const { container } = renderView({ balances: undefined, status: 'loading' });
    expect(dashboard().getAttribute('aria-busy')).toBe('true');
    expect(dashboard().getAttribute('data-state')).toBe('loading');
    expect(screen.getByText('Loading token balances…')).toBeTruthy();
    expect(screen.queryByRole('progressbar')).toBeNull();
    await expectNoAxeViolations(container);
  });

  it('Pro, partly used: plan badge, one labelled progress bar per type, refresh, quota, chart, members, forecast', async () => {
    const { container } = renderView({ stats: proStats });
    expect(screen.getByText('Pro plan')).toBeTruthy();
    const quests = screen.getByRole('progressbar', { name: 'Quest generation' });
    expect(quests.getAttribute('aria-valuenow')).toBe('120');
    expect(quests.getAttribute('aria-valuemin')).toBe('0');
    expect(quests.getAttribute('aria-valuemax')).toBe('500');
    expect(quests.getAttribute('aria-valuetext')).toBe('120 of 500 used');
    expect(screen.getByRole('progressbar', { name: 'Image generation' }).getAttribute('aria-valuenow')).toBe('30');
    expect(row('Quest generation').getAttribute('data-state')).toBe('ok');
    expect(within(row('Quest generation')).getByText('380 left')).toBeTruthy();
    const refresh = within(row('Quest generation')).getByText('Refreshes in 12 days');
    expect(refresh.tagName).toBe('TIME');
    expect(refresh.getAttribute('dateTime')).toBe('2026-12-08T00:00:00Z');
    expect(refresh.getAttribute('title')).toMatch(/December 8, 2026|December 7, 2026/);
    expect(within(row('Quest generation')).getByText('Your personal limit: 60 of 200 used')).toBeTruthy();

    // The usage sections load on demand.
    const chart = await screen.findByRole('img', { name: /150 tokens used from Nov 20 to Nov 26, over 7 days/ });
    expect(chart.querySelectorAll('rect').length).toBe(proStats.byDay.length);
    const table = screen.getByRole('table', { name: /150 tokens used/ });
    const nov23 = within(table).getByRole('rowheader', { name: 'Nov 23' }).closest('tr')!;
    expect(within(nov23).getAllByRole('cell').map((c) => c.textContent)).toEqual(['30', '10', '40']);

    const members = screen.getByRole('table', { name: 'Usage by member' });
    expect(within(members).getByRole('rowheader', { name: 'user_grace' }).closest('tr')!.textContent).toContain('60');
    expect(screen.getByText('At this pace you run out of Quest generation on Dec 5, before your allowance refreshes.')).toBeTruthy();
    expect(screen.getByText('At this pace your Image generation tokens last until the refresh.')).toBeTruthy();
    await expectNoAxeViolations(container);
  });

  it('low: ≤ 20 % left marks the row and its bar "low"', async () => {
    const { container } = renderView({ balances: lowBalances });
    expect(row('Quest generation').getAttribute('data-state')).toBe('low');
    expect(within(row('Quest generation')).getByText('Running low')).toBeTruthy();
    expect(screen.getByRole('progressbar', { name: 'Quest generation' }).getAttribute('data-state')).toBe('low');
    await expectNoAxeViolations(container);
  });

  it('exhausted: a full bar, "Used up" and 0 left', async () => {
    const { container } = renderView({ balances: exhaustedBalances });
    expect(row('Quest generation').getAttribute('data-state')).toBe('exhausted');
    expect(within(row('Quest generation')).getByText('Used up')).toBeTruthy();
    expect(within(row('Quest generation')).getByText('0 left')).toBeTruthy();
    expect(screen.getByRole('progressbar', { name: 'Quest generation' }).getAttribute('aria-valuenow')).toBe('500');
    await expectNoAxeViolations(container);
  });

  it('purchased and held tokens are shown, and the bar counts held tokens as taken from the allowance', async () => {
    const { container } = renderView({ balances: purchasedHeldBalances });
    const r = within(row('Quest generation'));
    expect(r.getByText('250 purchased tokens')).toBeTruthy();
    expect(r.getByText('40 held by running actions')).toBeTruthy();
    expect(r.getByText('350 left')).toBeTruthy();
    expect(screen.getByRole('progressbar', { name: 'Quest generation' }).getAttribute('aria-valuenow')).toBe('400');
    await expectNoAxeViolations(container);
  });

  it('Enterprise: "Unlimited" and what was used, with no progress bar', async () => {
    const { container } = renderView({ balances: enterpriseBalances, onUpgrade: vi.fn(), onTopUp: vi.fn() });
    expect(screen.getByText('Enterprise plan')).toBeTruthy();
    expect(row('Quest generation').getAttribute('data-state')).toBe('unlimited');
    expect(within(row('Quest generation')).getByText('Unlimited')).toBeTruthy();
    expect(screen.getByText('1,834 used this period')).toBeTruthy();
    expect(screen.queryByRole('progressbar')).toBeNull();
    // Nothing to upgrade to or buy on an unlimited plan.
    expect(screen.queryByRole('button')).toBeNull();
    await expectNoAxeViolations(container);
  });

  it('Starter: "Not in your plan", no bar, and only the upgrade action', async () => {
    const onUpgrade = vi.fn();
    const { container } = renderView({ balances: starterBalances, onUpgrade, onTopUp: vi.fn(), upgradeLabel: 'Upgrade to Pro — $20/month' });
    expect(row('Quest generation').getAttribute('data-state')).toBe('blocked');
    expect(within(row('Quest generation')).getByText('Not in your plan')).toBeTruthy();
    expect(screen.queryByRole('progressbar')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Buy tokens' })).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Upgrade to Pro — $20/month' }));
    expect(onUpgrade).toHaveBeenCalledOnce();
    await expectNoAxeViolations(container);
  });

  it('a zero allowance renders no bar and never NaN or Infinity', async () => {
    const { container } = renderView({ balances: zeroAllowanceBalances, stats: emptyStats });
    expect(container.textContent).not.toMatch(/NaN|Infinity/);
    expect(container.innerHTML).not.toMatch(/NaN|Infinity/);
    expect(screen.queryByRole('progressbar')).toBeNull();
    expect(screen.getByText('No included allowance this period')).toBeTruthy();
    expect(row('Quest generation').getAttribute('data-state')).toBe('exhausted');
    await expectNoAxeViolations(container);
  });

  it('error: an alert with a Retry button that calls onRetry', async () => {
    const onRetry = vi.fn();
    const { container } = renderView({ balances: undefined, status: 'error', onRetry });
    expect(screen.getByRole('alert').textContent).toContain('Couldn’t load your token balance');
    await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(onRetry).toHaveBeenCalledOnce();
    await expectNoAxeViolations(container);
  });

  it('a failed refetch keeps the last balances and offers Retry', async () => {
    const { container } = renderView({ status: 'error', onRetry: vi.fn() });
    expect(screen.getByRole('alert')).toBeTruthy();
    expect(screen.getByRole('progressbar', { name: 'Quest generation' })).toBeTruthy();
    await expectNoAxeViolations(container);
  });

  it('empty: no usage in the range, and no token types at all', async () => {
    const { container, unmount } = renderView({ stats: emptyStats, onExport: vi.fn() });
    expect(await screen.findByText('No usage in this period yet.')).toBeTruthy();
    expect(screen.queryByRole('img')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Export CSV' })).toBeNull();
    await expectNoAxeViolations(container);
    unmount();
    renderView({ balances: noTokenTypesBalances });
    expect(screen.getByText('No AI features are set up for this organization yet.')).toBeTruthy();
  });

  it('export buttons call onExport with the format; top-up and upgrade call theirs', async () => {
    const onExport = vi.fn();
    const onTopUp = vi.fn();
    const onUpgrade = vi.fn();
    renderView({ stats: proStats, onExport, onTopUp, onUpgrade, topUpLabel: 'Buy 1,000 tokens — $10' });
    await userEvent.click(await screen.findByRole('button', { name: 'Export CSV' }));
    await userEvent.click(screen.getByRole('button', { name: 'Export JSON' }));
    expect(onExport.mock.calls).toEqual([['csv'], ['json']]);
    await userEvent.click(screen.getByRole('button', { name: 'Buy 1,000 tokens — $10' }));
    await userEvent.click(screen.getByRole('button', { name: 'Upgrade plan' }));
    expect(onTopUp).toHaveBeenCalledOnce();
    expect(onUpgrade).toHaveBeenCalledOnce();
  });

  it('compact: plan and bars only', async () => {
    const { container } = renderView({ variant: 'compact', stats: proStats, onExport: vi.fn() });
    expect(dashboard().getAttribute('data-variant')).toBe('compact');
    expect(screen.getByText('Pro plan')).toBeTruthy();
    expect(screen.getAllByRole('progressbar')).toHaveLength(2);
    expect(screen.queryByRole('img')).toBeNull();
    expect(screen.queryByText(/Refreshes/)).toBeNull();
    expect(screen.queryByRole('table')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Export CSV' })).toBeNull();
    await expectNoAxeViolations(container);
  });

  it('announces balance changes in a polite live region (not the first load)', async () => {
    const { rerender } = renderView();
    const live = dashboard().querySelector('[aria-live="polite"]')!;
    expect(live.textContent).toBe('');
    const spent = structuredClone(proBalances);
    spent.tokenTypes[0] = { ...spent.tokenTypes[0]!, allowanceRemaining: 375, available: 375, used: 125 };
    rerender(<TokenDashboardView balances={spent} status="success" now={FIXTURE_NOW} locale="en-US" />);
    expect(live.textContent).toBe('Quest generation: 375 left');
  });

  it('German locale: numbers, dates and relative time through Intl, strings overridable', async () => {
    const big = structuredClone(purchasedHeldBalances);
    big.tokenTypes[0] = { ...big.tokenTypes[0]!, allowance: 5000, allowanceRemaining: 1000, used: 3960, purchased: 2500, available: 3500 };
    renderView({
      balances: big,
      stats: proStats,
      locale: 'de-DE',
      messages: { language: 'de', refreshes: ({ relative }) => `Wird ${relative} aufgefüllt`, left: ({ available }) => `${available} übrig` },
    });
    expect(screen.getByRole('progressbar', { name: 'Quest generation' }).getAttribute('aria-valuetext')).toBe('4.000 of 5.000 used');
    expect(screen.getByText('3.500 übrig')).toBeTruthy();
    expect(screen.getByText('Wird in 12 Tagen aufgefüllt')).toBeTruthy();
    expect(await screen.findByText(/run out of Quest generation on 5\. Dez\./)).toBeTruthy();
  });

  it('shows no runway forecast for unlimited token types', async () => {
    const unlimitedForecast = enterpriseBalances.tokenTypes.map((b) => ({
      tokenType: b.tokenType, available: null, burnPerDay: 12, runsOutOn: null, refreshesOn: '2026-12-08', runsOutBeforeRefresh: false,
    }));
    renderView({ balances: enterpriseBalances, stats: { ...proStats, forecast: unlimitedForecast } });
    await screen.findByRole('img');
    expect(screen.queryByRole('heading', { name: 'Forecast' })).toBeNull();
    expect(screen.queryByText(/last until the refresh/)).toBeNull();
  });

  it('keeps a sentence in one language: English messages with a German locale say "in 12 days"', () => {
    renderView({ locale: 'de-DE' });
    expect(screen.getAllByText('Refreshes in 12 days').length).toBeGreaterThan(0);
  });

  it('merges className and exposes data-slot on its parts', () => {
    renderView({ className: 'my-dashboard', stats: proStats });
    expect(dashboard().classList.contains('my-dashboard')).toBe(true);
    expect(dashboard().getAttribute('data-slot')).toBe('token-dashboard');
    for (const slot of ['plan-badge', 'token-balance', 'progress', 'usage-chart', 'token-dashboard-forecast']) {
      expect(dashboard().querySelector(`[data-slot="${slot}"]`), slot).not.toBeNull();
    }
  });
});

describe('TokenDashboardView: what users see (issue 14)', () => {
  const withQuota = (spent: number, quota: number) => ({
    ...proBalances,
    member: { ...proBalances.member, quotas: [{ tokenType: 'quest_generation', quota, spent }] },
  });
  const quotaLine = () => row('Quest generation').querySelector('[data-slot=token-balance-quota]')!;

  it('a personal limit below what was spent reads as reached, never "24 of 9 used"', () => {
    const { rerender } = renderView({ balances: withQuota(24, 9) });
    expect(quotaLine().textContent).toBe('Personal limit reached: 24 used, limit 9');
    expect(quotaLine().getAttribute('data-state')).toBe('over');
    rerender(<TokenDashboardView balances={withQuota(9, 9)} status="success" now={FIXTURE_NOW} locale="en-US" />);
    expect(quotaLine().textContent).toBe('Personal limit reached: 9 of 9 used');
    expect(quotaLine().getAttribute('data-state')).toBe('reached');
    rerender(<TokenDashboardView balances={withQuota(5, 9)} status="success" now={FIXTURE_NOW} locale="en-US" />);
    expect(quotaLine().textContent).toBe('Your personal limit: 5 of 9 used');
    expect(quotaLine().getAttribute('data-state')).toBe('ok');
  });

  it('the reached wording is overridable and its numbers go through Intl', () => {
    renderView({
      balances: withQuota(2400, 900),
      locale: 'de-DE',
      messages: { memberQuotaReached: ({ spent, quota, over }) => `Limit erreicht: ${spent} von ${quota}${over ? '!' : ''}` },
    });
    expect(quotaLine().textContent).toBe('Limit erreicht: 2.400 von 900!');
  });

  it('several dashboards on one page have unique region names (axe landmark-unique), numbered by default', async () => {
    const { container } = render(
      <>
        <TokenDashboardView balances={proBalances} status="success" now={FIXTURE_NOW} locale="en-US" />
        <TokenDashboardView balances={lowBalances} status="success" now={FIXTURE_NOW} locale="en-US" variant="compact" />
        <TokenDashboardView balances={undefined} status="loading" now={FIXTURE_NOW} locale="en-US" />
      </>,
    );
    const names = screen.getAllByRole('region').filter((r) => r.getAttribute('data-slot') === 'token-dashboard');
    expect(names.map((r) => document.getElementById(r.getAttribute('aria-labelledby')!)!.textContent)).toEqual([
      'AI token balance',
      'AI token balance (2)',
      'AI token balance (3)',
    ]);
    // The number is for screen readers; the visible heading stays the title.
    expect(screen.getAllByText('(2)', { exact: false })[0]!.getAttribute('data-slot')).toBe('visually-hidden');
    await expectNoAxeViolations(container);
  });

  it('the name follows the context: a title, or an aria-label, and then no number', async () => {
    const { container } = render(
      <>
        <TokenDashboardView balances={proBalances} status="success" now={FIXTURE_NOW} locale="en-US" title="Globex Consulting — AI tokens" />
        <TokenDashboardView balances={lowBalances} status="success" now={FIXTURE_NOW} locale="en-US" title="Initech — AI tokens" />
        <TokenDashboardView balances={lowBalances} status="success" now={FIXTURE_NOW} locale="en-US" aria-label="Northwind tokens" />
      </>,
    );
    expect(screen.getByRole('region', { name: 'Globex Consulting — AI tokens' })).toBeTruthy();
    expect(screen.getByRole('heading', { level: 2, name: 'Initech — AI tokens' })).toBeTruthy();
    expect(screen.getByRole('region', { name: 'Northwind tokens' }).getAttribute('aria-labelledby')).toBeNull();
    await expectNoAxeViolations(container);
  });

  it('a refusal because the caller is not a member says so, not "check your connection"', async () => {
    const { container } = renderView({ balances: undefined, status: 'error', error: { code: 'not_a_member' }, onRetry: vi.fn() });
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('You’re not a member of this organization');
    expect(alert.textContent).toContain('Ask an owner or admin of the organization to invite you');
    expect(alert.textContent).not.toContain('connection');
    expect(alert.getAttribute('data-reason')).toBe('not_a_member');
    await expectNoAxeViolations(container);
  });
});
