'use client';
import { useQuery, type QueryClient, type UseQueryResult } from '@tanstack/react-query';
import { useId, type ComponentProps, type ReactNode } from 'react';
import { cn } from '../components/cn.ts';
import { operatorQueryOptions, type OperatorSource } from './operator-query-options.ts';

/** A part of the console. */
export type OperatorSection = 'top' | 'nearExhaustion' | 'spikes' | 'expiringGrants';

/** Props of {@link OperatorConsole}. */
export interface OperatorConsoleProps extends Omit<ComponentProps<'section'>, 'children'>, OperatorSource {
  /** Heading of the console. Default "Operator console". */
  title?: string;
  /** Which parts to show, in this order. Default: all four. */
  sections?: readonly OperatorSection[];
  /** Range of the top list (UTC days). Default: the 30 days ending today (UTC). */
  range?: { from: string; to: string };
  /** Top list of one token type only. Default: every type. */
  tokenType?: string;
  /** Organizations per type in the top list. Default 10. */
  topLimit?: number;
  /** Near exhaustion below this percentage of the allowance. Default 10. */
  percent?: number;
  /** The spike watch: the day (default today, UTC), window, factor and floor (default 7, 3, 100). */
  spikes?: { day?: string; windowDays?: number; factor?: number; minTokens?: number };
  /** Grants expiring within this many days. Default 7. */
  withinDays?: number;
  /** The QueryClient to use; default: the one of the nearest `QueryClientProvider`. */
  queryClient?: QueryClient;
  /** Reference time for the default range and day; pass it for deterministic renders. */
  now?: Date;
  /** BCP 47 locale for numbers and dates (default: the browser's). */
  locale?: string;
}

const day = (d: Date) => d.toISOString().slice(0, 10);

/**
 * The operator's view of every organization — top usage per token type, buckets near exhaustion,
 * usage spikes against each organization's own average, grants expiring soon — as accessible
 * tables, read with TanStack Query from the app's own admin API (`baseUrl`), which must check that
 * the caller is an operator and forward to Tokengate's `/operator/*` routes with the server
 * credential. Not for members: it is a separate entry point (`tokengate/operator`).
 *
 * @example
 * // app/admin/page.tsx — /admin/api/tokengate/operator/* is the app's route that checks the
 * // operator's session and calls Tokengate's handler with `Authorization: Bearer <service secret>`.
 * <QueryClientProvider client={queryClient}>
 *   <OperatorConsole baseUrl="/admin/api/tokengate" percent={20} withinDays={14} />
 * </QueryClientProvider>
 */
