/**
 * The operator's view on the command line, as the server itself: `tokengate top` (top organizations
 * by usage per token type) and `tokengate orgs --near-exhaustion | --spikes | --expiring-grants`.
 * Each prints one aligned table, read from the operator functions (the usage rollup, the buckets,
 * the grants), never from a scan of the ledger.
 */
import { createOperatorApi } from '../server/operator/create-operator-api.ts';
import { DATABASE_HELP, DATABASE_OPTION, databaseUrl, dayOption, intOption, required, withAdmin } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { UsageError, type Io } from './errors.ts';

export const TOP_HELP = `Usage: tokengate top [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--type <id>] [--limit <n>]

Top organizations by tokens charged, per token type, over the UTC days [from, to] (at most 366
days), from the daily usage rollup (brought up to date first). Across every organization: the CLI
acts as the server.

Options:
  --from <day>          first day (default: 29 days before --to)
  --to <day>            last day, inclusive (default: today, UTC)
  --type <id>           one token type (default: every type, each ranked on its own)
  --limit <n>           organizations per type, 1 to 1000 (default: 10)
${DATABASE_HELP}
  -h, --help            show this help

Example:
  tokengate top --from 2026-11-01 --to 2026-11-30 --type quest_generation --limit 5`;

export const ORGS_HELP = `Usage: tokengate orgs --near-exhaustion [--percent <n>] [--limit <n>]
       tokengate orgs --spikes [--day YYYY-MM-DD] [--window <days>] [--factor <x>] [--min-tokens <n>]
       tokengate orgs --expiring-grants [--within-days <n>] [--limit <n>]

Organizations that need an operator's attention, across every organization (the CLI acts as the
server). Exactly one of:

  --near-exhaustion     metered buckets with nothing available, or less than --percent of the
                        period's allowance (default 10), most exhausted first (from the buckets)
  --spikes              usage of a type on --day (default: today, UTC) above --factor (default 3)
                        times the organization's own daily average over the --window days before
                        it (default 7), with at least --min-tokens (default 100) that day
  --expiring-grants     active grants with tokens left expiring within --within-days (default 7),
                        soonest first; "overdue" ones expired but were not swept yet

Options:
  --limit <n>           at most n rows, 1 to 1000 (default: 100)
${DATABASE_HELP}
  -h, --help            show this help`;

/** `2026-11-30`: today in UTC. */
function today(): string {
  return new Date().toISOString().slice(0, 10);
}

function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * Rows as an aligned table: a header, columns two spaces apart, numbers right-aligned.
 *
 * @example
 * table(['org id', 'tokens'], [['…', '12']], [1]); // ['org id  tokens', '…           12']
 */
