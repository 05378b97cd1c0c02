'use client';
import { lazy, Suspense, useId, type ReactNode } from 'react';
import type { TokenBalance, TokenTypeId } from '../../core/types.ts';
import { baseMessages } from '../../i18n/base-messages.ts';
import { useI18n } from '../../i18n/i18n-context.tsx';
import type { MessageOverrides, PromptArgs, UpgradeReason } from '../../i18n/messages.ts';
import { cn } from '../cn.ts';
import { Button } from '../ui/button.tsx';
import { useCatalogName } from './use-catalog-name.ts';

// The dialog variant's modal (showModal, focus, Esc, backdrop) loads on demand: inline prompts never need it.
const Dialog = /* @__PURE__ */ lazy(() => import('../ui/dialog.tsx').then((m) => ({ default: m.Dialog })));

/** Props of {@link UpgradePrompt}. */
export interface UpgradePromptProps {
  /** Why the prompt shows: a reason from `useTokenGate` (`not_a_member` included), or `low` as a warning. */
  reason: UpgradeReason;
  /** `dialog`: a modal (controlled by `open` / `onOpenChange`); `inline` (default): a region in the page. */
  variant?: 'dialog' | 'inline';
  /** Dialog only: whether it is open. */
  open?: boolean;
  /** Dialog only: called with `false` on Esc, backdrop click, Close, or after an action. */
  onOpenChange?: (open: boolean) => void;
  /**
   * Id of the token type concerned. Without a `balance`, its name comes from the cached catalog
   * (under a `TokenGateProvider`), else from the id in sentence case ("Quest generation").
   */
  tokenType?: TokenTypeId;
  /** The current balance, for the name, what is left, the cost and the refresh date in the copy. */
  balance?: TokenBalance;
  /** Upgrade action; its button shows for `plan_blocked`, `insufficient_tokens` and `low` (not for a member's own limit or `not_a_member`). */
  onUpgrade?: () => void;
  /** Top-up action; its button shows for `insufficient_tokens` and `low`. */
  onTopUp?: () => void;
  /** Upgrade button text from the app, including the price, e.g. "Upgrade to Pro — $20/month". */
  upgradeLabel?: ReactNode;
  /** Top-up button text from the app, including the price, e.g. "Buy 1,000 tokens — $10". */
  topUpLabel?: ReactNode;
  /** BCP 47 locale (default: the provider's, else the browser's). */
  locale?: string;
  /** Text overrides (e.g. `promptBody.member_quota_exceeded`). */
  messages?: MessageOverrides;
  /** Class of the prompt's panel (the dialog box or the inline region). */
  className?: string;
}

/**
 * Tells the user why an AI action is blocked (or about to be) and what they can do: upgrade, buy
 * tokens, ask an admin, or wait for the refresh. `dialog`: modal with trapped focus, Esc closes,
 * focus returns to the opener. `inline`: a labelled region (a polite status for `low`).
 *
 * @example
 * const gate = useTokenGate('quest_generation');
 * {gate.reason && (
 *   <UpgradePrompt reason={gate.reason} balance={gate.balance} variant="inline"
 *     onUpgrade={() => router.push('/billing')} upgradeLabel="Upgrade to Pro — $20/month" />
 * )}
 */
export function UpgradePrompt({
  reason,
  variant = 'inline',
  open = false,
  onOpenChange,
  tokenType,
  balance,
  onUpgrade,
  onTopUp,
  upgradeLabel,
  topUpLabel,
  locale,
  messages: overrides,
  className,
}: UpgradePromptProps) {
  // Only the strings it shows: the dashboard's travel with the dashboard's view, loaded on demand.
  const { messages: m, format: f } = useI18n({ locale, messages: overrides }, baseMessages);
  const titleId = useId();
  const bodyId = useId();
  const catalogName = useCatalogName(balance ? undefined : tokenType);
  const args: PromptArgs = {
    name: balance?.name ?? catalogName ?? m.fallbackName,
    available: balance && balance.available !== null ? f.number(balance.available) : '',
    cost: balance ? f.number(balance.cost) : '',
    refreshDate: balance && !balance.unlimited ? f.date(balance.refreshesAt, 'long') : '',
  };
  const close = () => onOpenChange?.(false);
  const act = (fn: () => void) => () => {
    fn();
    if (variant === 'dialog') close();
  };
  // Neither a member's own limit nor a missing membership is something a plan change fixes.
  const showUpgrade = onUpgrade && reason !== 'member_quota_exceeded' && reason !== 'not_a_member';
  const showTopUp = onTopUp && (reason === 'insufficient_tokens' || reason === 'low');

  const content = (
    <>
      <h2 id={titleId} data-slot="upgrade-prompt-title" className="text-base font-semibold">
        {m.promptTitle[reason](args)}
      </h2>
      <p id={bodyId} data-slot="upgrade-prompt-description" className="mt-1 text-sm text-tg-muted-foreground">
        {m.promptBody[reason](args)}
      </p>
      {(showUpgrade || showTopUp || variant === 'dialog') && (
        <div data-slot="upgrade-prompt-actions" className="mt-4 flex flex-wrap justify-end gap-2">
          {variant === 'dialog' && (
            <Button variant="ghost" onClick={close}>
              {m.close}
            </Button>
          )}
          {showTopUp && (
            <Button variant={showUpgrade ? 'secondary' : 'primary'} onClick={act(onTopUp)}>
              {topUpLabel ?? m.topUp}
            </Button>
          )}
          {showUpgrade && (
            <Button variant="primary" onClick={act(onUpgrade)}>
              {upgradeLabel ?? m.upgrade}
            </Button>
          )}
        </div>
      )}
    </>
  );

  if (variant === 'dialog') {
    return (
      <Suspense>
        <Dialog
          open={open}
          onOpenChange={(next) => onOpenChange?.(next)}
          aria-labelledby={titleId}
          aria-describedby={bodyId}
          data-slot="upgrade-prompt"
          data-reason={reason}
          className={className}
        >
          {content}
        </Dialog>
      </Suspense>
    );
  }
  return (
    <section
      // A low-balance warning is news, not a block: announce it politely where it appears.
      role={reason === 'low' ? 'status' : undefined}
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      data-slot="upgrade-prompt"
      data-reason={reason}
      data-state={reason === 'low' ? 'warning' : 'blocked'}
      className={cn(
        'rounded-tg border p-4 text-tg-foreground',
        reason === 'low' ? 'border-tg-warning bg-tg-warning-subtle' : 'border-tg-border bg-tg-surface',
        className,
      )}
    >
      {content}
    </section>
  );
}
