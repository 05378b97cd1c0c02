/**
 * `tokengate migrate`: applies the shipped migrations to a Postgres database and records them in
 * `tokengate_meta.migrations` (name, sha256, applied_at), a bookkeeping table owned by the CLI.
 */
import { createHash } from 'node:crypto';
import { COMPAT_MIGRATION, MIGRATIONS_DIR, describeSqlError, migrationFiles } from '../server/migrate.ts';
import { parseCommandArgs } from './args.ts';
import { CommandError, UsageError, type Io } from './errors.ts';

export const MIGRATE_HELP = `Usage: tokengate migrate --database-url <url> [--supabase]

Applies Tokengate's migrations in order, each in its own transaction, and records every applied
file with its SHA-256 in tokengate_meta.migrations. Safe to run twice: applied files are skipped.
Refuses to run (exit 1) when the database has drifted: a recorded file whose checksum differs from
the shipped one, a recorded file this version does not ship, or a tokengate schema that exists
without any record (migrated by other means, e.g. supabase db push).

On plain Postgres the Supabase compatibility script (roles anon/authenticated/service_role,
auth.uid()) runs first. Connect as a role that may create roles and schemas.

Options:
  --database-url <url>  postgres://… connection string (default: $DATABASE_URL)
  --supabase            the database is Supabase: skip the compatibility script
  -h, --help            show this help`;

/** The CLI's own bookkeeping schema and table; not part of Tokengate's schema. */
export const META_TABLE = 'tokengate_meta.migrations';

/** Serialises concurrent `tokengate migrate` runs on one database. */
const LOCK_KEY = 0x746b6e67; // 'tkng'

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

interface Client {
  connect(): Promise<unknown>;
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

async function openClient(url: string): Promise<Client> {
  let pg: { default: { Client: new (options: { connectionString: string; application_name: string }) => Client } };
  try {
    pg = (await import('pg')) as typeof pg;
  } catch {
    throw new CommandError('tokengate migrate: needs the `pg` package: npm install pg');
  }
  const client = new pg.default.Client({ connectionString: url, application_name: 'tokengate migrate' });
  client.on('error', () => {}); // a dropped connection surfaces as a failed query instead
  try {
    await client.connect();
  } catch (err) {
    throw new CommandError(`tokengate migrate: cannot connect to the database: ${err instanceof Error ? err.message : String(err)}`);
  }
  return client;
}

export async function migrate(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommandArgs('migrate', argv, { 'database-url': { type: 'string' }, supabase: { type: 'boolean' } });
  if (values.help) {
    io.out(MIGRATE_HELP);
    return 0;
  }
  const url = values['database-url'] ?? env.DATABASE_URL;
  if (!url) throw new UsageError("tokengate migrate: --database-url is required (or set DATABASE_URL); see 'tokengate migrate --help'");
  if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError('tokengate migrate: --database-url must be a postgres:// or postgresql:// URL');

  const files = await migrationFiles(MIGRATIONS_DIR, { compat: !values.supabase });
  const shipped = new Map((await migrationFiles(MIGRATIONS_DIR, { compat: true })).map((f) => [f.name, sha256(f.sql)]));

  const client = await openClient(url);
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`create schema if not exists tokengate_meta;
      create table if not exists ${META_TABLE} (
        name text primary key,
        sha256 text not null,
        applied_at timestamptz not null default now()
      );`);
    const recorded = (await client.query<{ name: string; sha256: string }>(`select name, sha256 from ${META_TABLE} order by name`)).rows;

    const drift: string[] = [];
    for (const row of recorded) {
      const expected = shipped.get(row.name);
      if (expected === undefined) drift.push(`${row.name} was applied but this version of tokengate does not ship it`);
      else if (expected !== row.sha256) drift.push(`${row.name} was applied with checksum ${row.sha256.slice(0, 12)}…, the shipped file has ${expected.slice(0, 12)}…`);
    }
    if (recorded.length === 0) {
      const { rows } = await client.query<{ exists: boolean }>("select to_regnamespace('tokengate') is not null as exists");
      if (rows[0]?.exists) drift.push(`schema tokengate exists but ${META_TABLE} records nothing (migrated by other means?)`);
    }
    if (drift.length > 0) {
      for (const line of drift) io.err(`tokengate migrate: drift: ${line}`);
      throw new CommandError('tokengate migrate: refusing to migrate a database that has drifted from the shipped migrations; nothing was applied.');
    }

    const done = new Set(recorded.map((r) => r.name));
    let applied = 0;
    for (const file of files) {
      if (done.has(file.name)) {
        io.out(`skipped  ${file.name} (already applied)`);
        continue;
      }
      const started = performance.now();
      io.out(`applying ${file.name} …`);
      try {
        await client.query('begin');
        await client.query(file.sql);
        await client.query(`insert into ${META_TABLE} (name, sha256) values ($1, $2)`, [file.name, sha256(file.sql)]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw new CommandError(`tokengate migrate: migration ${file.name} failed (rolled back): ${describeSqlError(err, file.sql)}`);
      }
      applied++;
      io.out(`applied  ${file.name} (${Math.round(performance.now() - started)} ms)`);
    }
    io.out(applied === 0 ? 'Database is up to date.' : `${applied} migration(s) applied.`);
    return 0;
  } finally {
    await client.end().catch(() => {});
  }
}
