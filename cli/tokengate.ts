/**
 * The `tokengate` command line (package `bin`): `tokengate <command> [options]`.
 * User mistakes print one line on stderr and exit with 2; failures the user must act on
 * (drift, a changed file, a database error) exit with 1; neither prints a stack trace.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, UsageError, processIo, type Io } from './errors.ts';
import { accounts } from './accounts.ts';
import { adjust } from './adjust.ts';
import { demo } from './demo.ts';
import { grant } from './grant.ts';
import { init } from './init.ts';
import { members } from './members.ts';
import { migrate } from './migrate.ts';
import { orgs, top } from './operator.ts';
import { setPlan } from './set-plan.ts';
import { usage } from './usage.ts';

const COMMANDS: Record<string, { summary: string; run: (argv: string[], io: Io) => Promise<number> }> = {
  init: { summary: 'copy the migrations into supabase/migrations/; --next or --vite: scaffold Tokengate into your app', run: init },
  migrate: { summary: 'apply the migrations to a Postgres database (plain Postgres or Supabase)', run: migrate },
  accounts: { summary: 'register an organization (create) or show organizations and their balances (list, show)', run: accounts },
  grant: { summary: 'add purchased tokens to an organization (exactly once per --key); prints the balance', run: grant },
  'set-plan': { summary: 'move an organization to another plan; prints the plan and balances', run: setPlan },
  adjust: { summary: "correct an organization's tokens by hand (±n) with a reason", run: adjust },
  members: { summary: "list, add or remove an organization's members, or set a member's quota", run: members },
  top: { summary: 'operators: top organizations by usage per token type over a range of days', run: top },
  orgs: { summary: 'operators: organizations near exhaustion, with usage spikes, or with grants expiring soon', run: orgs },
  usage: { summary: "export an organization's ledger for a range of days as CSV or JSON", run: usage },
  // Loaded on use: it needs the webhook signing library and zod, which no other command does.
  webhooks: {
    summary: 'list alerts and their deliveries, replay one, or drain the outbox to your endpoint once',
    run: async (argv, io) => (await import('./webhooks.ts')).webhooks(argv, io),
  },
  // Loaded on use: it needs zod and may import the app's config module.
  catalog: {
    summary: 'write (init), compare (diff) or apply (push) the catalog of tokengate.config.ts: plans, token types, costs, allowances',
    run: async (argv, io) => (await import('./catalog.ts')).catalog(argv, io),
  },
  demo: { summary: 'start the playground (from a clone of the repository)', run: demo },
};

export const HELP = `Usage: tokengate <command> [options]

Meter and gate AI features with atomic, exactly-once token ledgers on your own Postgres.

Commands:
${Object.entries(COMMANDS)
  .map(([name, { summary }]) => `  ${name.padEnd(10)}${summary}`)
  .join('\n')}

Options:
  -h, --help     show this help ('tokengate <command> --help' for a command's options)
  -v, --version  print the version`;

/** The package version, from the package.json next to `dist/` (or `cli/` when run from source). */
export function version(): string {
  const pkg = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/** Runs the CLI and returns its exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
      io.out(HELP);
      return first === undefined ? 2 : 0;
    }
    if (first === '-v' || first === '--version') {
      io.out(version());
      return 0;
    }
    const command = COMMANDS[first];
    if (!command) {
      throw new UsageError(
        first.startsWith('-')
          ? `tokengate: unknown option '${first}' (see 'tokengate --help')`
          : `tokengate: unknown command '${first}' (commands: ${Object.keys(COMMANDS).join(', ')}; see 'tokengate --help')`,
      );
    }
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(err.message);
      return 2;
    }
    if (err instanceof CommandError) {
      io.err(err.message);
      return 1;
    }
    io.err(`tokengate: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  // Keep a failure already recorded (stdout that failed for a reason other than a closed pipe).
  if (code !== 0 || !process.exitCode) process.exitCode = code;
});
