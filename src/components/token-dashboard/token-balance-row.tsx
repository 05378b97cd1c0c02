'use client';
import { useId, type ComponentProps, type ReactNode } from 'react';
import type { MemberQuota, TokenBalance } from '../../core/types.ts';
import type { Formatter } from '../../i18n/create-formatter.ts';
import type { TokenGateMessages } from '../../i18n/messages.ts';
import { cn } from '../cn.ts';
import { ProgressBar } from '../ui/progress-bar.tsx';
import { getBalanceState } from './get-balance-state.ts';

/** Props of {@link TokenBalanceRow}. */
export interface TokenBalanceRowProps extends ComponentProps<'li'> {
  balance: TokenBalance;
  /** The member's own cap on this type, if any. */
  quota?: MemberQuota;
  messages: TokenGateMessages;
  format: Formatter;
  /** Reference time for "refreshes in N days". */
  now: Date;
  /** `compact`: name, badge, bar and what is left only. */
  variant: 'full' | 'compact';
  /** The balance's grants (e.g. a `GrantsDisclosure`), shown last in the full variant of a metered type. */
  grants?: ReactNode;
}

/**
 * One token type in the dashboard: name, state badge, a labelled progress bar of the period's
 * allowance, and (full variant) what is left, purchased, held, the refresh date, the member's
 * own limit and, when given, the balance's grants. `data-state` is the {@link getBalanceState} of the balance.
 *
 * @example
 * <TokenBalanceRow balance={b} messages={m} format={f} now={new Date()} variant="full" />
 */
export function TokenBalanceRow({ balance: b, quota, messages: m, format: f, now, variant, grants, className, ...props }: TokenBalanceRowProps) {
  const nameId = useId();
  const state = getBalanceState(b);
  const n = f.number;
  const consumed = Math.min(Math.max(b.allowance - b.allowanceRemaining, 0), b.allowance);
  const badge =
    state === 'low' ? m.lowBadge
    : state === 'exhausted' ? m.exhaustedBadge
    : state === 'unlimited' ? m.unlimited
    : state === 'blocked' ? m.notInPlan
    : null;
  const metered = state !== 'unlimited' && state !== 'blocked';

  return (
    <li data-slot="token-balance" data-state={state} data-token-type={b.tokenType} className={cn('flex flex-col gap-1.5', className)} {...props}>
      <div data-slot="token-balance-header" className="flex items-center justify-between gap-2 text-sm">
        <span id={nameId} data-slot="token-balance-name" className="font-medium text-tg-foreground">
          {b.name}
        </span>
        {badge && (
          <span
            data-slot="token-balance-badge"
            data-state={state}
            className={cn(
              'rounded-full px-2 py-0.5 text-xs font-medium',
              state === 'low' && 'bg-tg-warning-subtle text-tg-warning-foreground',
              state === 'exhausted' && 'bg-tg-danger-subtle text-tg-danger-foreground',
              (state === 'unlimited' || state === 'blocked') && 'bg-tg-muted text-tg-muted-foreground',
            )}
          >
            {badge}
          </span>
        )}
      </div>

      {metered && b.allowance > 0 && (
        <>
          <ProgressBar
            aria-labelledby={nameId}
            value={consumed}
            max={b.allowance}
            valueText={m.usedOfAllowance({ used: n(consumed), allowance: n(b.allowance) })}
            state={state === 'ok' ? 'ok' : state}
          />
          <p data-slot="token-balance-usage" className="flex justify-between text-xs text-tg-muted-foreground">
            <span>{m.usedOfAllowance({ used: n(consumed), allowance: n(b.allowance) })}</span>
            <span data-slot="token-balance-available">{m.left({ available: n(b.available ?? 0) })}</span>
          </p>
        </>
      )}
      {metered && b.allowance <= 0 && (
        <p data-slot="token-balance-usage" className="flex justify-between text-xs text-tg-muted-foreground">
          <span>{m.noAllowance}</span>
          <span data-slot="token-balance-available">{m.left({ available: n(b.available ?? 0) })}</span>
        </p>
      )}
      {state === 'unlimited' && (
        <p data-slot="token-balance-usage" className="text-xs text-tg-muted-foreground">
          {m.usedThisPeriod({ used: n(b.used) })}
        </p>
      )}

      {variant === 'full' && state !== 'blocked' && (
        <ul data-slot="token-balance-details" className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-tg-muted-foreground">
          {b.purchased > 0 && <li data-slot="token-balance-purchased">{m.purchased({ purchased: n(b.purchased) })}</li>}
          {b.held > 0 && <li data-slot="token-balance-held">{m.held({ held: n(b.held) })}</li>}
          {quota && (
            <li
              data-slot="token-balance-quota"
              data-state={quota.spent > quota.quota ? 'over' : quota.spent === quota.quota ? 'reached' : 'ok'}
              className={cn(quota.spent >= quota.quota && 'font-medium text-tg-danger-foreground')}
            >
              {/* Never "24 of 9 used": a cap lowered below what was spent reads as reached, with the real spend. */}
              {quota.spent >= quota.quota
                ? m.memberQuotaReached({ spent: n(quota.spent), quota: n(quota.quota), over: quota.spent > quota.quota })
                : m.memberQuota({ spent: n(quota.spent), quota: n(quota.quota) })}
            </li>
          )}
          {state !== 'unlimited' && (
            <li data-slot="token-balance-refresh">
              <time dateTime={b.refreshesAt} title={f.date(b.refreshesAt, 'long')}>
                {m.refreshes({ relative: f.relativeDays(b.refreshesAt, now), date: f.date(b.refreshesAt, 'long') })}
              </time>
            </li>
          )}
        </ul>
      )}
      {variant === 'full' && metered && grants}
    </li>
  );
}
