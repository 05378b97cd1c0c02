'use client';
import { lazy, Suspense, useId, type ComponentProps, type ReactNode } from 'react';
import type { TokenGateError } from '../../core/token-gate-error.ts';
import type { Balances, Grant, Stats, TokenBalance } from '../../core/types.ts';
import type { Formatter } from '../../i18n/create-formatter.ts';
import { useTokenGateI18n } from '../../i18n/use-token-gate-i18n.ts';
import type { MessageOverrides, TokenGateMessages } from '../../i18n/messages.ts';
import { Button } from '../ui/button.tsx';
import { VisuallyHidden } from '../ui/visually-hidden.tsx';
import { TokenBalanceRow } from './token-balance-row.tsx';
import { TokenDashboardFrame } from './token-dashboard-frame.tsx';
import { TokenDashboardSkeleton } from './token-dashboard-skeleton.tsx';
import { useBalanceAnnouncement } from './use-balance-announcement.ts';
import { useLandmarkNumber } from './use-landmark-number.ts';

const UsageDetails = /* @__PURE__ */ lazy(() => import('./usage-details.tsx'));

/** Export formats the dashboard offers. */
export type ExportFormat = 'csv' | 'json';

/** Props of {@link TokenDashboardView}. */
export interface TokenDashboardViewProps extends Omit<ComponentProps<'section'>, 'children' | 'title'> {
  /**
   * Heading of the dashboard and the name of its region, e.g. the organization's name when a page
   * shows several ("Globex — AI tokens"). Default: `messages.dashboardTitle`. Several dashboards
   * with the same title on one page get a screen-reader-only number (" (2)", …) so each region's
   * name is unique; `aria-label` / `aria-labelledby` replace the name altogether.
   */
  title?: string;
  /** The organization's balances; `undefined` while the first load runs or after it failed. */
  balances: Balances | undefined;
  /** Usage statistics (full variant): chart, by member, forecast. Omit to hide those sections. */
  stats?: Stats;
  /** Load status of `balances`. With data present, `loading` is a refetch and `error` a failed refetch. */
  status: 'loading' | 'error' | 'success';
  /** Why the balances failed to load, for a specific message (e.g. `not_a_member`); else the generic one. */
  error?: Pick<TokenGateError, 'code'> | null;
  /** Retry button of the error state. */
  onRetry?: () => void;
  /** Export buttons (full variant); shown only when given. The app builds and downloads the file. */
  onExport?: (format: ExportFormat) => void;
  /** Upgrade button; shown when given and the plan is not unlimited. */
  onUpgrade?: () => void;
  /** Top-up button; shown when given and the plan is metered. */
  onTopUp?: () => void;
  /** Upgrade button text, e.g. "Upgrade to Pro — $20/month", so its accessible name includes the price. */
  upgradeLabel?: ReactNode;
  /** Top-up button text, e.g. "Buy 1,000 tokens for $10". */
  topUpLabel?: ReactNode;
  /** `full` (default): everything; `compact`: plan and bars only. */
  variant?: 'full' | 'compact';
  /** BCP 47 locale for numbers and dates (default: the provider's, else the browser's). */
  locale?: string;
  /** Text overrides. */
  messages?: MessageOverrides;
  /** Reference time for "refreshes in N days" (default: now); pass it for deterministic renders. */
  now?: Date;
  /** Display name of a member in "usage by member" (default: the user id). */
  getMemberName?: (userId: string) => string;
  /**
   * The grants of each metered balance (full variant), e.g. a `GrantsDisclosureView`; the
   * connected `TokenDashboard` renders a disclosure that fetches them on demand.
   */
  renderGrants?: (balance: TokenBalance, context: { messages: TokenGateMessages; format: Formatter; now: Date }) => ReactNode;
  /**
   * The organization's active grants (any token types), for the runway forecast: tokens of grants
   * that expire before the spending reaches them do not extend it (see `forecastWithGrants`).
   */
  grants?: readonly Grant[];
}

/**
 * The token dashboard as a pure view of data passed in: plan badge, a labelled progress bar per
 * token type (low / exhausted / unlimited / not-in-plan states), purchased and held tokens, refresh
 * date, the grants of each balance (`renderGrants`), usage chart, usage by member, runway forecast
 * (corrected for grants that expire unused, given `grants`), export, and loading / empty / error states.
 * Balance changes are announced in a polite live region. Use `TokenDashboard` for the version
 * wired to the hooks.
 *
 * @example
 * <TokenDashboardView balances={data} stats={stats} status="success" onTopUp={openCheckout} />
 */
