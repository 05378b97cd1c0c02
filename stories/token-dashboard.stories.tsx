import type { Meta, StoryObj } from '@storybook/react-vite';
import { expect, fn, userEvent, within } from 'storybook/test';
import { TokenDashboardView, type TokenDashboardViewProps } from '../src/components/index.ts';
import {
  balance,
  emptyStats,
  enterpriseBalances,
  exhaustedBalances,
  FIXTURE_NOW,
  lowBalances,
  noTokenTypesBalances,
  proBalances,
  proStats,
  purchasedHeldBalances,
  starterBalances,
  zeroAllowanceBalances,
} from '../src/components/fixtures.ts';
import type { Balances } from '../src/core/types.ts';

/** Pro with tokens held by two running generations (no top-up). */
const heldBalances: Balances = {
  ...proBalances,
  tokenTypes: [balance({ allowanceRemaining: 220, held: 45, used: 235 })],
};

/** Every token type of the catalog, in different states. */
const manyTypesBalances: Balances = {
  ...proBalances,
  tokenTypes: [
    balance({ tokenType: 'goal_generation', name: 'Goal generation', cost: 1, allowance: 20, allowanceRemaining: 17, used: 3 }),
    balance({ tokenType: 'quest_generation', name: 'Quest generation', cost: 3, allowance: 60, allowanceRemaining: 6, used: 54 }),
    balance({ tokenType: 'lead_generation', name: 'Lead generation', cost: 2, allowance: 100, allowanceRemaining: 0, used: 100 }),
    balance({ tokenType: 'revenue_forecast', name: 'Revenue forecast', cost: 5, allowance: 50, allowanceRemaining: 50, used: 0, purchased: 100 }),
    balance({ tokenType: 'strategy_analysis', name: 'Strategy analysis', cost: 10, allowance: 100, allowanceRemaining: 40, held: 20, used: 40 }),
    balance({ tokenType: 'image_generation', name: 'Image generation with a rather long feature name', cost: 10, allowance: 200, allowanceRemaining: 170, used: 30 }),
  ],
};

/** Numbers in the billions: labels and bars must not overflow. */
const hugeBalances: Balances = {
  ...proBalances,
  tokenTypes: [
    balance({ allowance: 2_000_000_000, allowanceRemaining: 1_234_567_890, used: 765_432_110, purchased: 987_654_321, held: 12_345_678 }),
  ],
};
const hugeStats = {
  ...proStats,
  totals: { tokens: 765_432_110, events: 98_765_432 },
  byType: [{ tokenType: 'quest_generation', tokens: 765_432_110, events: 98_765_432 }],
  byDay: proStats.byDay.filter((d) => d.tokenType === 'quest_generation').map((d) => ({ ...d, tokens: d.tokens * 5_000_000 })),
  byMember: [{ userId: 'user_ada', tokens: 765_432_110, events: 98_765_432 }],
  forecast: [{ ...proStats.forecast[0]!, available: 2_222_222_211, burnPerDay: 25_514_403.7 }],
};

const meta = {
  title: 'Components/TokenDashboard',
  component: TokenDashboardView,
  args: {
    balances: proBalances,
    stats: proStats,
    status: 'success',
    now: FIXTURE_NOW,
    onRetry: fn(),
    onExport: fn(),
    onUpgrade: fn(),
    onTopUp: fn(),
    upgradeLabel: 'Upgrade to Enterprise — $99/month',
    topUpLabel: 'Buy 1,000 tokens — $10',
    getMemberName: (id: string) => ({ user_ada: 'Ada Lovelace', user_grace: 'Grace Hopper' })[id] ?? id,
  },
} satisfies Meta<typeof TokenDashboardView>;
export default meta;
type Story = StoryObj<typeof meta>;

