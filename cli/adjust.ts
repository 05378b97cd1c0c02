/**
 * `tokengate adjust`: a manual correction of an organization's tokens, with a reason.
 */
import { randomUUID } from 'node:crypto';
import { DATABASE_HELP, DATABASE_OPTION, balanceLine, databaseUrl, intOption, required, uuidOption, withAdmin } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { UsageError, type Io } from './errors.ts';

export const ADJUST_HELP = `Usage: tokengate adjust --org <uuid> --type <tokenType> --amount <±n> --reason <text> [--key <key>]

Corrects an organization's tokens by hand, as the server itself, with a reason kept in the ledger.
A positive amount adds purchased tokens; a negative one removes tokens (never below zero: the
ledger refuses with insufficient_tokens). Exactly once per idempotency key.
Prints the new balance.

Options:
  --org <uuid>          the organization
  --type <tokenType>    the token type, e.g. quest_generation
  --amount <±n>         tokens to add (e.g. 5) or remove (e.g. -5); not 0
  --reason <text>       why (required; recorded in the ledger)
  --key <key>           idempotency key (default: a random uuid)
${DATABASE_HELP}
  -h, --help            show this help`;

export async function adjust(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs('adjust', argv, {
    ...DATABASE_OPTION,
    org: { type: 'string' },
    type: { type: 'string' },
    amount: { type: 'string' },
    reason: { type: 'string' },
    key: { type: 'string' },
  });
  if (values.help) {
    io.out(ADJUST_HELP);
    return 0;
  }
  const orgId = uuidOption('adjust', 'org', values.org);
  const tokenType = required('adjust', 'type', values.type);
  const amount = intOption('adjust', 'amount', values.amount, -2_147_483_647);
  if (amount === 0) throw new UsageError("tokengate adjust: --amount must not be 0 (see 'tokengate adjust --help')");
  const reason = required('adjust', 'reason', values.reason?.trim());
  const idempotencyKey = values.key ?? randomUUID();
  const url = databaseUrl('adjust', values['database-url'], env);

  const result = await withAdmin('adjust', url, ({ gate }) =>
    gate.adjust({ orgId, actorId: null }, tokenType, { amount, reason, idempotencyKey, metadata: { source: 'cli' } }),
  );
  io.out(
    result.replayed
      ? `Already adjusted with key ${idempotencyKey} (ledger entry ${result.ledgerId}); nothing changed.`
      : `Adjusted ${tokenType} by ${result.amount > 0 ? '+' : ''}${result.amount} (ledger entry ${result.ledgerId}, key ${idempotencyKey}).`,
  );
  io.out(balanceLine(result.balance));
  return 0;
}
