/**
 * `tokengate accounts create|list|show`: register organizations and look at them.
 */
import { DATABASE_HELP, DATABASE_OPTION, balancesTable, databaseUrl, dayOption, intOption, required, uuidOption, withAdmin, type AdminSession } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { CommandError, UsageError, type Io } from './errors.ts';

export const ACCOUNTS_HELP = `Usage: tokengate accounts <create|list|show> [options]

Registers organizations (accounts) and shows them, as the server itself. An organization needs an
account before anything can be granted to or spent by it.

  accounts create --org <uuid> --plan <id> --owner <uuid> [--anchor <YYYY-MM-DD>]
                  register an organization on a plan with its first owner, then show it;
                  running it again for an existing organization changes nothing
  accounts list   [--plan <id>] [--limit <n>]
                  organizations, newest first: plan, members, first owner, period anchor
  accounts show   --org <uuid>
                  one organization: plan, period anchor, members and its balances

Options:
  --org <uuid>          the organization (your app's organization id)
  --plan <id>           create: the plan (starter, pro, enterprise, or one you added);
                        list: only organizations on this plan
  --owner <uuid>        create: the first owner's user id
  --anchor <day>        create: the subscription day the monthly periods are anchored on
                        (UTC midnight; default: now)
  --limit <n>           list: at most n organizations (default 100)
${DATABASE_HELP}
  -h, --help            show this help`;

const SUBCOMMANDS = ['create', 'list', 'show'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

interface AccountRow {
  org_id: string;
  plan_id: string;
  period_anchor: Date;
  created_at: Date;
  owners: number;
  admins: number;
  members: number;
  first_owner: string | null;
}

const ACCOUNT_SQL = `select a.org_id, a.plan_id, a.period_anchor, a.created_at,
       (select count(*)::int from tokengate.members m where m.org_id = a.org_id and m.role = 'owner') as owners,
       (select count(*)::int from tokengate.members m where m.org_id = a.org_id and m.role = 'admin') as admins,
       (select count(*)::int from tokengate.members m where m.org_id = a.org_id and m.role = 'member') as members,
       (select m.user_id from tokengate.members m where m.org_id = a.org_id and m.role = 'owner'
         order by m.created_at, m.user_id limit 1) as first_owner
  from tokengate.accounts a`;

export async function accounts(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    io.out(ACCOUNTS_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`tokengate accounts: unknown subcommand '${sub}' (create, list, show; see 'tokengate accounts --help')`);
  }
  const command = `accounts ${sub}`;
  const { values } = parseCommandArgs(command, rest, {
    ...DATABASE_OPTION,
    org: { type: 'string' },
    plan: { type: 'string' },
    owner: { type: 'string' },
    anchor: { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) {
    io.out(ACCOUNTS_HELP);
    return 0;
  }
  const allowed: Record<Subcommand, string[]> = {
    create: ['org', 'plan', 'owner', 'anchor'],
    list: ['plan', 'limit'],
    show: ['org'],
  };
  for (const name of ['org', 'plan', 'owner', 'anchor', 'limit'] as const) {
    if (values[name] !== undefined && !allowed[sub as Subcommand].includes(name)) {
      throw new UsageError(`tokengate ${command}: --${name} does not apply here (see 'tokengate accounts --help')`);
    }
  }

  if (sub === 'list') {
    const planId = values.plan === undefined ? null : required(command, 'plan', values.plan);
    const limit = values.limit === undefined ? 100 : intOption(command, 'limit', values.limit, 1, 100_000);
    const url = databaseUrl(command, values['database-url'], env);
    const rows = await withAdmin(command, url, async ({ query }) => {
      if (planId !== null) {
        const found = await query<{ exists: boolean }>('select exists (select 1 from tokengate.plans where id = $1) as exists', [planId]);
        if (!found[0]?.exists) throw new CommandError(`tokengate ${command}: unknown_plan: no plan '${planId}'`);
      }
      return query<AccountRow>(`${ACCOUNT_SQL} where $1::text is null or a.plan_id = $1 order by a.created_at desc, a.org_id limit $2`, [planId, limit + 1]);
    });
    if (rows.length === 0) {
      io.out('No organizations.');
      return 0;
    }
    const shown = rows.slice(0, limit);
    const table = [
      ['org id', 'plan', 'members', 'first owner', 'period anchor', 'created'],
      ...shown.map((r) => [r.org_id, r.plan_id, String(r.owners + r.admins + r.members), r.first_owner ?? '-', utc(r.period_anchor), utc(r.created_at)]),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) io.out(row.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd());
    if (rows.length > limit) io.err(`tokengate ${command}: showing the newest ${limit}; pass --limit for more`);
    return 0;
  }

  const orgId = uuidOption(command, 'org', values.org);
  if (sub === 'show') {
    const url = databaseUrl(command, values['database-url'], env);
    const lines = await withAdmin(command, url, (session) => describeAccount(command, session, orgId));
    for (const line of lines) io.out(line);
    return 0;
  }

  const planId = required(command, 'plan', values.plan);
  const ownerId = uuidOption(command, 'owner', values.owner);
  const anchor = values.anchor === undefined ? undefined : new Date(`${dayOption(command, 'anchor', values.anchor)}T00:00:00Z`);
  const url = databaseUrl(command, values['database-url'], env);
  const lines = await withAdmin(command, url, async (session) => {
    const result = await session.gate.createAccount({ orgId, planId, ownerId, ...(anchor ? { periodAnchor: anchor } : {}) });
    const head = result.created
      ? [`Created organization ${orgId} on plan ${result.planId} with owner ${ownerId}.`]
      : [
          `Organization ${orgId} already exists on plan ${result.planId}; nothing changed.` +
            (result.planId === planId ? '' : ` Use 'tokengate set-plan' to move it to ${planId}.`),
        ];
    return [...head, '', ...(await describeAccount(command, session, orgId))];
  });
  for (const line of lines) io.out(line);
  return 0;
}

/**
 * An organization's account and balances. Balances are read through the ledger's `balances`
 * function as the first owner (as `usage` does), so a period that is due is refreshed first and
 * the numbers are the ones the organization's members see.
 */
async function describeAccount(command: string, { gate, query }: AdminSession, orgId: string): Promise<string[]> {
  const [account] = await query<AccountRow>(`${ACCOUNT_SQL} where a.org_id = $1`, [orgId]);
  if (!account) throw new CommandError(`tokengate ${command}: unknown_organization: no organization ${orgId}`);
  const members = `${account.owners + account.admins + account.members} (${plural(account.owners, 'owner')}, ${plural(account.admins, 'admin')}, ${plural(account.members, 'member')})`;
  const lines = [
    `Organization:  ${account.org_id}`,
    `Period anchor: ${utc(account.period_anchor)} (periods renew monthly on this day, UTC)`,
    `Created:       ${utc(account.created_at)}`,
    `Members:       ${members}`,
  ];
  if (account.first_owner === null) return [...lines, `Plan: ${account.plan_id}`, '', 'No owner: balances cannot be read.'];
  const balances = await gate.balances({ orgId, userId: account.first_owner });
  return [...lines, ...balancesTable(balances)];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `2026-01-31T00:00:00Z`: an instant in UTC, to the second. */
function utc(date: Date | string): string {
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