export function table(header: string[], rows: string[][], numeric: number[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** `2026-01-31T00:00:00Z`: an instant in UTC, to the second. */
function utc(value: string): string {
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function top(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs('top', argv, {
    ...DATABASE_OPTION,
    from: { type: 'string' },
    to: { type: 'string' },
    type: { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) {
    io.out(TOP_HELP);
    return 0;
  }
  const to = values.to === undefined ? today() : dayOption('top', 'to', values.to);
  const from = values.from === undefined ? addDays(to, -29) : dayOption('top', 'from', values.from);
  if (from > to) throw new UsageError(`tokengate top: --from (${from}) is after --to (${to})`);
  if ((Date.parse(to) - Date.parse(from)) / 86_400_000 > 366) throw new UsageError('tokengate top: the range may span at most 366 days');
  const tokenType = values.type === undefined ? undefined : required('top', 'type', values.type);
  const limit = values.limit === undefined ? 10 : intOption('top', 'limit', values.limit, 1, 1000);
  const url = databaseUrl('top', values['database-url'], env);

  const rows = await withAdmin('top', url, ({ gate }) => createOperatorApi(gate.store).top({ from, to, tokenType, limit }));
  io.out(`Top organizations by tokens charged, ${from} to ${to} (UTC)${tokenType ? `, ${tokenType}` : ''}:`);
  io.out('');
  if (rows.length === 0) {
    io.out('No usage in this range.');
    return 0;
  }
  const lines = table(
    ['token type', 'rank', 'org id', 'plan', 'tokens', 'charges', 'members'],
    rows.map((r) => [r.tokenType, String(r.rank), r.orgId, r.planId, String(r.tokens), String(r.events), String(r.members)]),
    [1, 4, 5, 6],
  );
  for (const line of lines) io.out(line);
  return 0;
}

const MODES = ['near-exhaustion', 'spikes', 'expiring-grants'] as const;
type Mode = (typeof MODES)[number];

/** Options that belong to one mode only. */
const MODE_OPTIONS: Record<string, Mode> = {
  percent: 'near-exhaustion',
  day: 'spikes',
  window: 'spikes',
  factor: 'spikes',
  'min-tokens': 'spikes',
  'within-days': 'expiring-grants',
};

export async function orgs(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs('orgs', argv, {
    ...DATABASE_OPTION,
    'near-exhaustion': { type: 'boolean' },
    spikes: { type: 'boolean' },
    'expiring-grants': { type: 'boolean' },
    percent: { type: 'string' },
    day: { type: 'string' },
    window: { type: 'string' },
    factor: { type: 'string' },
    'min-tokens': { type: 'string' },
    'within-days': { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) {
    io.out(ORGS_HELP);
    return 0;
  }
  const modes = MODES.filter((m) => values[m]);
  if (modes.length !== 1) {
    throw new UsageError(`tokengate orgs: pass exactly one of --near-exhaustion, --spikes, --expiring-grants (see 'tokengate orgs --help')`);
  }
  const mode = modes[0]!;
  for (const [name, owner] of Object.entries(MODE_OPTIONS)) {
    if (values[name as keyof typeof values] !== undefined && owner !== mode) {
      throw new UsageError(`tokengate orgs: --${name} applies to --${owner} only (see 'tokengate orgs --help')`);
    }
  }
  if (values.limit !== undefined && mode === 'spikes') throw new UsageError('tokengate orgs: --limit does not apply to --spikes');
  const limit = values.limit === undefined ? 100 : intOption('orgs', 'limit', values.limit, 1, 1000);

  if (mode === 'near-exhaustion') {
    const percent = values.percent === undefined ? 10 : intOption('orgs', 'percent', values.percent, 1, 100);
    const url = databaseUrl('orgs', values['database-url'], env);
    const rows = await withAdmin('orgs', url, ({ gate }) => createOperatorApi(gate.store).nearExhaustion({ percent, limit }));
    io.out(`Metered buckets with nothing left or under ${percent}% of the allowance:`);
    io.out('');
    if (rows.length === 0) return (io.out('None.'), 0);
    const lines = table(
      ['org id', 'plan', 'token type', 'available', 'allowance', 'left', 'purchased', 'held', 'period ends'],
      rows.map((r) => [
        r.orgId,
        r.planId,
        r.tokenType,
        String(r.available),
        String(r.allowance),
        r.percentLeft === null ? '-' : `${r.percentLeft}%`,
        String(r.purchased),
        String(r.held),
        utc(r.periodEnd),
      ]),
      [3, 4, 5, 6, 7],
    );
    for (const line of lines) io.out(line);
    return 0;
  }

  if (mode === 'spikes') {
    const day = values.day === undefined ? today() : dayOption('orgs', 'day', values.day);
    const windowDays = values.window === undefined ? 7 : intOption('orgs', 'window', values.window, 1, 90);
    const factor = values.factor === undefined ? 3 : Number(values.factor);
    if (values.factor !== undefined && (!/^\d+(\.\d+)?$/.test(values.factor) || factor < 1 || factor > 1000)) {
      throw new UsageError(`tokengate orgs: --factor must be a number from 1 to 1000, got '${values.factor}'`);
    }
    const minTokens = values['min-tokens'] === undefined ? 100 : intOption('orgs', 'min-tokens', values['min-tokens'], 0, 1_000_000_000);
    const url = databaseUrl('orgs', values['database-url'], env);
    const rows = await withAdmin('orgs', url, ({ gate }) => createOperatorApi(gate.store).spikes({ day, windowDays, factor, minTokens }));
    io.out(`Usage on ${day} above ${factor}× the organization's daily average of the ${windowDays} days before (at least ${minTokens} tokens):`);
    io.out('');
    if (rows.length === 0) return (io.out('None.'), 0);
    const lines = table(
      ['org id', 'plan', 'token type', 'tokens', 'daily average', 'ratio'],
      rows.map((r) => [r.orgId, r.planId, r.tokenType, String(r.tokens), String(r.trailingAverage), r.ratio === null ? 'new' : `${r.ratio}×`]),
      [3, 4, 5],
    );
    for (const line of lines) io.out(line);
    return 0;
  }

  const withinDays = values['within-days'] === undefined ? 7 : intOption('orgs', 'within-days', values['within-days'], 1, 366);
  const url = databaseUrl('orgs', values['database-url'], env);
  const rows = await withAdmin('orgs', url, ({ gate }) => createOperatorApi(gate.store).expiringGrants({ withinDays, limit }));
  io.out(`Active grants with tokens left expiring within ${withinDays} day${withinDays === 1 ? '' : 's'}:`);
  io.out('');
  if (rows.length === 0) return (io.out('None.'), 0);
  const lines = table(
    ['expires', 'org id', 'plan', 'token type', 'remaining', 'amount', 'source', 'grant id'],
    rows.map((r) => [
      utc(r.expiresAt) + (r.overdue ? ' (overdue)' : ''),
      r.orgId,
      r.planId,
      r.tokenType,
      String(r.remaining),
      String(r.amount),
      r.source,
      r.grantId,
    ]),
    [4, 5],
  );
  for (const line of lines) io.out(line);
  return 0;
}
