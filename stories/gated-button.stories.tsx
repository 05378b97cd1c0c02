import type { Meta, StoryObj } from '@storybook/react-vite';
import { QueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { expect, fn, userEvent, waitFor, within } from 'storybook/test';
import { enterpriseBalances, exhaustedBalances, proBalances, starterBalances } from '../src/components/fixtures.ts';
import type { Balances } from '../src/core/types.ts';
import { TokenGateProvider } from '../src/react/index.ts';
import { fixtureClient, type BalancesMode, type RouteMode } from './support/fixture-client.ts';
import { QuestButton } from './support/quest-button.tsx';

interface GatedButtonArgs {
  /** The organization's balances the fake API answers. */
  balances: Balances;
  /** How the guarded "generate quest" route answers. */
  route: RouteMode;
  /** How the balances route answers: the data, never (loading), or 403 not_a_member. */
  balancesMode?: BalancesMode;
  onUpgrade: () => void;
  onTopUp: () => void;
}

/** One client and QueryClient per mounted story (no retries: failures show at once). */
function GatedButton({ balances, route, balancesMode = 'data', onUpgrade, onTopUp }: GatedButtonArgs) {
  const [client] = useState(() => fixtureClient(balances, route, balancesMode));
  const [queryClient] = useState(() => new QueryClient({ defaultOptions: { queries: { retry: false } } }));
  return (
    <TokenGateProvider client={client} queryClient={queryClient}>
      <QuestButton
        onUpgrade={onUpgrade}
        onTopUp={onTopUp}
        upgradeLabel={balances.plan.id === 'starter' ? 'Upgrade to Pro — $20/month' : 'Upgrade to Enterprise — $99/month'}
      />
    </TokenGateProvider>
  );
}

const meta = {
  title: 'Components/Gated button',
  component: GatedButton,
  args: { balances: proBalances, route: 'ok', onUpgrade: fn(), onTopUp: fn() },
  argTypes: {
    route: { control: 'inline-radio', options: ['ok', 'fail', 'bad-answer', 'hang'] satisfies RouteMode[] },
    balancesMode: { control: 'inline-radio', options: ['data', 'pending', 'not-a-member'] satisfies BalancesMode[] },
    balances: { control: false },
  },
  // Remount on an arg change (the client is created once per mount).
  render: (args) => (
    <GatedButton key={`${args.route}-${args.balancesMode}-${args.balances.plan.id}-${args.balances.tokenTypes[0]?.available}`} {...args} />
  ),
} satisfies Meta<typeof GatedButton>;
export default meta;
type Story = StoryObj<typeof meta>;

const button = (canvas: ReturnType<typeof within>) => canvas.findByRole('button', { name: /generate quest|generating/i });
const status = (el: HTMLElement) => el.querySelector('[data-slot="quest-status"]');
/** The gated button is never `disabled` (it would drop a keyboard user's focus): it is aria-disabled. */
const expectUnavailable = async (el: HTMLElement) => {
  await expect(el).toBeEnabled();
  await expect(el).toHaveAttribute('aria-disabled', 'true');
};

export const Idle: Story = {
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByText('380 tokens left')).toBeInTheDocument();
    await expect(await canvas.findByRole('button', { name: 'Generate quest (5 tokens)' })).not.toHaveAttribute('aria-disabled');
  },
};

/** While the balances load, the cost is a placeholder, never "( tokens)". */
export const Loading: Story = {
  args: { balancesMode: 'pending' },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    const generate = await canvas.findByRole('button', { name: 'Generate quest (… tokens)' });
    await expectUnavailable(generate);
    await expect(generate).toHaveAttribute('data-state', 'loading');
  },
};

/** The caller is not a member of the organization: the gate says why (reason not_a_member), at once. */
export const NotAMember: Story = {
  args: { balancesMode: 'not-a-member' },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByRole('region', { name: 'You’re not a member of this organization' })).toBeInTheDocument();
    const generate = await canvas.findByRole('button', { name: 'Generate quest (— tokens)' });
    await expectUnavailable(generate);
    await expect(generate).toHaveAttribute('data-state', 'blocked');
  },
};

