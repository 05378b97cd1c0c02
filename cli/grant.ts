/**
 * `tokengate grant`: adds a grant of tokens (a top-up, promo, …) to an organization, exactly once per key.
 */
import { randomUUID } from 'node:crypto';
import { DATABASE_HELP, DATABASE_OPTION, balanceLine, databaseUrl, intOption, required, uuidOption, withAdmin } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { UsageError, type Io } from './errors.ts';
import type { GrantSource } from '../src/core/types.ts';

export const GRANT_HELP = `Usage: tokengate grant --org <uuid> --type <tokenType> --amount <n> [--key <key>] [--reason <text>]
                      [--source purchase|promo|plan|adjustment] [--expires-at <ISO time>] [--starts-at <ISO time>] [--priority <0-100>]

Adds a grant of <n> tokens of a token type to an organization, as the server itself (no acting
user). Grants survive period refreshes and are spent after the plan's allowance: soonest expiry
first, then priority, then age. Exactly once per idempotency key: running it again with the same
--key grants nothing more. Prints the new balance.

Options:
  --org <uuid>          the organization
  --type <tokenType>    the token type, e.g. quest_generation, or '*' for any type (the shared pool)
  --amount <n>          tokens to add (a positive integer)
  --key <key>           idempotency key, e.g. the payment id (default: a random uuid)
  --reason <text>       recorded in the ledger entry's metadata
  --source <source>     purchase (default), promo, plan or adjustment
  --expires-at <time>   when what is left of it expires (default: never)
  --starts-at <time>    when it joins the balance (default: now)
  --priority <0-100>    among grants of the same expiry, 0 is spent first (default 50)
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
    source: { type: 'string' },
    'expires-at': { type: 'string' },
    'starts-at': { type: 'string' },
    priority: { type: 'string' },
  });
  if (values.help) {
    io.out(GRANT_HELP);
    return 0;
  }
  const orgId = uuidOption('grant', 'org', values.org);
  const tokenType = required('grant', 'type', values.type);
  const amount = intOption('grant', 'amount', values.amount, 1);
  const idempotencyKey = values.key ?? randomUUID();
  const source = values.source ?? 'purchase';
  if (!(['purchase', 'promo', 'plan', 'adjustment'] as const).includes(source as GrantSource)) {
    throw new UsageError(`tokengate grant: --source must be purchase, promo, plan or adjustment`);
  }
  const time = (name: 'expires-at' | 'starts-at') => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (Number.isNaN(Date.parse(value))) throw new UsageError(`tokengate grant: --${name} must be an ISO date-time, e.g. 2027-01-01T00:00:00Z`);
    return new Date(value);
  };
  const expiresAt = time('expires-at');
  const effectiveAt = time('starts-at');
  const priority = values.priority === undefined ? undefined : intOption('grant', 'priority', values.priority, 0, 100);
  const url = databaseUrl('grant', values['database-url'], env);

  const result = await withAdmin('grant', url, ({ gate }) =>
    gate.grant({ orgId, actorId: null }, tokenType, {
      amount,
      idempotencyKey,
      metadata: { source: 'cli', ...(values.reason ? { reason: values.reason } : {}) },
      source: source as GrantSource,
      ...(expiresAt ? { expiresAt } : {}),
      ...(effectiveAt ? { effectiveAt } : {}),
      ...(priority === undefined ? {} : { priority }),
    }),
  );
  io.out(
    result.replayed
      ? `Already granted with key ${idempotencyKey} (ledger entry ${result.ledgerId}); nothing added.`
      : result.ledgerId === null
        ? `Scheduled a grant of ${result.granted} ${tokenType} tokens from ${result.effectiveAt} (key ${idempotencyKey}).`
        : `Granted ${result.granted} ${tokenType} tokens (ledger entry ${result.ledgerId}, key ${idempotencyKey})${result.expiresAt ? `, expiring ${result.expiresAt}` : ''}.`,
  );
  io.out(balanceLine(result.balance));
  return 0;
}
