/**
 * `tokengate usage`: streams an organization's ledger entries for a range of days to stdout as CSV
 * (the same columns and quoting as the HTTP export) or one JSON array, page by page.
 */
import type { LedgerEntry } from '../server/gate.ts';
import { CSV_COLUMNS, csvRow } from '../server/http/usage-export.ts';
import { DATABASE_HELP, DATABASE_OPTION, choiceOption, databaseUrl, dayOption, intOption, uuidOption, withAdmin } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { CommandError, UsageError, type Io } from './errors.ts';

export const USAGE_HELP = `Usage: tokengate usage --org <uuid> --from YYYY-MM-DD --to YYYY-MM-DD [--format csv|json] [--as <userId>]

Writes an organization's ledger entries (grants, deductions, reservations, refunds, adjustments…)
for the UTC days [from, to] to stdout, fetched page by page so an export of any size streams.
CSV has a header row and the columns ${CSV_COLUMNS.join(', ')}
(metadata as JSON); JSON is one array of entries. Progress goes to stderr every 10 pages.

The export is read as a member of the organization: --as <userId>, or by default the
organization's first owner.

Options:
  --org <uuid>          the organization
  --from <day>          first day, YYYY-MM-DD (UTC)
  --to <day>            last day, YYYY-MM-DD (UTC), inclusive
  --format <csv|json>   output format (default: csv)
  --as <userId>         read as this member (default: the first owner)
  --page-size <n>       entries per page, 1 to 10000 (default: 1000)
${DATABASE_HELP}
  -h, --help            show this help

Example:
  tokengate usage --org <uuid> --from 2026-11-01 --to 2026-11-30 > usage.csv`;

/** Pages between two progress lines on stderr. */
export const PROGRESS_EVERY = 10;

/** The ledger's longest export range. */
const MAX_DAYS = 3660;

export async function usage(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs('usage', argv, {
    ...DATABASE_OPTION,
    org: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string' },
    as: { type: 'string' },
    'page-size': { type: 'string' },
  });
  if (values.help) {
    io.out(USAGE_HELP);
    return 0;
  }
  const orgId = uuidOption('usage', 'org', values.org);
  const from = dayOption('usage', 'from', values.from);
  const to = dayOption('usage', 'to', values.to);
  if (from > to) throw new UsageError(`tokengate usage: --from (${from}) is after --to (${to})`);
  if ((Date.parse(to) - Date.parse(from)) / 86_400_000 > MAX_DAYS) throw new UsageError(`tokengate usage: the range may span at most ${MAX_DAYS} days (10 years)`);
  const format = values.format === undefined ? 'csv' : choiceOption('usage', 'format', values.format, ['csv', 'json'] as const);
  const asUser = values.as === undefined ? undefined : uuidOption('usage', 'as', values.as);
  const limit = values['page-size'] === undefined ? 1000 : intOption('usage', 'page-size', values['page-size'], 1, 10_000);
  const url = databaseUrl('usage', values['database-url'], env);
  const output = io.write ?? (async (chunk: string) => io.out(chunk.replace(/\r?\n$/, '')));
  // A reader that goes away (`tokengate usage … | head`) ends the export quietly.
  let closed = false;
  const write = async (chunk: string) => {
    if (closed || chunk === '') return;
    try {
      await output(chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
      closed = true;
    }
  };

  await withAdmin('usage', url, async ({ gate, query }) => {
    let userId = asUser;
    if (userId === undefined) {
      const owners = await query<{ user_id: string }>(
        "select user_id from tokengate.members where org_id = $1 and role = 'owner' order by created_at, user_id limit 1",
        [orgId],
      );
      userId = owners[0]?.user_id;
      if (userId === undefined) throw new CommandError(`tokengate usage: organization ${orgId} does not exist or has no owner; pass --as <member user id>`);
    }
    const ctx = { orgId, userId };
    const render = (entries: LedgerEntry[], first: boolean) =>
      format === 'csv' ? entries.map(csvRow).join('') : entries.map((e, i) => (first && i === 0 ? '\n' : ',\n') + JSON.stringify(e)).join('');

    // The first page is read before anything is written, so an error leaves stdout empty.
    let page = await gate.exportPage(ctx, { from, to, afterId: 0, limit });
    let pages = 1;
    let count = page.entries.length;
    await write((format === 'csv' ? CSV_COLUMNS.join(',') + '\r\n' : '[') + render(page.entries, true));
    while (page.nextAfterId !== null && !closed) {
      page = await gate.exportPage(ctx, { from, to, afterId: page.nextAfterId, limit });
      await write(render(page.entries, count === 0));
      pages++;
      count += page.entries.length;
      if (pages % PROGRESS_EVERY === 0) io.err(`tokengate usage: ${pages} pages, ${count} entries so far…`);
    }
    if (format === 'json') await write(count === 0 ? ']\n' : '\n]\n');
    if (pages >= PROGRESS_EVERY) io.err(`tokengate usage: done, ${count} entries in ${pages} pages.`);
  });
  return 0;
}
