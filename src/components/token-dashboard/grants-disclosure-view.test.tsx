import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Grant } from '../../core/types.ts';
import { createFormatter } from '../../i18n/create-formatter.ts';
import { defaultMessages } from '../../i18n/messages.ts';
import { expectNoAxeViolations } from '../expect-no-axe-violations.ts';
import { FIXTURE_NOW, purchasedHeldBalances, purchasedGrants, purchasedStats } from '../fixtures.ts';
import { GrantsDisclosureView, type GrantsDisclosureViewProps } from './grants-disclosure-view.tsx';
import { TokenDashboardView } from './token-dashboard-view.tsx';

afterEach(cleanup);

function Harness(props: Partial<GrantsDisclosureViewProps> & { initiallyOpen?: boolean }) {
  const [open, setOpen] = useState(props.initiallyOpen ?? false);
  return (
    <GrantsDisclosureView
      name="Quest generation"
      open={open}
      onOpenChange={setOpen}
      status="success"
      grants={purchasedGrants}
      messages={defaultMessages}
      format={createFormatter('en-US', 'UTC')}
      now={FIXTURE_NOW}
      {...props}
    />
  );
}
const toggle = () => screen.getByRole('button', { name: 'Grants of Quest generation' });
const rows = (table: HTMLElement) => within(table).getAllByRole('row').slice(1);

describe('GrantsDisclosureView', () => {
  it('marks a grant for every token type (the shared pool) "any type", and only that one', () => {
    const shared: Grant = { ...purchasedGrants[0]!, grantId: 'any-1', tokenType: '*', anyType: true };
    render(<Harness initiallyOpen grants={[shared, ...purchasedGrants.slice(1)]} />);
    const marked = rows(screen.getByRole('table')).filter((r) => r.textContent!.includes('any type'));
    expect(marked).toHaveLength(1);
    expect(within(marked[0]!).getByRole('rowheader').textContent).toMatch(/ · any type$/);
  });

  it('a closed disclosure: a button with aria-expanded=false controlling a hidden panel', async () => {
    const { container } = render(<Harness />);
    expect(toggle().getAttribute('aria-expanded')).toBe('false');
    const panel = document.getElementById(toggle().getAttribute('aria-controls')!)!;
    expect(panel.hidden).toBe(true);
    expect(screen.queryByRole('table')).toBeNull();
    await expectNoAxeViolations(container);
  });

  it('open: source, what is left and expiry (relative and absolute) of each grant, in burn order', async () => {
    const { container } = render(<Harness />);
    await userEvent.click(toggle());
    expect(toggle().getAttribute('aria-expanded')).toBe('true');
    const table = screen.getByRole('table', { name: 'Quest generation grants, in the order they are spent' });
    expect(rows(table).map((r) => [...r.children].map((c) => c.textContent))).toEqual([
      ['Promotion', '50 of 100', 'in 2 days (November 28, 2026)'],
      ['Purchase', '150 of 200', 'in 365 days (November 26, 2027)'],
      ['Adjustment', '50 of 50', 'Never'],
      // Not spendable yet: after the active grants, though it expires before two of them.
      ['Plan · starts December 8, 2026', '500 of 500', 'in 43 days (January 8, 2027)'],
    ]);
    const time = within(rows(table)[0]!).getByText(/in 2 days/);
    expect(time.tagName).toBe('TIME');
    expect(time.getAttribute('dateTime')).toBe('2026-11-28T12:00:00Z');
    expect(rows(table)[3]!.getAttribute('data-state')).toBe('scheduled');
    await expectNoAxeViolations(container);
    await userEvent.click(toggle());
    expect(toggle().getAttribute('aria-expanded')).toBe('false');
    expect(screen.queryByRole('table')).toBeNull();
  });

  it('loading, empty and error (with Retry) states', async () => {
    const onRetry = vi.fn();
    const { rerender, container } = render(<Harness initiallyOpen status="loading" grants={undefined} />);
    expect(screen.getByText('Loading grants…')).toBeTruthy();
    rerender(<Harness initiallyOpen status="success" grants={[]} />);
    expect(screen.getByText('No grants: only your plan’s allowance.')).toBeTruthy();
    rerender(<Harness initiallyOpen status="error" grants={undefined} onRetry={onRetry} />);
    expect(screen.getByRole('alert').textContent).toContain('Couldn’t load the grants.');
    await userEvent.click(within(screen.getByRole('alert')).getByRole('button', { name: 'Retry' }));
    expect(onRetry).toHaveBeenCalledOnce();
    await expectNoAxeViolations(container);
  });

  it('numbers and dates in the locale, strings overridable', async () => {
    const big: Grant[] = [{ ...purchasedGrants[1]!, amount: 20_000, remaining: 12_345 }];
    render(
      <Harness
        initiallyOpen
        grants={big}
        format={createFormatter('de-DE', 'UTC', 'de')}
        messages={{ ...defaultMessages, grantSource: ({ source }) => (source === 'purchase' ? 'Kauf' : source), grantLeft: ({ remaining, amount }) => `${remaining} von ${amount}` }}
      />,
    );
    const row = rows(screen.getByRole('table'))[0]!;
    expect([...row.children].map((c) => c.textContent)).toEqual(['Kauf', '12.345 von 20.000', 'in 365 Tagen (26. November 2027)']);
  });
});

describe('TokenDashboardView with grants', () => {
  it('renders renderGrants in the full variant of metered rows only', () => {
    const renderGrants = vi.fn(() => <p>grants here</p>);
    render(<TokenDashboardView balances={purchasedHeldBalances} status="success" now={FIXTURE_NOW} locale="en-US" renderGrants={renderGrants} />);
    expect(screen.getByText('grants here').closest('[data-slot=token-balance]')!.getAttribute('data-token-type')).toBe('quest_generation');
    cleanup();
    render(<TokenDashboardView balances={purchasedHeldBalances} status="success" now={FIXTURE_NOW} locale="en-US" variant="compact" renderGrants={renderGrants} />);
    expect(screen.queryByText('grants here')).toBeNull();
  });

  it('the forecast leaves out grants that expire unused, and says how many', async () => {
    const { container, rerender } = render(
      <TokenDashboardView balances={purchasedHeldBalances} stats={purchasedStats} status="success" now={FIXTURE_NOW} locale="en-US" />,
    );
    const item = () => container.querySelector('[data-slot=token-dashboard-forecast-item]')!;
    // Without grants: the server's forecast (all 350 tokens at 40 a day). The forecast loads on demand.
    await screen.findByText(/^At this pace you run out of Quest generation/);
    expect(item().textContent).toBe('At this pace you run out of Quest generation on Dec 5, before your allowance refreshes.');
    rerender(<TokenDashboardView balances={purchasedHeldBalances} stats={purchasedStats} grants={purchasedGrants} status="success" now={FIXTURE_NOW} locale="en-US" />);
    // The allowance (100) lasts 2.5 days; the promotion's 50 expire after 2: 300 usable tokens, 7.5 days.
    expect(item().textContent).toBe(
      'At this pace you run out of Quest generation on Dec 4, before your allowance refreshes. 50 Quest generation tokens expire before you would use them at this pace.',
    );
    await expectNoAxeViolations(container);
  });
});
