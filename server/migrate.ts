/**
 * Apply Tokengate's SQL migrations to a database: the demo, the CLI and the tests all use this.
 * On Supabase, use `supabase db push` with the files in `migrations/` instead.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The `migrations/` folder shipped with this package. */
// path.join, not new URL(): under jsdom the global URL resolves relative to the page, not the file.
export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');

/** The Supabase compatibility script, relative to the migrations folder: runs first on non-Supabase Postgres. */
export const COMPAT_MIGRATION = 'compat/supabase-compat.sql';

/**
 * The migrations in the order they run: `compat/supabase-compat.sql` first (when it exists and
 * `compat` is not false), then every top-level `*.sql` file of `dir` in file-name order
 * (code-unit order, like Supabase's CLI). `name` is relative to `dir`.
 *
 * @example
 * for (const { name } of await migrationFiles()) console.log(name);
 */
export async function migrationFiles(
  dir: string = MIGRATIONS_DIR,
  options: { compat?: boolean } = {},
): Promise<{ name: string; sql: string }[]> {
  const files: { name: string; sql: string }[] = [];
  const compat = path.join(dir, COMPAT_MIGRATION);
  if (options.compat !== false && existsSync(compat)) files.push({ name: COMPAT_MIGRATION, sql: await readFile(compat, 'utf8') });
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isFile() && e.name.endsWith('.sql'))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) files.push({ name, sql: await readFile(path.join(dir, name), 'utf8') });
  return files;
}

/**
 * Run migration files in order with `exec` (a multi-statement, parameterless runner such as
 * PGlite's `exec` or a pg client's `query`). A failure is rethrown as
 * `migration <name> failed: <message> [<sqlstate>] at line L:C …` with the database error as `cause`.
 *
 * @example
 * const db = await PGlite.create();
 * await runMigrations((sql) => db.exec(sql), await migrationFiles());
 */
export async function runMigrations(
  exec: (sql: string) => Promise<unknown>,
  files: readonly { name: string; sql: string }[],
): Promise<void> {
  for (const file of files) {
    try {
      await exec(file.sql);
    } catch (err) {
      throw new Error(`migration ${file.name} failed: ${describeSqlError(err, file.sql)}`, { cause: err });
    }
  }
}

/** A database error's message with its SQLSTATE, position (as line:column of `sql`), detail, hint and context. */
export function describeSqlError(err: unknown, sql?: string): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: string; position?: string; detail?: string; hint?: string; where?: string };
  let text = e.message;
  if (e.code) text += ` [${e.code}]`;
  const pos = Number(e.position);
  if (sql !== undefined && Number.isInteger(pos) && pos > 0) {
    const before = sql.slice(0, pos - 1).split('\n');
    text += ` at line ${before.length}:${(before.at(-1)?.length ?? 0) + 1}`;
  }
  if (e.detail) text += `; detail: ${e.detail}`;
  if (e.hint) text += `; hint: ${e.hint}`;
  if (e.where) text += `; context: ${e.where}`;
  return text;
}

