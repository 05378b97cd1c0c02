'use client';
import { useId } from 'react';
import { baseMessages } from '../../i18n/base-messages.ts';
import { useI18n } from '../../i18n/i18n-context.tsx';
import type { TokenDashboardViewProps } from './token-dashboard-view.tsx';
import { TokenDashboardFrame } from './token-dashboard-frame.tsx';
import { TokenDashboardSkeleton } from './token-dashboard-skeleton.tsx';

/** Props of {@link TokenDashboardLoading}: the view's, of which it uses the region's own. */
export type TokenDashboardLoadingProps = Omit<TokenDashboardViewProps, 'balances' | 'status'>;

/**
 * Internal: what `TokenDashboard` shows while its view loads on demand — the view's own loading
 * state (region, heading, skeleton; `aria-busy`), from the same props, so nothing moves when the
 * view takes over. Its strings are `baseMessages`: the view's other strings load with the view.
 *
 * @example
 * <Suspense fallback={<TokenDashboardLoading {...props} />}><LazyView {...props} /></Suspense>
 */
export function TokenDashboardLoading({
  title,
  variant = 'full',
  locale,
  messages: overrides,
  // The view's own props: nothing of them shows while it loads, and none is the region's.
  stats: _stats,
  error: _error,
  onRetry: _onRetry,
  onExport: _onExport,
  onUpgrade: _onUpgrade,
  onTopUp: _onTopUp,
  upgradeLabel: _upgradeLabel,
  topUpLabel: _topUpLabel,
  now: _now,
  getMemberName: _getMemberName,
  renderGrants: _renderGrants,
  grants: _grants,
  ...props
}: TokenDashboardLoadingProps) {
  const { messages: m } = useI18n({ locale, messages: overrides }, baseMessages);
  const titleId = useId();
  return (
    <TokenDashboardFrame {...props} titleId={titleId} heading={title ?? m.dashboardTitle} status="loading" variant={variant}>
      <TokenDashboardSkeleton label={m.loading} />
    </TokenDashboardFrame>
  );
}
