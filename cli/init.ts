/**
 * `tokengate init`: copies the shipped migrations into a Supabase project's `supabase/migrations/`;
 * with `--next` or `--vite`, scaffolds Tokengate into an existing app instead (cli/init-app.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MIGRATIONS_DIR, migrationFiles } from '../server/migrate.ts';
import { parseCommandArgs } from './args.ts';
import { CommandError, UsageError, type Io } from './errors.ts';
import { askOnTerminal, initApp } from './init-app.ts';

export const INIT_HELP = `Usage: tokengate init [--dir <project>]
       tokengate init --next | --vite [--dir <app>] [--yes]

Without --next or --vite: copies Tokengate's SQL migrations into <project>/supabase/migrations/,
keeping their file names (and so their timestamps). Identical files already there are skipped; a
file with the same name but different content is never overwritten: init reports it, copies
nothing and exits with 1. Then prints what to add to supabase/config.toml and which environment
variables the server needs.

With --next (a Next.js App Router app: app/ or src/app/) or --vite (a Vite + React app): writes
Tokengate into the app, as TypeScript when it has a tsconfig.json, else JavaScript —
  Next.js: lib/tokengate (the server module: createTokenGate, createHandler, an example guard),
           app/api/tokengate/[...path]/route (the kit's REST API), app/api/generate-quest/route
           (the guarded example AI route), app/tokengate/providers ('use client'; TokenGateProvider),
           example (a gated button, TokenDashboard, UpgradePrompt) and page (/tokengate);
           under src/ when the app uses src/app/.
  Vite:    server/tokengate and server/index (the server module, on Hono), src/tokengate/providers,
           example and page (render <TokenGatePage /> yourself; vite.config is not edited).
Then prints the packages to install, the environment variables and the next commands
(\`tokengate migrate\`). The migrations are not copied: \`tokengate migrate\` applies them.
Existing files are never lost: a missing file is created and an identical one left alone. A file
that differs is shown as a diff with a prompt when stdin is a terminal (default: keep it); when it
is not (CI, scripts) it is kept and listed. --yes overwrites differing files without asking. A
second run writes nothing and says so.

Options:
  --dir <project>  the project or app folder (default: the current folder)
  --next           scaffold into a Next.js App Router app
  --vite           scaffold into a Vite + React app
  --yes            with --next/--vite: overwrite files that differ from the templates, without asking
  -h, --help       show this help`;

export const CONFIG_HINT = `Expose the tokengate schema to the Data API: in supabase/config.toml add "tokengate" to

  [api]
  schemas = ["public", "graphql_public", "tokengate"]

(on a hosted project: Project Settings → Data API → Exposed schemas).`;

export const ENV_HINT = `The server module needs:
  DATABASE_URL                 Postgres connection string (postgresStore), or
  SUPABASE_URL                 with SUPABASE_SERVICE_ROLE_KEY (supabaseStore and supabaseAuth)
  SUPABASE_SERVICE_ROLE_KEY
  TOKENGATE_SERVICE_SECRET     shared secret for server-to-server calls (bearerSecret)`;

export async function init(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs('init', argv, {
    dir: { type: 'string' },
    next: { type: 'boolean' },
    vite: { type: 'boolean' },
    yes: { type: 'boolean' },
  });
  if (values.help) {
    io.out(INIT_HELP);
    return 0;
  }
  const project = path.resolve(values.dir ?? '.');
  if (!existsSync(project)) throw new UsageError(`tokengate init: folder ${project} does not exist`);
  if (values.next && values.vite) throw new UsageError("tokengate init: --next and --vite exclude each other (see 'tokengate init --help')");
  if (values.next || values.vite) {
    return initApp(project, values.next ? 'next' : 'vite', { yes: values.yes === true, ask: process.stdin.isTTY ? askOnTerminal : undefined }, io);
  }
  if (values.yes) throw new UsageError("tokengate init: --yes applies only with --next or --vite (see 'tokengate init --help')");
  const target = path.join(project, 'supabase', 'migrations');

  const files = await migrationFiles(MIGRATIONS_DIR, { compat: false });
  const plan: { name: string; sql: string; action: 'copy' | 'skip' }[] = [];
  const conflicts: string[] = [];
  for (const file of files) {
    const dest = path.join(target, file.name);
    if (!existsSync(dest)) plan.push({ ...file, action: 'copy' });
    else if ((await readFile(dest, 'utf8')) === file.sql) plan.push({ ...file, action: 'skip' });
    else conflicts.push(path.relative(process.cwd(), dest) || dest);
  }
  if (conflicts.length > 0) {
    for (const file of conflicts) io.err(`tokengate init: ${file} differs from the shipped migration; not overwriting it`);
    throw new CommandError(
      `tokengate init: ${conflicts.length} changed file(s), nothing copied. Move your changes into a new migration and restore the file(s), or delete them to copy them again.`,
    );
  }

  await mkdir(target, { recursive: true });
  let copied = 0;
  for (const file of plan) {
    if (file.action === 'copy') {
      await writeFile(path.join(target, file.name), file.sql, { flag: 'wx' });
      copied++;
      io.out(`copied   supabase/migrations/${file.name}`);
    } else {
      io.out(`skipped  supabase/migrations/${file.name} (identical)`);
    }
  }
  io.out(`${copied} migration(s) copied, ${plan.length - copied} already present.`);
  if (!existsSync(path.join(project, 'supabase', 'config.toml'))) {
    io.out('Note: no supabase/config.toml here yet; run `supabase init` in this folder if it is not a Supabase project.');
  }
  io.out('');
  io.out(CONFIG_HINT);
  io.out('');
  io.out(ENV_HINT);
  io.out('');
  io.out('Then apply them with `supabase db push` (or `supabase db reset` locally).');
  return 0;
}