export const Loading: Story = { args: { balances: undefined, stats: undefined, status: 'loading' } };
export const ProPartlyUsed: Story = {};
export const Low: Story = { args: { balances: lowBalances, stats: undefined } };
export const Exhausted: Story = { args: { balances: exhaustedBalances, stats: undefined } };
export const PurchasedTokens: Story = { args: { balances: purchasedHeldBalances, stats: undefined } };
export const HeldByReservations: Story = { args: { balances: heldBalances, stats: undefined } };
export const EnterpriseUnlimited: Story = { args: { balances: enterpriseBalances, stats: undefined } };
export const StarterBlocked: Story = { args: { balances: starterBalances, stats: undefined } };
export const ZeroAllowance: Story = { args: { balances: zeroAllowanceBalances, stats: undefined } };
export const ManyTokenTypes: Story = { args: { balances: manyTypesBalances, stats: undefined } };
export const HugeNumbers: Story = { args: { balances: hugeBalances, stats: hugeStats } };
export const Compact: Story = { args: { variant: 'compact' } };
/** The dark theme (toolbar: Theme → Dark); the a11y check runs on it too (contrast). */
export const Dark: Story = {
  globals: { theme: 'dark' },
  play: async () => {
    await expect(document.documentElement).toHaveClass('dark');
  },
};
export const ExhaustedDark: Story = { args: { balances: exhaustedBalances, stats: undefined }, globals: { theme: 'dark' } };

/** Numbers and dates follow the locale (toolbar: Locale). */
export const HugeNumbersGerman: Story = {
  args: { balances: hugeBalances, stats: undefined },
  globals: { locale: 'de' },
  play: async ({ canvasElement }) => {
    await expect(await within(canvasElement).findByText(/2\.222\.222\.211 left/)).toBeInTheDocument();
  },
};
export const ProPartlyUsedJapanese: Story = { globals: { locale: 'ja' } };
export const Empty: Story = { args: { balances: noTokenTypesBalances, stats: emptyStats } };

/** A personal limit lowered below what the member had spent: "reached", never "24 of 9 used". */
export const PersonalLimitReached: Story = {
  args: {
    balances: { ...proBalances, member: { ...proBalances.member, quotas: [{ tokenType: 'quest_generation', quota: 9, spent: 24 }] } },
    stats: undefined,
  },
  play: async ({ canvasElement }) => {
    await expect(await within(canvasElement).findByText('Personal limit reached: 24 used, limit 9')).toBeInTheDocument();
  },
};

/** Three months of usage: six date labels on the x axis (the latest day always labelled), round token counts on the y axis. */
const quarterStats = {
  ...proStats,
  from: '2026-08-27',
  to: '2026-11-26',
  byDay: Array.from({ length: 92 }, (_, i) => ({
    day: new Date(Date.parse('2026-08-27T00:00:00Z') + i * 86_400_000).toISOString().slice(0, 10),
    tokenType: 'quest_generation',
    tokens: 20 + ((i * 37) % 90),
    events: 4,
  })),
};
export const UsageChartQuarter: Story = {
  args: { stats: { ...quarterStats, totals: { tokens: quarterStats.byDay.reduce((s, d) => s + d.tokens, 0), events: 368 } } },
  play: async ({ canvasElement }) => {
    const ticks = canvasElement.querySelectorAll('[data-slot=usage-chart-x-tick]');
    await expect(ticks).toHaveLength(6);
    await expect(ticks[ticks.length - 1]).toHaveTextContent('Nov 26');
    // 92 rows scroll inside the chart: the a11y check then covers a scrolling table (keyboard access).
    await userEvent.click(within(canvasElement).getByRole('button', { name: 'Show as table' }));
    await expect(within(canvasElement).getByRole('group', { name: /tokens used from Aug 27 to Nov 26/ })).toHaveAttribute('tabindex', '0');
  },
};

/** The chart's numbers as a visible table ("Show as table", a toggle button). */
export const UsageChartAsTable: Story = {
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    const toggle = canvas.getByRole('button', { name: 'Show as table' });
    await userEvent.click(toggle);
    await expect(toggle).toHaveAttribute('aria-pressed', 'true');
    await expect(canvas.getByRole('table', { name: /150 tokens used/ })).toBeVisible();
  },
};

