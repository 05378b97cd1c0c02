'use client';
import { useId } from 'react';
import type { Balances, Grant, Stats } from '../../core/types.ts';
import type { Formatter } from '../../i18n/create-formatter.ts';
import type { TokenGateMessages } from '../../i18n/messages.ts';
import { cn } from '../cn.ts';
import { Button } from '../ui/button.tsx';
import { forecastWithGrants } from './forecast-with-grants.ts';
import type { ExportFormat } from './token-dashboard-view.tsx';
import { UsageChart } from './usage-chart.tsx';

/** Props of {@link UsageDetails}. */
export interface UsageDetailsProps {
  stats: Stats;
  balances: Balances;
  grants: readonly Grant[] | undefined;
  now: Date;
  messages: TokenGateMessages;
  format: Formatter;
  nameOf: (tokenType: string) => string;
  getMemberName: (userId: string) => string;
  onExport: ((format: ExportFormat) => void) | undefined;
}

/**
 * Internal: the full dashboard's usage sections — chart (with its table), usage by member, runway
 * forecast and export — loaded on demand by `TokenDashboardView` (`React.lazy`), so the compact
 * variant and the balances never carry them.
 *
 * @example
 * const UsageDetails = lazy(() => import('./usage-details.tsx'));
 */
export default function UsageDetails({ stats, balances, grants, now: at, messages: m, format: f, nameOf, getMemberName, onExport }: UsageDetailsProps) {
  const titleId = useId();
  const membersId = useId();
  const usageEmpty = stats.totals.tokens === 0;
  // Unlimited and blocked types have no runway (available is null or nothing can be spent).
  const forecasts = stats.forecast
    .map((fc) => forecastWithGrants(fc, balances.tokenTypes.find((b) => b.tokenType === fc.tokenType), grants, at))
    .filter(
      (fc) =>
        fc.available !== null &&
        !balances.tokenTypes.some((b) => b.tokenType === fc.tokenType && (b.unlimited || b.blocked)) &&
        (fc.runsOutOn || fc.burnPerDay > 0),
    );
  return (
    <>
      {(
        // A group, not a region: several dashboards on a page must not repeat landmark names.
        <div role="group" data-slot="token-dashboard-usage" aria-labelledby={`${titleId}-usage`} className="flex flex-col gap-2">
          <h3 id={`${titleId}-usage`} className="text-sm font-semibold">
            {m.usageTitle}
          </h3>
          {usageEmpty ? (
            <p data-slot="token-dashboard-usage-empty" className="text-sm text-tg-muted-foreground">
              {m.usageEmpty}
            </p>
          ) : (
            <UsageChart stats={stats} nameOf={nameOf} messages={m} format={f} />
          )}
        </div>
      )}

      {stats.byMember.length > 0 && (
        <div role="group" data-slot="token-dashboard-members" aria-labelledby={membersId} className="flex flex-col gap-2">
          <h3 id={membersId} className="text-sm font-semibold">
            {m.byMemberTitle}
          </h3>
          <table data-slot="token-dashboard-members-table" aria-labelledby={membersId} className="w-full text-left text-sm">
            <thead className="text-xs text-tg-muted-foreground">
              <tr>
                <th scope="col" className="font-medium">{m.memberColumn}</th>
                <th scope="col" className="text-right font-medium">{m.tokensColumn}</th>
                <th scope="col" className="text-right font-medium">{m.usesColumn}</th>
              </tr>
            </thead>
            <tbody>
              {stats.byMember.map((row) => (
                <tr key={row.userId} data-slot="token-dashboard-member" className="border-t border-tg-border">
                  <th scope="row" className="py-1 font-normal">{getMemberName(row.userId)}</th>
                  <td className="py-1 text-right tabular-nums">{f.number(row.tokens)}</td>
                  <td className="py-1 text-right tabular-nums">{f.number(row.events)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {forecasts.length > 0 && (
        <div role="group" data-slot="token-dashboard-forecast" aria-labelledby={`${titleId}-forecast`} className="flex flex-col gap-1">
          <h3 id={`${titleId}-forecast`} className="text-sm font-semibold">
            {m.forecastTitle}
          </h3>
          <ul data-slot="token-dashboard-forecast-list" className="flex flex-col gap-1 text-sm">
            {forecasts.map((fc) => (
              <li
                key={fc.tokenType}
                data-slot="token-dashboard-forecast-item"
                data-state={fc.runsOutBeforeRefresh ? 'runs-out' : 'lasts'}
                className={cn(fc.runsOutBeforeRefresh ? 'text-tg-warning-foreground' : 'text-tg-muted-foreground')}
              >
                {fc.runsOutOn ? (
                  m.runsOutOn({ name: nameOf(fc.tokenType), date: f.date(fc.runsOutOn), beforeRefresh: fc.runsOutBeforeRefresh })
                ) : (
                  m.lastsUntilRefresh({ name: nameOf(fc.tokenType) })
                )}
                {fc.expiringUnused > 0 && (
                  <span data-slot="token-dashboard-forecast-expiring"> {m.expiringUnused({ name: nameOf(fc.tokenType), amount: f.number(fc.expiringUnused) })}</span>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}

      {onExport && !usageEmpty && (
        <div data-slot="token-dashboard-export" className="flex gap-2">
          <Button onClick={() => onExport('csv')}>{m.exportCsv}</Button>
          <Button onClick={() => onExport('json')}>{m.exportJson}</Button>
        </div>
      )}
    </>
  );
}