export function TokenDashboardView({
  balances,
  stats,
  status,
  error,
  title,
  onRetry,
  onExport,
  onUpgrade,
  onTopUp,
  upgradeLabel,
  topUpLabel,
  variant = 'full',
  locale,
  messages: overrides,
  now,
  getMemberName = (id) => id,
  renderGrants,
  grants,
  className,
  ...props
}: TokenDashboardViewProps) {
  const { messages: m, format: f } = useTokenGateI18n({ locale, messages: overrides });
  const titleId = useId();
  const announcement = useBalanceAnnouncement(balances, m, f);
  const heading = title ?? m.dashboardTitle;
  // The app named the region itself: no number.
  const named = props['aria-label'] !== undefined || props['aria-labelledby'] !== undefined;
  const number = useLandmarkNumber(named ? null : heading);
  const notAMember = error?.code === 'not_a_member';
  const at = now ?? new Date();
  const full = variant === 'full';
  const nameOf = (t: string) => balances?.tokenTypes.find((b) => b.tokenType === t)?.name ?? t;
  const access = balances?.plan.access;

  let body: ReactNode;
  if (!balances && status === 'error') {
    body = (
      <div
        role="alert"
        data-slot="token-dashboard-error"
        data-reason={notAMember ? 'not_a_member' : undefined}
        className="flex flex-col items-start gap-2 text-sm"
      >
        <p className="font-medium text-tg-danger-foreground">{notAMember ? m.notAMemberTitle : m.errorTitle}</p>
        <p className="text-tg-muted-foreground">{notAMember ? m.notAMemberBody : m.errorBody}</p>
        {onRetry && <Button onClick={onRetry}>{m.retry}</Button>}
      </div>
    );
  } else if (!balances) {
    body = <TokenDashboardSkeleton label={m.loading} />;
  } else {
    body = (
      <>
        {status === 'error' && (
          <div role="alert" data-slot="token-dashboard-error" className="flex items-center justify-between gap-2 text-sm">
            <span className="text-tg-danger-foreground">{m.errorTitle}</span>
            {onRetry && <Button onClick={onRetry}>{m.retry}</Button>}
          </div>
        )}
        {balances.tokenTypes.length === 0 ? (
          <p data-slot="token-dashboard-empty" className="text-sm text-tg-muted-foreground">
            {m.noTokenTypes}
          </p>
        ) : (
          <ul data-slot="token-balances" className="flex flex-col gap-4">
            {balances.tokenTypes.map((b) => (
              <TokenBalanceRow
                key={b.tokenType}
                balance={b}
                quota={balances.member.quotas.find((q) => q.tokenType === b.tokenType)}
                messages={m}
                format={f}
                now={at}
                variant={variant}
                grants={renderGrants?.(b, { messages: m, format: f, now: at })}
              />
            ))}
          </ul>
        )}

        {full && stats && (
          // Loaded on demand: an app that shows the compact variant, or no stats, never loads it.
          <Suspense>
            <UsageDetails
              stats={stats}
              balances={balances}
              grants={grants}
              now={at}
              messages={m}
              format={f}
              nameOf={nameOf}
              getMemberName={getMemberName}
              onExport={onExport}
            />
          </Suspense>
        )}
      </>
    );
  }

  return (
    <TokenDashboardFrame
      {...props}
      titleId={titleId}
      heading={
        <>
          {heading}
          {number > 1 && <VisuallyHidden>{m.dashboardNumber({ n: f.number(number) })}</VisuallyHidden>}
        </>
      }
      status={status}
      variant={variant}
      className={className}
      badge={
        balances && (
          <span
            data-slot="plan-badge"
            data-state={balances.plan.access}
            className="rounded-full bg-tg-primary-subtle px-2 py-0.5 text-xs font-medium text-tg-primary-subtle-foreground"
          >
            {m.planBadge({ plan: balances.plan.name })}
          </span>
        )
      }
      actions={
        balances &&
        access !== 'unlimited' &&
        (onUpgrade || (onTopUp && access === 'metered')) && (
          <div data-slot="token-dashboard-actions" className="flex gap-2">
            {onTopUp && access === 'metered' && <Button onClick={onTopUp}>{topUpLabel ?? m.topUp}</Button>}
            {onUpgrade && (
              <Button variant="primary" onClick={onUpgrade}>
                {upgradeLabel ?? m.upgrade}
              </Button>
            )}
          </div>
        )
      }
      announcement={announcement}
    >
      {body}
    </TokenDashboardFrame>
  );
}