export function OperatorConsole(props: OperatorConsoleProps) {
  const {
    baseUrl,
    fetch,
    title = 'Operator console',
    sections = ['top', 'nearExhaustion', 'spikes', 'expiringGrants'],
    range,
    tokenType,
    topLimit,
    percent,
    spikes,
    withinDays,
    queryClient,
    now,
    locale,
    className,
    ...rest
  } = props;
  const source: OperatorSource = { baseUrl, fetch };
  const today = day(now ?? new Date());
  const from = range?.from ?? day(new Date(Date.parse(`${today}T00:00:00Z`) - 29 * 86_400_000));
  const to = range?.to ?? today;
  const headingId = useId();
  const number = new Intl.NumberFormat(locale);
  const n = (value: number) => number.format(value);
  const when = (iso: string) => new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(iso)) + ' UTC';

  const show = (s: OperatorSection) => sections.includes(s);
  const top = useQuery({ ...operatorQueryOptions.top(source, { from, to, tokenType, limit: topLimit }), enabled: show('top') }, queryClient);
  const low = useQuery({ ...operatorQueryOptions.nearExhaustion(source, { percent }), enabled: show('nearExhaustion') }, queryClient);
  const spike = useQuery({ ...operatorQueryOptions.spikes(source, { day: spikes?.day ?? today, windowDays: spikes?.windowDays, factor: spikes?.factor, minTokens: spikes?.minTokens }), enabled: show('spikes') }, queryClient);
  const grants = useQuery({ ...operatorQueryOptions.expiringGrants(source, { withinDays }), enabled: show('expiringGrants') }, queryClient);

  const parts: Record<OperatorSection, ReactNode> = {
    top: (
      <OperatorTable
        key="top"
        title={`Top organizations, ${from} to ${to}${tokenType ? ` (${tokenType})` : ''}`}
        query={top}
        columns={['Token type', 'Rank', 'Organization', 'Plan', 'Tokens', 'Charges', 'Members']}
        numeric={[1, 4, 5, 6]}
        row={(r) => [r.tokenType, n(r.rank), r.orgId, r.planId, n(r.tokens), n(r.events), n(r.members)]}
        empty="No usage in this range."
      />
    ),
    nearExhaustion: (
      <OperatorTable
        key="nearExhaustion"
        title={`Near exhaustion (under ${percent ?? 10}% left)`}
        query={low}
        columns={['Organization', 'Plan', 'Token type', 'Available', 'Allowance', 'Left', 'Period ends']}
        numeric={[3, 4, 5]}
        row={(r) => [r.orgId, r.planId, r.tokenType, n(r.available), n(r.allowance), r.percentLeft === null ? '–' : `${r.percentLeft}%`, when(r.periodEnd)]}
        empty="No organization is running out."
      />
    ),
    spikes: (
      <OperatorTable
        key="spikes"
        title={`Usage spikes on ${spikes?.day ?? today}`}
        query={spike}
        columns={['Organization', 'Plan', 'Token type', 'Tokens', 'Daily average', 'Ratio']}
        numeric={[3, 4, 5]}
        row={(r) => [r.orgId, r.planId, r.tokenType, n(r.tokens), n(r.trailingAverage), r.ratio === null ? 'new' : `${n(r.ratio)}×`]}
        empty="No unusual usage."
      />
    ),
    expiringGrants: (
      <OperatorTable
        key="expiringGrants"
        title={`Grants expiring within ${withinDays ?? 7} days`}
        query={grants}
        columns={['Expires', 'Organization', 'Token type', 'Remaining', 'Amount', 'Source']}
        numeric={[3, 4]}
        row={(r) => [when(r.expiresAt) + (r.overdue ? ' (overdue)' : ''), r.orgId, r.tokenType, n(r.remaining), n(r.amount), r.source]}
        empty="No grant expires soon."
      />
    ),
  };

  return (
    <section data-slot="operator-console" aria-labelledby={headingId} className={cn('flex flex-col gap-6 text-tg-foreground', className)} {...rest}>
      <h2 id={headingId} className="text-lg font-semibold">
        {title}
      </h2>
      {sections.map((s) => parts[s])}
    </section>
  );
}

interface OperatorTableProps<R> {
  title: string;
  query: UseQueryResult<R[]>;
  columns: string[];
  /** Indexes of right-aligned (numeric) columns. */
  numeric: number[];
  row: (r: R) => string[];
  empty: string;
}

/** One part: a heading, then its table, a loading status, an error alert or an empty note. */
function OperatorTable<R>({ title, query, columns, numeric, row, empty }: OperatorTableProps<R>) {
  const id = useId();
  const align = (i: number) => (numeric.includes(i) ? 'text-right tabular-nums' : 'text-left');
  let body: ReactNode;
  if (query.isPending) {
    body = (
      <p role="status" className="text-sm text-tg-muted-foreground">
        Loading…
      </p>
    );
  } else if (query.isError) {
    body = (
      <p role="alert" className="text-sm text-tg-danger">
        Could not load: {query.error.message}
      </p>
    );
  } else if (query.data.length === 0) {
    body = <p className="text-sm text-tg-muted-foreground">{empty}</p>;
  } else {
    body = (
      <div className="overflow-x-auto">
        <table aria-labelledby={id} className="w-full text-sm">
          <thead className="text-xs text-tg-muted-foreground">
            <tr>
              {columns.map((c, i) => (
                <th key={c} scope="col" className={cn('px-2 py-1 font-medium', align(i))}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {query.data.map((r, index) => (
              <tr key={index} className="border-t border-tg-border">
                {row(r).map((cell, i) =>
                  i === 0 ? (
                    <th key={i} scope="row" className={cn('px-2 py-1 font-normal', align(i))}>
                      {cell}
                    </th>
                  ) : (
                    <td key={i} className={cn('px-2 py-1', align(i))}>
                      {cell}
                    </td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  return (
    <section aria-labelledby={id} className="flex flex-col gap-2">
      <h3 id={id} className="text-base font-medium">
        {title}
      </h3>
      {body}
    </section>
  );
}
