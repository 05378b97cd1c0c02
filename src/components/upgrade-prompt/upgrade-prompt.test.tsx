import '../../../test/dom/dialog-polyfill.ts';
import { QueryClient } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { StrictMode, useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { UpgradeReason } from '../../i18n/messages.ts';
import { expectNoAxeViolations } from '../expect-no-axe-violations.ts';
import { createTokenClient } from '../../core/create-token-client.ts';
import { tokenGateKeys } from '../../core/query-keys.ts';
import { TokenGateProvider } from '../../react/token-gate-provider.tsx';
import { balance, proBalances } from '../fixtures.ts';
import { UpgradePrompt, type UpgradePromptProps } from './upgrade-prompt.tsx';

afterEach(cleanup);

const quests = balance({ allowanceRemaining: 2, used: 498 });
const COPY: Record<UpgradeReason, { title: string; body: RegExp; buttons: string[] }> = {
  plan_blocked: {
    title: 'Quest generation isn’t included in your plan',
    body: /doesn’t include Quest generation\. Upgrade your plan/,
    buttons: ['Upgrade to Pro — $20/month'],
  },
  insufficient_tokens: {
    title: 'You’re out of Quest generation tokens',
    body: /This needs 5 tokens and you have 2 left\. Buy more tokens or wait until your allowance refreshes on December [78], 2026\./,
    buttons: ['Buy 1,000 tokens — $10', 'Upgrade to Pro — $20/month'],
  },
  member_quota_exceeded: {
    title: 'You’ve reached your personal limit',
    body: /caps how many Quest generation tokens each member can use\. Ask an admin to raise your limit/,
    buttons: [],
  },
  not_a_member: {
    title: 'You’re not a member of this organization',
    body: /Ask an owner or admin of the organization to invite you/,
    // A plan change or a top-up would not help: no buttons, even when the app supplies them.
    buttons: [],
  },
  low: {
    title: 'You’re running low on Quest generation tokens',
    body: /Only 2 tokens are left\. Buy more tokens or upgrade/,
    buttons: ['Buy 1,000 tokens — $10', 'Upgrade to Pro — $20/month'],
  },
};
const REASONS = Object.keys(COPY) as UpgradeReason[];

const base = {
  balance: quests,
  locale: 'en-US',
  upgradeLabel: 'Upgrade to Pro — $20/month',
  topUpLabel: 'Buy 1,000 tokens — $10',
} satisfies Partial<UpgradePromptProps>;

/** An app screen: a button that opens the dialog, and the dialog. */
function Opener(props: Omit<UpgradePromptProps, 'variant' | 'open' | 'onOpenChange'>) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Generate quests
      </button>
      <UpgradePrompt {...props} variant="dialog" open={open} onOpenChange={setOpen} />
    </>
  );
}

describe('UpgradePrompt inline', () => {
  for (const reason of REASONS) {
    it(`${reason}: a labelled region that says what happened and what to do`, async () => {
      const onUpgrade = vi.fn();
      const onTopUp = vi.fn();
      const { container } = render(<UpgradePrompt {...base} reason={reason} onUpgrade={onUpgrade} onTopUp={onTopUp} />);
      const region = screen.getByRole(reason === 'low' ? 'status' : 'region', { name: COPY[reason].title });
      expect(region.getAttribute('data-reason')).toBe(reason);
      expect(screen.getByRole('heading', { name: COPY[reason].title })).toBeTruthy();
      expect(region.textContent).toMatch(COPY[reason].body);
      expect(screen.queryAllByRole('button').map((b) => b.textContent)).toEqual(COPY[reason].buttons);
      for (const name of COPY[reason].buttons) await userEvent.click(screen.getByRole('button', { name }));
      expect(onTopUp).toHaveBeenCalledTimes(COPY[reason].buttons.some((b) => b.startsWith('Buy')) ? 1 : 0);
      expect(onUpgrade).toHaveBeenCalledTimes(COPY[reason].buttons.some((b) => b.startsWith('Upgrade')) ? 1 : 0);
      await expectNoAxeViolations(container);
    });
  }

  it('shows no action buttons the app did not supply, and uses message overrides', () => {
    render(<UpgradePrompt reason="plan_blocked" tokenType="image_generation" locale="en-US" messages={{ promptTitle: { plan_blocked: () => 'Nope' } }} />);
    expect(screen.getByRole('region', { name: 'Nope' }).textContent).toContain('doesn’t include Image generation');
    expect(screen.queryByRole('button')).toBeNull();
  });

  it('with only a tokenType, names it in sentence case, as the catalog writes names', () => {
    render(<UpgradePrompt reason="plan_blocked" tokenType="image_generation" locale="en-US" />);
    expect(screen.getByRole('heading').textContent).toBe('Image generation isn’t included in your plan');
  });

  it("with only a tokenType under a provider, uses the cached catalog's own name", () => {
    const client = createTokenClient({ baseUrl: '/api', getAccessToken: () => null, orgId: proBalances.orgId, fetch: () => new Promise(() => {}) });
    const queryClient = new QueryClient();
    const renamed = { ...proBalances, tokenTypes: proBalances.tokenTypes.map((b) => ({ ...b, name: b.tokenType === 'image_generation' ? 'AI images (beta)' : b.name })) };
    queryClient.setQueryData(tokenGateKeys.balances(proBalances.orgId), renamed);
    render(
      <TokenGateProvider client={client} queryClient={queryClient}>
        <UpgradePrompt reason="insufficient_tokens" tokenType="image_generation" locale="en-US" />
      </TokenGateProvider>,
    );
    expect(screen.getByRole('heading').textContent).toBe('You’re out of AI images (beta) tokens');
  });
});