/** A press charges: the balance falls by the cost, and focus stays on the button after the run. */
export const Success: Story = {
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await canvas.findByText(/380 tokens left/);
    const pressed = await button(canvas);
    pressed.focus();
    await userEvent.keyboard('{Enter}');
    await expect(await canvas.findByText(/375 tokens left/)).toBeInTheDocument();
    await expect(await canvas.findByText(/^Quest:/)).toBeInTheDocument();
    await waitFor(() => expect(pressed).toHaveAttribute('data-state', 'ready'));
    await expect(pressed).toHaveFocus();
  },
};

/** While running the button is busy and aria-disabled, and keeps the focus of whoever pressed it. */
export const Running: Story = {
  args: { route: 'hang' },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await canvas.findByText(/380 tokens left/);
    const pressed = await button(canvas);
    pressed.focus();
    await userEvent.keyboard('{Enter}');
    const busy = await canvas.findByRole('button', { name: 'Generating…' });
    await expect(busy).toBe(pressed);
    await expect(busy).toHaveAttribute('aria-busy', 'true');
    await expectUnavailable(busy);
    await expect(busy).toHaveFocus();
    await expect(status(canvasElement)).toHaveAttribute('data-status', 'running');
  },
};

export const BlockedByPlan: Story = {
  args: { balances: starterBalances },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByRole('region', { name: /not in your plan|not included|plan/i })).toBeInTheDocument();
    await expectUnavailable(await button(canvas));
  },
};

export const BlockedExhausted: Story = {
  args: { balances: exhaustedBalances },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await canvas.findByText(/0 tokens left/);
    await expectUnavailable(await button(canvas));
    await expect(canvasElement.querySelector('[data-slot="upgrade-prompt"]')).toHaveAttribute('data-reason', 'insufficient_tokens');
  },
};

/** The route fails: the guard refunds, and the balance shown goes back to what it was. */
export const Refunded: Story = {
  args: { route: 'fail' },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await canvas.findByText(/380 tokens left/);
    await userEvent.click(await button(canvas));
    await expect(await canvas.findByText(/refunded/)).toBeInTheDocument();
    await expect(status(canvasElement)).toHaveAttribute('data-status', 'refunded');
    await expect(await canvas.findByText(/380 tokens left/)).toBeInTheDocument();
  },
};

/** The route charged, then the app could not use the answer. */
export const ErrorState: Story = {
  name: 'Error',
  args: { route: 'bad-answer' },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await canvas.findByText(/380 tokens left/);
    await userEvent.click(await button(canvas));
    await expect(await canvas.findByText(/went wrong/)).toBeInTheDocument();
    await expect(status(canvasElement)).toHaveAttribute('data-status', 'error');
  },
};

export const Unlimited: Story = { args: { balances: enterpriseBalances } };

/** Every state side by side (each its own fake backend), for visual review. */
export const AllStates: Story = {
  render: (args) => {
    const states: [string, Partial<GatedButtonArgs>][] = [
      ['Idle', {}],
      ['Loading', { balancesMode: 'pending' }],
      ['Not a member', { balancesMode: 'not-a-member' }],
      ['Blocked (Starter)', { balances: starterBalances }],
      ['Blocked (exhausted)', { balances: exhaustedBalances }],
      ['Unlimited', { balances: enterpriseBalances }],
      ['Running (click it)', { route: 'hang' }],
      ['Refunded (click it)', { route: 'fail' }],
      ['Error (click it)', { route: 'bad-answer' }],
    ];
    return (
      <div className="grid gap-6 md:grid-cols-2">
        {states.map(([label, overrides]) => (
          <section key={label} aria-label={label} className="rounded-tg border border-tg-border p-4">
            <h2 className="mb-2 text-xs font-medium uppercase tracking-wide text-tg-muted-foreground">{label}</h2>
            <GatedButton {...args} {...overrides} />
          </section>
        ))}
      </div>
    );
  },
};