/** The caller is not a member of the organization (403 not_a_member): said plainly. */
export const NotAMember: Story = {
  args: { balances: undefined, stats: undefined, status: 'error', error: { code: 'not_a_member' } },
  play: async ({ canvasElement }) => {
    await expect(await within(canvasElement).findByRole('alert')).toHaveTextContent('You’re not a member of this organization');
  },
};

/** Two organizations' dashboards on one page, each named after its organization. */
export const TitledPerOrganization: Story = {
  render: (args) => (
    <div className="grid gap-6 md:grid-cols-2">
      <TokenDashboardView {...args} variant="compact" title="Globex Consulting — AI tokens" />
      <TokenDashboardView {...args} variant="compact" balances={lowBalances} title="Initech — AI tokens" />
    </div>
  ),
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(canvas.getByRole('region', { name: 'Globex Consulting — AI tokens' })).toBeInTheDocument();
    await expect(canvas.getByRole('region', { name: 'Initech — AI tokens' })).toBeInTheDocument();
  },
};

export const ErrorState: Story = {
  name: 'Error',
  args: { balances: undefined, stats: undefined, status: 'error' },
  play: async ({ canvasElement, args }) => {
    const canvas = within(canvasElement);
    await userEvent.click(await canvas.findByRole('button', { name: /retry/i }));
    await expect(args.onRetry).toHaveBeenCalledTimes(1);
  },
};

/** Export and top-up buttons call the app's handlers. */
export const Actions: Story = {
  play: async ({ canvasElement, args }) => {
    const canvas = within(canvasElement);
    await userEvent.click(canvas.getByRole('button', { name: /csv/i }));
    await expect(args.onExport).toHaveBeenCalledWith('csv');
    await userEvent.click(canvas.getByRole('button', { name: /buy 1,000 tokens/i }));
    await expect(args.onTopUp).toHaveBeenCalledTimes(1);
  },
};

const allStates: [string, Partial<TokenDashboardViewProps>][] = [
  ['Loading', { balances: undefined, stats: undefined, status: 'loading' }],
  ['Error', { balances: undefined, stats: undefined, status: 'error' }],
  ['Not a member', { balances: undefined, stats: undefined, status: 'error', error: { code: 'not_a_member' } }],
  ['Pro, partly used', {}],
  ['Low', { balances: lowBalances, stats: undefined }],
  ['Exhausted', { balances: exhaustedBalances, stats: undefined }],
  ['Purchased + held', { balances: purchasedHeldBalances, stats: undefined }],
  ['Held by reservations', { balances: heldBalances, stats: undefined }],
  ['Enterprise', { balances: enterpriseBalances, stats: undefined }],
  ['Starter', { balances: starterBalances, stats: undefined }],
  ['Many token types', { balances: manyTypesBalances, stats: undefined }],
  ['Huge numbers', { balances: hugeBalances, stats: undefined }],
  ['Compact', { variant: 'compact' }],
  ['Empty', { balances: noTokenTypesBalances, stats: emptyStats }],
];

/**
 * Every state side by side, for visual review. Fourteen dashboards with the default title on one
 * page: each region gets a screen-reader-only number, so axe's `landmark-unique` passes here too.
 */
export const AllStates: Story = {
  parameters: { layout: 'fullscreen' },
  render: (args) => (
    <div className="grid gap-6 p-4 md:grid-cols-2 xl:grid-cols-3">
      {allStates.map(([label, overrides]) => (
        <figure key={label} className="flex flex-col gap-2">
          <figcaption className="text-xs font-medium uppercase tracking-wide text-tg-muted-foreground">{label}</figcaption>
          <TokenDashboardView {...args} {...overrides} />
        </figure>
      ))}
    </div>
  ),
};
