/**
 * `tokengate init`: copies the shipped migrations into a Supabase project's `supabase/migrations/`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MIGRATIONS_DIR, migrationFiles } from '../server/migrate.ts';
import { parseCommandArgs } from './args.ts';
import { CommandError, UsageError, type Io } from './errors.ts';

export const INIT_HELP = `Usage: tokengate init [--dir <project>]

Copies Tokengate's SQL migrations into <project>/supabase/migrations/, keeping their file names
(and so their timestamps). Identical files already there are skipped; a file with the same name
but different content is never overwritten: init reports it, copies nothing and exits with 1.
Then prints what to add to supabase/config.toml and which environment variables the server needs.

Options:
  --dir <project>  the Supabase project folder (default: the current folder)
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
  const { values } = parseCommandArgs('init', argv, { dir: { type: 'string' } });
  if (values.help) {
    io.out(INIT_HELP);
    return 0;
  }
  const project = path.resolve(values.dir ?? '.');
  if (!existsSync(project)) throw new UsageError(`tokengate init: folder ${project} does not exist`);
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