describe('UpgradePrompt dialog', () => {
  for (const reason of REASONS) {
    it(`${reason}: a modal dialog, labelled and described`, async () => {
      const { container } = render(<Opener {...base} reason={reason} onUpgrade={vi.fn()} onTopUp={vi.fn()} />);
      expect(screen.queryByRole('dialog')).toBeNull();
      await userEvent.click(screen.getByRole('button', { name: 'Generate quests' }));
      // The modal loads on demand.
      const dialog = (await screen.findByRole('dialog', { name: COPY[reason].title })) as HTMLDialogElement;
      // The platform's modal dialog (showModal), not a hand-made role="dialog".
      expect(dialog.tagName).toBe('DIALOG');
      expect(dialog.open).toBe(true);
      expect(document.getElementById(dialog.getAttribute('aria-describedby')!)!.textContent).toMatch(COPY[reason].body);
      expect(screen.getAllByRole('button').map((b) => b.textContent)).toEqual(['Generate quests', 'Close', ...COPY[reason].buttons]);
      await expectNoAxeViolations(container);
    });
  }

  it('moves focus in, traps Tab and Shift+Tab, closes on Esc and restores focus to the opener', async () => {
    const user = userEvent.setup();
    render(<Opener {...base} reason="insufficient_tokens" onUpgrade={vi.fn()} onTopUp={vi.fn()} />);
    const opener = screen.getByRole('button', { name: 'Generate quests' });
    await user.click(opener);
    const close = await screen.findByRole('button', { name: 'Close' });
    const topUp = screen.getByRole('button', { name: 'Buy 1,000 tokens — $10' });
    const upgrade = screen.getByRole('button', { name: 'Upgrade to Pro — $20/month' });
    expect(document.activeElement).toBe(close);
    await user.tab();
    expect(document.activeElement).toBe(topUp);
    await user.tab();
    expect(document.activeElement).toBe(upgrade);
    await user.tab();
    expect(document.activeElement).toBe(close);
    await user.tab({ shift: true });
    expect(document.activeElement).toBe(upgrade);
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(opener);
  });

  it('Close, an action and a backdrop click close it; actions run their callback', async () => {
    const user = userEvent.setup();
    const onUpgrade = vi.fn();
    render(<Opener {...base} reason="plan_blocked" onUpgrade={onUpgrade} />);
    const opener = screen.getByRole('button', { name: 'Generate quests' });

    await user.click(opener);
    await user.click(await screen.findByRole('button', { name: 'Close' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(opener);

    await user.click(opener);
    await user.click(screen.getByRole('button', { name: 'Upgrade to Pro — $20/month' }));
    expect(onUpgrade).toHaveBeenCalledOnce();
    expect(screen.queryByRole('dialog')).toBeNull();

    // A click on the backdrop targets the <dialog> itself (its content fills the box).
    await user.click(opener);
    await user.click(screen.getByRole('dialog'));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(opener);
  });

  it("closes on the dialog's cancel event (Esc), keeping itself controlled", async () => {
    const onOpenChange = vi.fn();
    const { rerender } = render(<UpgradePrompt {...base} reason="low" variant="dialog" open onOpenChange={onOpenChange} />);
    const dialog = (await screen.findByRole('dialog')) as HTMLDialogElement;
    const cancel = new Event('cancel', { cancelable: true });
    fireEvent(dialog, cancel);
    // The platform would close it: the kit prevents that and asks the app, which owns `open`.
    expect(cancel.defaultPrevented).toBe(true);
    expect(onOpenChange).toHaveBeenCalledExactlyOnceWith(false);
    expect(dialog.open).toBe(true);
    rerender(<UpgradePrompt {...base} reason="low" variant="dialog" open={false} onOpenChange={onOpenChange} />);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(onOpenChange).toHaveBeenCalledOnce();
  });

  it('stays open under StrictMode (its effect runs twice; the first close event comes a task later)', async () => {
    const user = userEvent.setup();
    render(
      <StrictMode>
        <Opener {...base} reason="plan_blocked" onUpgrade={vi.fn()} />
      </StrictMode>,
    );
    await user.click(screen.getByRole('button', { name: 'Generate quests' }));
    await new Promise((r) => setTimeout(r, 20));
    expect(((await screen.findByRole('dialog')) as HTMLDialogElement).open).toBe(true);
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Close' }));
  });

  it("locks the page's scroll while open and restores it after", async () => {
    const user = userEvent.setup();
    document.documentElement.style.overflow = 'scroll';
    render(<Opener {...base} reason="plan_blocked" onUpgrade={vi.fn()} />);
    await user.click(screen.getByRole('button', { name: 'Generate quests' }));
    await screen.findByRole('dialog');
    expect(document.documentElement.style.overflow).toBe('hidden');
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.documentElement.style.overflow).toBe('scroll');
    document.documentElement.style.overflow = '';
  });

  it('a dialog with one button keeps focus on it', async () => {
    const user = userEvent.setup();
    render(<Opener {...base} reason="member_quota_exceeded" />);
    await user.click(screen.getByRole('button', { name: 'Generate quests' }));
    const close = await screen.findByRole('button', { name: 'Close' });
    expect(document.activeElement).toBe(close);
    await user.tab();
    expect(document.activeElement).toBe(close);
    await user.tab({ shift: true });
    expect(document.activeElement).toBe(close);
  });
});
