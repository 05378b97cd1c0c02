'use client';
import { useId, type ComponentProps } from 'react';
import type { Stats, TokenTypeId } from '../../core/types.ts';
import type { Formatter } from '../../i18n/create-formatter.ts';
import type { TokenGateMessages } from '../../i18n/messages.ts';
import { cn } from '../cn.ts';

/** Props of {@link UsageChart}. */
export interface UsageChartProps extends ComponentProps<'div'> {
  stats: Stats;
  /** Display name of a token type (falls back to its id). */
  nameOf: (tokenType: TokenTypeId) => string;
  messages: TokenGateMessages;
  format: Formatter;
}

// Five theme series colours, one per default token type; a sixth type reuses the first (the legend names every type).
const SERIES = ['fill-tg-chart-1', 'fill-tg-chart-2', 'fill-tg-chart-3', 'fill-tg-chart-4', 'fill-tg-chart-5'] as const;
const SWATCH = ['bg-tg-chart-1', 'bg-tg-chart-2', 'bg-tg-chart-3', 'bg-tg-chart-4', 'bg-tg-chart-5'] as const;
const DAY_MS = 86_400_000;
// A range longer than this is drawn from its last MAX_DAYS days, so the SVG stays small.
const MAX_DAYS = 92;

/** Number of calendar days from `from` to `to`, inclusive (0 for an invalid range). */
function dayCount(from: string, to: string): number {
  const start = Date.parse(`${from.slice(0, 10)}T00:00:00Z`);
  const end = Date.parse(`${to.slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(start) || Number.isNaN(end) || end < start ? 0 : Math.floor((end - start) / DAY_MS) + 1;
}

/**
 * The last (at most {@link MAX_DAYS}) calendar days up to `to` (UTC), so days without usage show
 * as gaps.
 *
 * @example
 * daysBetween('2026-11-24', '2026-11-26') // ['2026-11-24', '2026-11-25', '2026-11-26']
 */
export function daysBetween(from: string, to: string): string[] {
  const end = Date.parse(`${to.slice(0, 10)}T00:00:00Z`);
  const count = Math.min(dayCount(from, to), MAX_DAYS);
  return Array.from({ length: count }, (_, i) => new Date(end - (count - 1 - i) * DAY_MS).toISOString().slice(0, 10));
}

/**
 * Usage over time as a small dependency-free stacked bar chart (one bar per day, one colour per
 * token type). The SVG is `role="img"` with a summary as its name; the numbers are in a
 * visually hidden table for screen-reader users.
 *
 * @example
 * <UsageChart stats={stats} nameOf={(t) => names[t] ?? t} messages={m} format={f} />
 */
export function UsageChart({ stats, nameOf, messages: m, format: f, className, ...props }: UsageChartProps) {
  const captionId = useId();
  const days = daysBetween(stats.from, stats.to);
  const types = [...new Set([...stats.byType.map((t) => t.tokenType), ...stats.byDay.map((d) => d.tokenType)])];
  const cell = new Map(stats.byDay.map((d) => [`${d.day.slice(0, 10)}|${d.tokenType}`, d.tokens]));
  const value = (day: string, type: string) => cell.get(`${day}|${type}`) ?? 0;
  const totals = days.map((day) => types.reduce((s, t) => s + value(day, t), 0));
  const peak = Math.max(0, ...totals);
  const W = 10;
  const H = 60;
  const summary = m.usageSummary({
    total: f.number(stats.totals.tokens),
    from: f.date(stats.from),
    to: f.date(stats.to),
    days: f.number(dayCount(stats.from, stats.to)),
  });

  return (
    <div data-slot="usage-chart" className={cn('flex flex-col gap-2', className)} {...props}>
      <svg
        role="img"
        aria-label={summary}
        data-slot="usage-chart-svg"
        viewBox={`0 0 ${days.length * W} ${H}`}
        preserveAspectRatio="none"
        className="h-24 w-full"
      >
        {days.map((day, i) => {
          let y = H;
          return types.map((t, ti) => {
            const v = value(day, t);
            // peak > 0 whenever v > 0, so this never divides by zero.
            const h = v > 0 ? (v / peak) * (H - 2) : 0;
            y -= h;
            return h > 0 ? (
              <rect key={`${day}-${t}`} x={i * W + 1} y={y} width={W - 2} height={h} className={SERIES[ti % SERIES.length]} />
            ) : null;
          });
        })}
      </svg>
      <ul data-slot="usage-chart-legend" className="flex flex-wrap gap-3 text-xs text-tg-muted-foreground">
        {types.map((t, ti) => (
          <li key={t} className="flex items-center gap-1.5">
            <span aria-hidden="true" className={cn('inline-block size-2.5 rounded-sm', SWATCH[ti % SWATCH.length])} />
            {nameOf(t)}
          </li>
        ))}
      </ul>
      {/* sr-only on the wrapper: a table will not shrink to 1px and would widen the page. */}
      <div className="sr-only">
      <table data-slot="usage-chart-table" aria-labelledby={captionId}>
        <caption id={captionId}>{summary}</caption>
        <thead>
          <tr>
            <th scope="col">{m.dayColumn}</th>
            {types.map((t) => (
              <th key={t} scope="col">
                {nameOf(t)}
              </th>
            ))}
            <th scope="col">{m.totalColumn}</th>
          </tr>
        </thead>
        <tbody>
          {days.map((day, i) => (
            <tr key={day}>
              <th scope="row">{f.date(day)}</th>
              {types.map((t) => (
                <td key={t}>{f.number(value(day, t))}</td>
              ))}
              <td>{f.number(totals[i] ?? 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
    </div>
  );
}
