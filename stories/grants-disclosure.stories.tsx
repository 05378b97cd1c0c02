import type { Meta, StoryObj } from '@storybook/react-vite';
import { useState } from 'react';
import { expect, fn, userEvent, within } from 'storybook/test';
import { GrantsDisclosureView, TokenDashboardView, createFormatter, defaultMessages, type GrantsDisclosureViewProps } from '../src/components/index.ts';
import { FIXTURE_NOW, purchasedGrants, purchasedHeldBalances, purchasedStats } from '../src/components/fixtures.ts';

/** The view with its own open state, as `GrantsDisclosure` has (that one fetches with `useGrants`). */
function Disclosure(props: Omit<GrantsDisclosureViewProps, 'open' | 'onOpenChange'> & { initiallyOpen?: boolean }) {
  const [open, setOpen] = useState(props.initiallyOpen ?? false);
  return <GrantsDisclosureView {...props} open={open} onOpenChange={setOpen} />;
}

const meta = {
  title: 'Components/GrantsDisclosure',
  component: Disclosure,
  args: {
    name: 'Quest generation',
    status: 'success',
    grants: purchasedGrants,
    onRetry: fn(),
    messages: defaultMessages,
    format: createFormatter('en-US', 'UTC'),
    now: FIXTURE_NOW,
  },
} satisfies Meta<typeof Disclosure>;
export default meta;
type Story = StoryObj<typeof meta>;

/** Closed: only the button (the connected disclosure fetches nothing yet). */
export const Closed: Story = {};

/** Open: each grant's source, what is left and its expiry (relative and absolute), in burn order. */
export const Open: Story = {
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    const button = canvas.getByRole('button', { name: 'Grants of Quest generation' });
    await userEvent.click(button);
    await expect(button).toHaveAttribute('aria-expanded', 'true');
    const table = canvas.getByRole('table', { name: 'Quest generation grants, in the order they are spent' });
    await expect(within(table).getAllByRole('row')[1]).toHaveTextContent('Promotion');
  },
};

export const Loading: Story = { args: { initiallyOpen: true, status: 'loading', grants: undefined } };
export const Empty: Story = { args: { initiallyOpen: true, grants: [] } };
export const ErrorState: Story = {
  name: 'Error',
  args: { initiallyOpen: true, status: 'error', grants: undefined },
  play: async ({ canvasElement, args }) => {
    await userEvent.click(within(canvasElement).getByRole('button', { name: 'Retry' }));
    await expect(args.onRetry).toHaveBeenCalledOnce();
  },
};
export const German: Story = { args: { initiallyOpen: true, format: createFormatter('de-DE', 'UTC', 'en') } };

/**
 * In the dashboard: the row's disclosure, and a forecast that leaves out the promotion's 50 tokens
 * (they expire before the allowance is used up).
 */
export const InDashboard: Story = {
  render: (args) => (
    <TokenDashboardView
      balances={purchasedHeldBalances}
      stats={purchasedStats}
      grants={purchasedGrants}
      status="success"
      now={FIXTURE_NOW}
      renderGrants={(b, ctx) => <Disclosure {...args} {...ctx} name={b.name} grants={purchasedGrants.filter((g) => g.tokenType === b.tokenType)} />}
    />
  ),
  play: async ({ canvasElement }) => {
    // The forecast is one of the usage sections the dashboard loads on demand.
    await expect(await within(canvasElement).findByText(/50 Quest generation tokens expire/)).toBeInTheDocument();
  },
};
