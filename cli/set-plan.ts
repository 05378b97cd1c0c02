/**
 * `tokengate set-plan`: moves an organization to another plan.
 */
import { DATABASE_HELP, DATABASE_OPTION, balancesTable, databaseUrl, required, uuidOption, withAdmin } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import type { Io } from './errors.ts';

export const SET_PLAN_HELP = `Usage: tokengate set-plan --org <uuid> --plan <id>

Moves an organization to another plan (starter, pro, enterprise, or one you added), effective now,
as the server itself. Prints the plan and the organization's balances.

Options:
  --org <uuid>          the organization
  --plan <id>           the plan id
${DATABASE_HELP}
  -h, --help            show this help`;

export async function setPlan(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs('set-plan', argv, { ...DATABASE_OPTION, org: { type: 'string' }, plan: { type: 'string' } });
  if (values.help) {
    io.out(SET_PLAN_HELP);
    return 0;
  }
  const orgId = uuidOption('set-plan', 'org', values.org);
  const planId = required('set-plan', 'plan', values.plan);
  const url = databaseUrl('set-plan', values['database-url'], env);

  const balances = await withAdmin('set-plan', url, ({ gate }) => gate.setPlan({ orgId, actorId: null }, planId));
  for (const line of balancesTable(balances)) io.out(line);
  return 0;
}
