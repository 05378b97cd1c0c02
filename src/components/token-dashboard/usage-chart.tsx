'use client';
import { useId, useState, type ComponentProps } from 'react';
import type { Stats, TokenTypeId } from '../../core/types.ts';
import type { Formatter } from '../../i18n/create-formatter.ts';
import type { TokenGateMessages } from '../../i18n/messages.ts';
import { cn } from '../cn.ts';
import { Button } from '../ui/button.tsx';
import { dateTickIndexes } from './date-tick-indexes.ts';
import { niceTicks } from './nice-ticks.ts';

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
 * token type) with readable axes: token counts on the y axis (round ticks, `Intl` compact numbers,
 * grid lines) and dates on the x axis (locale-aware, at most six labels, the latest day always
 * labelled). The plot is one `role="img"` whose name is a summary and whose `aria-details` points
 * at a table of the same numbers (a day per row, a column per type, th scopes). The table is
 * visually hidden until "Show as table" (a toggle button, `aria-pressed`) reveals it.
 *
 * @example
 * <UsageChart stats={stats} nameOf={(t) => names[t] ?? t} messages={m} format={f} />
 */
export function UsageChart({ stats, nameOf, messages: m, format: f, className, ...props }: UsageChartProps) {
  const captionId = useId();
  const tableId = useId();
  const [tableShown, setTableShown] = useState(false);
  const days = daysBetween(stats.from, stats.to);
  const types = [...new Set([...stats.byType.map((t) => t.tokenType), ...stats.byDay.map((d) => d.tokenType)])];
  const cell = new Map(stats.byDay.map((d) => [`${d.day.slice(0, 10)}|${d.tokenType}`, d.tokens]));
  const value = (day: string, type: string) => cell.get(`${day}|${type}`) ?? 0;
  const totals = days.map((day) => types.reduce((s, t) => s + value(day, t), 0));
  const { ticks, top } = niceTicks(Math.max(0, ...totals));
  // Axis labels are short: 1.2K, 3.4M (the table has the exact numbers).
  const compact = new Intl.NumberFormat(f.locale, { notation: 'compact', maximumFractionDigits: 1 });
  const W = 10;
  const H = 60;
  const summary = m.usageSummary({
    total: f.number(stats.totals.tokens),
    from: f.date(stats.from),
    to: f.date(stats.to),
    days: f.number(dayCount(stats.from, stats.to)),
  });
  const yLabels = ticks.map((t) => compact.format(t));
  const widest = yLabels.reduce((a, b) => (b.length > a.length ? b : a), '');

  return (
    <div data-slot="usage-chart" className={cn('flex flex-col gap-2', className)} {...props}>
      {/* One image for assistive technology: its children (axes included) are presentational. */}
      <div role="img" aria-label={summary} aria-details={tableId} data-slot="usage-chart-plot" className="grid grid-cols-[auto_1fr] gap-x-2 text-xs text-tg-muted-foreground tabular-nums">
        <span data-slot="usage-chart-y-title" className="col-span-2 pb-2">{m.tokensColumn}</span>
        <div data-slot="usage-chart-y-axis" className="relative h-24 text-right">
          {/* Sizes the column to the widest label; the real labels are positioned over it. */}
          <span className="invisible">{widest}</span>
          {ticks.map((t, i) => (
            <span key={t} data-slot="usage-chart-y-tick" className="absolute right-0 whitespace-nowrap" style={{ bottom: `${(t / top) * 100}%`, transform: 'translateY(50%)' }}>
              {yLabels[i]}
            </span>
          ))}
        </div>
        <svg data-slot="usage-chart-svg" viewBox={`0 0 ${days.length * W} ${H}`} preserveAspectRatio="none" className="h-24 w-full overflow-visible">
          {ticks.map((t) => (
            <line
              key={t}
              x1={0}
              x2={days.length * W}
              y1={H - (t / top) * H}
              y2={H - (t / top) * H}
              vectorEffect="non-scaling-stroke"
              className="stroke-tg-border"
            />
          ))}
          {days.map((day, i) => {
            let y = H;
            return types.map((t, ti) => {
              const v = value(day, t);
              // top ≥ 1, so this never divides by zero.
              const h = v > 0 ? (v / top) * H : 0;
              y -= h;
              return h > 0 ? (
                <rect key={`${day}-${t}`} x={i * W + 1} y={y} width={W - 2} height={h} className={SERIES[ti % SERIES.length]} />
              ) : null;
            });
          })}
        </svg>
        <span />
        <div data-slot="usage-chart-x-axis" className="relative h-4">
          {dateTickIndexes(days.length).map((i) => {
            const at = ((i + 0.5) / days.length) * 100;
            // Centred under its bar, except near an edge: there it starts or ends at the bar, so it never overflows the chart.
            const style = at < 15 ? { left: `${at}%` } : at > 85 ? { right: `${100 - at}%` } : { left: `${at}%`, transform: 'translateX(-50%)' };
            return (
              <span key={days[i]} data-slot="usage-chart-x-tick" className="absolute top-0 whitespace-nowrap" style={style}>
                {f.date(days[i]!)}
              </span>
            );
          })}
        </div>
      </div>
      <div className="flex flex-wrap items-center justify-between gap-2">
        <ul data-slot="usage-chart-legend" className="flex flex-wrap gap-3 text-xs text-tg-muted-foreground">
          {types.map((t, ti) => (
            <li key={t} className="flex items-center gap-1.5">
              <span aria-hidden="true" className={cn('inline-block size-2.5 rounded-sm', SWATCH[ti % SWATCH.length])} />
              {nameOf(t)}
            </li>
          ))}
        </ul>
        <Button variant="ghost" aria-pressed={tableShown} aria-controls={tableId} data-slot="usage-chart-table-toggle" onClick={() => setTableShown((s) => !s)}>
          {m.showTable}
        </Button>
      </div>
      {/* sr-only on the wrapper: a table will not shrink to 1px and would widen the page. */}
      {/* Shown, it scrolls (three months are 92 rows): focusable so keyboard users can scroll it. */}
      <div
        id={tableId}
        data-slot="usage-chart-table-wrapper"
        data-state={tableShown ? 'shown' : 'hidden'}
        {...(tableShown ? { tabIndex: 0, role: 'group', 'aria-labelledby': captionId } : {})}
        className={tableShown ? 'max-h-64 overflow-auto focus-visible:outline-2 focus-visible:outline-tg-ring' : 'sr-only'}
      >
        <table data-slot="usage-chart-table" aria-labelledby={captionId} className="w-full text-left text-sm tabular-nums">
          <caption id={captionId} className="text-left text-xs text-tg-muted-foreground">{summary}</caption>
          <thead className="text-xs text-tg-muted-foreground">
            <tr>
              <th scope="col" className="font-medium">{m.dayColumn}</th>
              {types.map((t) => (
                <th key={t} scope="col" className="text-right font-medium">
                  {nameOf(t)}
                </th>
              ))}
              <th scope="col" className="text-right font-medium">{m.totalColumn}</th>
            </tr>
          </thead>
          <tbody>
            {days.map((day, i) => (
              <tr key={day} className="border-t border-tg-border">
                <th scope="row" className="font-normal">{f.date(day)}</th>
                {types.map((t) => (
                  <td key={t} className="text-right">{f.number(value(day, t))}</td>
                ))}
                <td className="text-right">{f.number(totals[i] ?? 0)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
