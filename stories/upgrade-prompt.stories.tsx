import type { Meta, StoryObj } from '@storybook/react-vite';
import { useState } from 'react';
import { expect, fn, userEvent, waitFor, within } from 'storybook/test';
import { UpgradePrompt, type UpgradePromptProps, type UpgradeReason } from '../src/components/index.ts';
import { exhaustedBalances, lowBalances, proBalances, starterBalances } from '../src/components/fixtures.ts';
import { Button } from '../src/components/ui/button.tsx';

const balanceFor: Record<UpgradeReason, UpgradePromptProps['balance']> = {
  plan_blocked: starterBalances.tokenTypes[0],
  insufficient_tokens: exhaustedBalances.tokenTypes[0],
  member_quota_exceeded: proBalances.tokenTypes[0],
  low: lowBalances.tokenTypes[0],
};
const REASONS = Object.keys(balanceFor) as UpgradeReason[];

/** The dialog variant with the button that opens it (focus returns there on close). */
function DialogDemo(props: UpgradePromptProps) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button variant="primary" onClick={() => setOpen(true)}>
        Generate quest
      </Button>
      <UpgradePrompt {...props} variant="dialog" open={open} onOpenChange={setOpen} />
    </>
  );
}

const meta = {
  title: 'Components/UpgradePrompt',
  component: UpgradePrompt,
  args: {
    reason: 'insufficient_tokens',
    onUpgrade: fn(),
    onTopUp: fn(),
    upgradeLabel: 'Upgrade to Enterprise — $99/month',
    topUpLabel: 'Buy 1,000 tokens — $10',
  },
  argTypes: { reason: { control: 'inline-radio', options: REASONS } },
  render: (args) => <UpgradePrompt {...args} balance={args.balance ?? balanceFor[args.reason]} />,
} satisfies Meta<typeof UpgradePrompt>;
export default meta;
type Story = StoryObj<typeof meta>;

const dialog = (reason: UpgradeReason): Story => ({
  args: { reason, variant: 'dialog' },
  render: (args) => <DialogDemo {...args} balance={balanceFor[args.reason]} />,
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    const opener = canvas.getByRole('button', { name: 'Generate quest' });
    await userEvent.click(opener);
    const box = await canvas.findByRole('dialog');
    await expect(box).toHaveAttribute('aria-modal', 'true');
    await waitFor(() => expect(box.contains(document.activeElement)).toBe(true));
    await userEvent.keyboard('{Escape}');
    await waitFor(() => expect(canvas.queryByRole('dialog')).toBeNull());
    await expect(opener).toHaveFocus();
  },
});

export const PlanBlockedInline: Story = { args: { reason: 'plan_blocked' } };
export const InsufficientTokensInline: Story = { args: { reason: 'insufficient_tokens' } };
export const MemberQuotaExceededInline: Story = { args: { reason: 'member_quota_exceeded' } };
export const LowInline: Story = { args: { reason: 'low' } };
export const InsufficientTokensInlineDark: Story = { args: { reason: 'insufficient_tokens' }, globals: { theme: 'dark' } };
export const LowInlineDark: Story = { args: { reason: 'low' }, globals: { theme: 'dark' } };
export const PlanBlockedDialog = dialog('plan_blocked');
export const InsufficientTokensDialog = dialog('insufficient_tokens');
export const MemberQuotaExceededDialog = dialog('member_quota_exceeded');
export const LowDialog = dialog('low');

export const InsufficientTokensDialogDark: Story = { ...dialog('insufficient_tokens'), globals: { theme: 'dark' } };

/** An action closes the dialog after calling the app's handler. */
export const DialogActionCloses: Story = {
  ...dialog('insufficient_tokens'),
  play: async ({ canvasElement, args }) => {
    const canvas = within(canvasElement);
    await userEvent.click(canvas.getByRole('button', { name: 'Generate quest' }));
    await userEvent.click(await canvas.findByRole('button', { name: /buy 1,000 tokens/i }));
    await expect(args.onTopUp).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(canvas.queryByRole('dialog')).toBeNull());
  },
};

/** Every reason inline, for visual review (the dialog of each reason: the *Dialog stories). */
export const AllStates: Story = {
  render: (args) => (
    <div className="flex max-w-2xl flex-col gap-4">
      {REASONS.map((reason) => (
        <UpgradePrompt key={reason} {...args} reason={reason} variant="inline" balance={balanceFor[reason]} />
      ))}
    </div>
  ),
};
