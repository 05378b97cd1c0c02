/**
 * `tokengate grant`: adds purchased (top-up) tokens to an organization, exactly once per key.
 */
import { randomUUID } from 'node:crypto';
import { DATABASE_HELP, DATABASE_OPTION, balanceLine, databaseUrl, intOption, required, uuidOption, withAdmin } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import type { Io } from './errors.ts';

export const GRANT_HELP = `Usage: tokengate grant --org <uuid> --type <tokenType> --amount <n> [--key <key>] [--reason <text>]

Adds <n> purchased tokens of a token type to an organization, as the server itself (no acting
user). Purchased tokens survive period refreshes and are spent after the plan's allowance.
Exactly once per idempotency key: running it again with the same --key grants nothing more.
Prints the new balance.

Options:
  --org <uuid>          the organization
  --type <tokenType>    the token type, e.g. quest_generation
  --amount <n>          tokens to add (a positive integer)
  --key <key>           idempotency key, e.g. the payment id (default: a random uuid)
  --reason <text>       recorded in the ledger entry's metadata
${DATABASE_HELP}
  -h, --help            show this help`;

export async function grant(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs('grant', argv, {
    ...DATABASE_OPTION,
    org: { type: 'string' },
    type: { type: 'string' },
    amount: { type: 'string' },
    key: { type: 'string' },
    reason: { type: 'string' },
  });
  if (values.help) {
    io.out(GRANT_HELP);
    return 0;
  }
  const orgId = uuidOption('grant', 'org', values.org);
  const tokenType = required('grant', 'type', values.type);
  const amount = intOption('grant', 'amount', values.amount, 1);
  const idempotencyKey = values.key ?? randomUUID();
  const url = databaseUrl('grant', values['database-url'], env);

  const result = await withAdmin('grant', url, ({ gate }) =>
    gate.grant({ orgId, actorId: null }, tokenType, {
      amount,
      idempotencyKey,
      metadata: { source: 'cli', ...(values.reason ? { reason: values.reason } : {}) },
    }),
  );
  io.out(
    result.replayed
      ? `Already granted with key ${idempotencyKey} (ledger entry ${result.ledgerId}); nothing added.`
      : `Granted ${result.granted} ${tokenType} tokens (ledger entry ${result.ledgerId}, key ${idempotencyKey}).`,
  );
  io.out(balanceLine(result.balance));
  return 0;
}
