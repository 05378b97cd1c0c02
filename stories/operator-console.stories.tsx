import type { Meta, StoryObj } from '@storybook/react-vite';
import { QueryClient } from '@tanstack/react-query';
import { expect, within } from 'storybook/test';
import { OperatorConsole, type ExpiringGrantRow, type NearExhaustionRow, type OperatorTopRow, type SpikeRow } from '../src/operator/index.ts';

const ACME = '0a000000-0000-4000-8000-000000000001';
const GLOBEX = '0a000000-0000-4000-8000-000000000002';
const INITECH = '0a000000-0000-4000-8000-000000000003';

const top: OperatorTopRow[] = [
  { tokenType: 'lead_generation', rank: 1, orgId: GLOBEX, planId: 'enterprise', tokens: 12_480, events: 6_240, members: 14 },
  { tokenType: 'lead_generation', rank: 2, orgId: ACME, planId: 'pro', tokens: 96, events: 48, members: 3 },
  { tokenType: 'quest_generation', rank: 1, orgId: ACME, planId: 'pro', tokens: 57, events: 19, members: 3 },
  { tokenType: 'quest_generation', rank: 2, orgId: INITECH, planId: 'pro', tokens: 21, events: 7, members: 1 },
];
const nearExhaustion: NearExhaustionRow[] = [
  { orgId: INITECH, planId: 'pro', tokenType: 'strategy_analysis', allowance: 100, allowanceRemaining: 0, purchased: 0, shared: 0, held: 0, available: 0, percentLeft: 0, periodEnd: '2028-02-01T00:00:00Z' },
  { orgId: ACME, planId: 'pro', tokenType: 'quest_generation', allowance: 60, allowanceRemaining: 3, purchased: 0, shared: 0, held: 0, available: 3, percentLeft: 5, periodEnd: '2028-02-01T00:00:00Z' },
];
const spikes: SpikeRow[] = [
  { orgId: INITECH, planId: 'pro', tokenType: 'strategy_analysis', day: '2028-01-10', tokens: 100, trailingAverage: 0, ratio: null },
  { orgId: GLOBEX, planId: 'enterprise', tokenType: 'lead_generation', day: '2028-01-10', tokens: 4_000, trailingAverage: 410.5, ratio: 9.74 },
];
const expiringGrants: ExpiringGrantRow[] = [
  { grantId: '0b000000-0000-4000-8000-000000000001', orgId: ACME, planId: 'pro', tokenType: 'quest_generation', source: 'promo', amount: 100, remaining: 40, priority: 50, expiresAt: '2028-01-12T00:00:00Z', overdue: false, createdAt: '2027-12-12T00:00:00Z' },
];

/** The app's admin API, answered from fixtures (the real one forwards to Tokengate's /operator/* routes). */
const fixtureFetch = async (input: string) => {
  const path = new URL(input, 'http://app.test').pathname;
  const body = path.endsWith('/top') ? top : path.endsWith('/near-exhaustion') ? nearExhaustion : path.endsWith('/spikes') ? spikes : expiringGrants;
  return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
};

const meta = {
  title: 'Operator/OperatorConsole',
  component: OperatorConsole,
  args: { baseUrl: '/admin/api/tokengate', fetch: fixtureFetch, now: new Date('2028-01-10T12:00:00Z'), locale: 'en-US' },
  // A client per story render, so stories never share cached answers.
  render: (args) => <OperatorConsole {...args} queryClient={new QueryClient({ defaultOptions: { queries: { retry: false } } })} />,
} satisfies Meta<typeof OperatorConsole>;
export default meta;
type Story = StoryObj<typeof meta>;

export const AllParts: Story = {
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect(await canvas.findByRole('table', { name: /^Top organizations/ })).toBeVisible();
    await expect(await canvas.findByRole('table', { name: /^Near exhaustion/ })).toBeVisible();
    await expect(await canvas.findByRole('table', { name: /^Usage spikes/ })).toBeVisible();
    await expect(await canvas.findByRole('table', { name: /^Grants expiring/ })).toBeVisible();
  },
};

export const NearExhaustionOnly: Story = { args: { sections: ['nearExhaustion'], percent: 20 } };

export const Failing: Story = {
  args: { fetch: async () => new Response(JSON.stringify({ code: 'unauthorized', detail: "This route requires the server's credentials." }), { status: 401, headers: { 'content-type': 'application/problem+json' } }) },
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    await expect((await canvas.findAllByRole('alert')).length).toBe(4);
  },
};
