'use client';
import { lazy, Suspense } from 'react';
import type { DateRange } from '../../core/create-token-client.ts';
import type { Stats } from '../../core/types.ts';
import { useGrants, useTokenBalances, useTokenStats } from '../../react/index.ts';
import { TokenDashboardLoading } from './token-dashboard-loading.tsx';
import type { ExportFormat, TokenDashboardViewProps } from './token-dashboard-view.tsx';

// The view (balances, grants, their strings) loads on demand, in parallel with the data the hooks
// fetch up front; meanwhile the view's own loading state shows (TokenDashboardLoading).
const TokenDashboardViewWithGrants = /* @__PURE__ */ lazy(() => import('./token-dashboard-view-with-grants.tsx'));

/** Props of {@link TokenDashboard}: the view's props, minus the data the hooks supply. */
export interface TokenDashboardProps
  extends Omit<TokenDashboardViewProps, 'balances' | 'stats' | 'status' | 'error' | 'onRetry' | 'onExport'> {
  /** Date range of the usage statistics (full variant). Default: the last 30 days (UTC) up to `now`. */
  range?: DateRange;
  /**
   * Export handler. Default: downloads `client.exportUsage(range, { format })` as
   * `tokengate-usage-<from>-<to>.<format>`. Pass `false` to hide the export buttons.
   */
  onExport?: ((format: ExportFormat, range: DateRange) => void) | false;
}

const DAY_MS = 86_400_000;

/** The last 30 calendar days (UTC) up to `now`, as `YYYY-MM-DD`. */
export function last30Days(now: Date): DateRange {
  const to = now.toISOString().slice(0, 10);
  const from = new Date(Date.parse(`${to}T00:00:00Z`) - 29 * DAY_MS).toISOString().slice(0, 10);
  return { from, to };
}

/**
 * The token dashboard wired to `TokenGateProvider`: balances from `useTokenBalances()`, usage
 * statistics from `useTokenStats(range)` (full variant only), each metered balance's grants behind
 * a disclosure that fetches them when first opened (`useGrants(type, { enabled: open })`), and —
 * only when some forecast type is being spent and holds grants — the grants for the runway
 * forecast. Retry refetches, Export downloads the server's usage export. All other props go to
 * {@link TokenDashboardView}.
 *
 * @example
 * <TokenGateProvider client={client}>
 *   <TokenDashboard onUpgrade={() => router.push('/billing')} upgradeLabel="Upgrade to Pro — $20/month" />
 * </TokenGateProvider>
 */
export function TokenDashboard({ variant = 'full', range, now, ...props }: TokenDashboardProps) {
  const r = range ?? last30Days(now ?? new Date());
  return variant === 'full' ? (
    <FullDashboard {...props} now={now} range={r} />
  ) : (
    <Dashboard {...props} now={now} range={r} variant="compact" stats={undefined} refetchStats={undefined} />
  );
}

type InnerProps = Omit<TokenDashboardProps, 'range'> & { range: DateRange };

// Separate components so the compact variant never subscribes to (or fetches) the statistics or grants.
function FullDashboard(props: InnerProps) {
  const stats = useTokenStats(props.range);
  const balances = useTokenBalances();
  // Grants matter to the forecast only where tokens are being spent and some are granted.
  const forecastNeedsGrants = (stats.data?.forecast ?? []).some(
    (fc) => fc.burnPerDay > 0 && (balances.data?.tokenTypes.find((b) => b.tokenType === fc.tokenType)?.purchased ?? 0) > 0,
  );
  const grants = useGrants(undefined, { enabled: forecastNeedsGrants });
  return (
    <Dashboard
      {...props}
      variant="full"
      stats={stats.data}
      grants={forecastNeedsGrants ? grants.data : undefined}
      withGrants
      refetchStats={() => void stats.refetch()}
    />
  );
}

function Dashboard({
  range,
  stats,
  refetchStats,
  withGrants = false,
  onExport,
  ...props
}: InnerProps & { stats: Stats | undefined; refetchStats: (() => void) | undefined; withGrants?: boolean }) {
  const balances = useTokenBalances();
  const status = balances.isError ? 'error' : balances.data ? 'success' : 'loading';
  return (
    <Suspense fallback={<TokenDashboardLoading {...props} />}>
      <TokenDashboardViewWithGrants
        {...props}
        withGrants={withGrants}
        balances={balances.data}
        stats={stats}
        status={status}
        error={balances.error}
        onRetry={() => {
          void balances.refetch();
          refetchStats?.();
        }}
        range={range}
        onExport={onExport}
      />
    </Suspense>
  );
}
