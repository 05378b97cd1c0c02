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
  not_a_member: undefined,
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

/**
 * The platform's modal dialog, checked in the real browser: top layer (`:modal`), the page behind
 * inert to focus and to the pointer, the page's scroll locked, focus inside, and a close request
 * (the `cancel` event Esc fires) closing it with focus back on the opener. The close request is
 * made with `requestClose()`: a play function's keyboard is synthetic, and a synthetic Esc does
 * not make the browser fire `cancel` (the playground's e2e presses the real key).
 */
const dialog = (reason: UpgradeReason): Story => ({
  args: { reason, variant: 'dialog' },
  render: (args) => <DialogDemo {...args} balance={balanceFor[args.reason]} />,
  play: async ({ canvasElement }) => {
    const canvas = within(canvasElement);
    const opener = canvas.getByRole('button', { name: 'Generate quest' });
    await userEvent.click(opener);
    const box = (await canvas.findByRole('dialog')) as HTMLDialogElement;
    await expect(box.tagName).toBe('DIALOG');
    await expect(box.matches(':modal')).toBe(true);
    await waitFor(() => expect(box.contains(document.activeElement)).toBe(true));
    // The page behind is inert: it cannot take focus, and the pointer hits the backdrop.
    opener.focus();
    await expect(box.contains(document.activeElement)).toBe(true);
    const { left, top, width, height } = opener.getBoundingClientRect();
    await expect(document.elementFromPoint(left + width / 2, top + height / 2)).toBe(box);
    await expect(getComputedStyle(document.documentElement).overflow).toBe('hidden');

    box.requestClose();
    await waitFor(() => expect(canvas.queryByRole('dialog')).toBeNull());
    await expect(opener).toHaveFocus();
    await expect(getComputedStyle(document.documentElement).overflow).not.toBe('hidden');
  },
});

export const PlanBlockedInline: Story = { args: { reason: 'plan_blocked' } };
export const InsufficientTokensInline: Story = { args: { reason: 'insufficient_tokens' } };
export const MemberQuotaExceededInline: Story = { args: { reason: 'member_quota_exceeded' } };
export const LowInline: Story = { args: { reason: 'low' } };
/** The caller is not a member of the organization: no upgrade or top-up (neither would help). */
export const NotAMemberInline: Story = { args: { reason: 'not_a_member' } };
/** Only a token type id, no balance: the name is written as the catalog writes it ("Quest generation"). */
export const TokenTypeOnly: Story = {
  args: { reason: 'plan_blocked', tokenType: 'quest_generation' },
  render: (args) => <UpgradePrompt {...args} />,
  play: async ({ canvasElement }) => {
    await expect(within(canvasElement).getByRole('heading')).toHaveTextContent('Quest generation isn’t included in your plan');
  },
};
export const InsufficientTokensInlineDark: Story = { args: { reason: 'insufficient_tokens' }, globals: { theme: 'dark' } };
export const LowInlineDark: Story = { args: { reason: 'low' }, globals: { theme: 'dark' } };
export const PlanBlockedDialog = dialog('plan_blocked');
export const InsufficientTokensDialog = dialog('insufficient_tokens');
export const MemberQuotaExceededDialog = dialog('member_quota_exceeded');
export const LowDialog = dialog('low');
export const NotAMemberDialog = dialog('not_a_member');

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
