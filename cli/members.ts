/**
 * `tokengate members list|add|remove|quota`: an organization's members, their roles and quotas.
 */
import { DATABASE_HELP, DATABASE_OPTION, choiceOption, databaseUrl, intOption, required, uuidOption, withAdmin } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { CommandError, UsageError, type Io } from './errors.ts';

const ROLES = ['owner', 'admin', 'member'] as const;

export const MEMBERS_HELP = `Usage: tokengate members <list|add|remove|quota> --org <uuid> [options]

Manages an organization's members as the server itself.

  members list   --org <uuid>                                   members with their roles and quotas
  members add    --org <uuid> --user <uuid> [--role <role>]      add a member or change their role
  members remove --org <uuid> --user <uuid>                     remove a member (their history stays)
  members quota  --org <uuid> --user <uuid> --type <tokenType> --quota <n|none>
                                                                cap a member's spend per period

Options:
  --org <uuid>          the organization
  --user <uuid>         the member's user id
  --role <role>         owner, admin or member (default: member)
  --type <tokenType>    the token type, e.g. quest_generation
  --quota <n|none>      tokens per period, or none to remove the cap
${DATABASE_HELP}
  -h, --help            show this help`;

const SUBCOMMANDS = ['list', 'add', 'remove', 'quota'] as const;

export async function members(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    io.out(MEMBERS_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`tokengate members: unknown subcommand '${sub}' (list, add, remove, quota; see 'tokengate members --help')`);
  }
  const command = `members ${sub}`;
  const { values } = parseCommandArgs(command, rest, {
    ...DATABASE_OPTION,
    org: { type: 'string' },
    user: { type: 'string' },
    role: { type: 'string' },
    type: { type: 'string' },
    quota: { type: 'string' },
  });
  if (values.help) {
    io.out(MEMBERS_HELP);
    return 0;
  }
  const allowed: Record<(typeof SUBCOMMANDS)[number], string[]> = {
    list: ['org'],
    add: ['org', 'user', 'role'],
    remove: ['org', 'user'],
    quota: ['org', 'user', 'type', 'quota'],
  };
  for (const name of ['user', 'role', 'type', 'quota'] as const) {
    if (values[name] !== undefined && !allowed[sub as (typeof SUBCOMMANDS)[number]].includes(name)) {
      throw new UsageError(`tokengate ${command}: --${name} does not apply here (see 'tokengate members --help')`);
    }
  }
  const orgId = uuidOption(command, 'org', values.org);

  if (sub === 'list') {
    const url = databaseUrl(command, values['database-url'], env);
    const rows = await withAdmin(command, url, async ({ query }) => {
      const found = await query<{ exists: boolean }>('select exists (select 1 from tokengate.accounts where org_id = $1) as exists', [orgId]);
      if (!found[0]?.exists) throw new CommandError(`tokengate ${command}: unknown_organization: no organization ${orgId}`);
      return query<{ user_id: string; role: string; quotas: string | null }>(
        `select m.user_id, m.role,
                (select string_agg(q.token_type_id || '=' || q.monthly_quota, ', ' order by q.token_type_id)
                   from tokengate.member_quotas q where q.org_id = m.org_id and q.user_id = m.user_id) as quotas
           from tokengate.members m
          where m.org_id = $1
          order by case m.role when 'owner' then 0 when 'admin' then 1 else 2 end, m.created_at, m.user_id`,
        [orgId],
      );
    });
    if (rows.length === 0) {
      io.out('No members.');
      return 0;
    }
    io.out(`${'user id'.padEnd(36)}  ${'role'.padEnd(6)}  quotas`);
    for (const row of rows) io.out(`${row.user_id}  ${row.role.padEnd(6)}  ${row.quotas ?? '-'}`.trimEnd());
    return 0;
  }

  const userId = uuidOption(command, 'user', values.user);
  if (sub === 'add') {
    const role = values.role === undefined ? 'member' : choiceOption(command, 'role', values.role, ROLES);
    const url = databaseUrl(command, values['database-url'], env);
    const result = await withAdmin(command, url, ({ gate }) => gate.addMember({ orgId, actorId: null }, userId, role));
    io.out(`${result.userId} is now ${result.role === 'admin' || result.role === 'owner' ? 'an' : 'a'} ${result.role} of ${result.orgId}.`);
    return 0;
  }
  if (sub === 'remove') {
    const url = databaseUrl(command, values['database-url'], env);
    await withAdmin(command, url, ({ gate }) => gate.removeMember({ orgId, actorId: null }, userId));
    io.out(`${userId} removed from ${orgId}.`);
    return 0;
  }
  const tokenType = required(command, 'type', values.type);
  const quota = values.quota === 'none' ? null : intOption(command, 'quota', values.quota, 0);
  const url = databaseUrl(command, values['database-url'], env);
  const result = await withAdmin(command, url, ({ gate }) => gate.setMemberQuota({ orgId, actorId: null }, userId, tokenType, quota));
  io.out(
    result.quota === null
      ? `${userId} has no ${result.tokenType} quota in ${orgId}.`
      : `${userId} may spend ${result.quota} ${result.tokenType} tokens per period in ${orgId}.`,
  );
  return 0;
}
