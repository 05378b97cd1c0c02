/**
 * The built CLI (`dist/cli.js`, the package's `bin`) run as a process: help and version, `init`
 * into a temporary project, `migrate` against a fresh database on the Postgres server.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configuredDatabaseUrl, connectClient, withDatabase } from '../db.ts';
import { CLI, ensureBuilt, ROOT } from './build.ts';
import { runCli } from './run-cli.ts';

const SHIPPED = (await readdir(path.join(ROOT, 'migrations'))).filter((f) => f.endsWith('.sql')).sort();
const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

beforeAll(async () => {
  await ensureBuilt();
}, 120_000);

describe('tokengate (built CLI)', () => {
  it('is the package bin, with a shebang', async () => {
    expect(path.resolve(ROOT, pkg.bin.tokengate!)).toBe(CLI);
    expect((await readFile(CLI, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('prints help and version', async () => {
    const help = await runCli(['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: tokengate <command>/);
    expect(help.stdout).toContain('init');
    expect(help.stdout).toContain('migrate');
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    for (const command of ['init', 'migrate']) {
      const result = await runCli([command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: tokengate ${command}`));
    }
  });

  it('reports user mistakes in one line with exit code 2 and no stack trace', async () => {
    for (const args of [['frobnicate'], ['--frob'], ['init', '--nope'], ['migrate'], ['migrate', '--database-url', 'mysql://x'], ['init', '--dir', '/no/such/dir']]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('tokengate init', () => {
  let project: string;
  beforeAll(async () => {
    project = await mkdtemp(path.join(tmpdir(), 'tokengate-init-'));
  });
  afterAll(async () => {
    await rm(project, { recursive: true, force: true });
  });

  it('copies the migrations (not compat/) keeping their names, then prints the setup steps', async () => {
    const result = await runCli(['init', '--dir', project]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const target = path.join(project, 'supabase', 'migrations');
    expect((await readdir(target)).sort()).toEqual(SHIPPED);
    for (const name of SHIPPED) {
      expect(await readFile(path.join(target, name), 'utf8')).toBe(await readFile(path.join(ROOT, 'migrations', name), 'utf8'));
    }
    expect(result.stdout).toContain(`${SHIPPED.length} migration(s) copied`);
    expect(result.stdout).toMatch(/\[api\]\s+schemas = \[.*"tokengate"\]/);
    for (const env of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'TOKENGATE_SERVICE_SECRET']) expect(result.stdout).toContain(env);
  });

  it('skips identical files when run again (default --dir is the current folder)', async () => {
    const result = await runCli(['init'], { cwd: project });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`0 migration(s) copied, ${SHIPPED.length} already present`);
  });

  it('never overwrites a changed file: reports it, copies nothing, exits 1', async () => {
    const target = path.join(project, 'supabase', 'migrations');
    const changed = path.join(target, SHIPPED[1]!);
    await writeFile(changed, '-- my local edit\n');
    await rm(path.join(target, SHIPPED[0]!));
    const result = await runCli(['init', '--dir', project]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(SHIPPED[1]);
    expect(result.stderr).toContain('not overwriting');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await readFile(changed, 'utf8')).toBe('-- my local edit\n');
    expect(await readdir(target)).not.toContain(SHIPPED[0]); // all or nothing
  });
});

describe('tokengate migrate', () => {
  const serverUrl = configuredDatabaseUrl();
  const dbName = `tokengate_cli_${process.pid}_${Date.now()}`;
  const dbUrl = withDatabase(configuredDatabaseUrl(), dbName);
  let admin: pg.Client;
  let db: pg.Client;

  beforeAll(async () => {
    admin = await connectClient({ connectionString: serverUrl });
    await admin.query(`create database ${dbName}`);
    db = await connectClient({ connectionString: dbUrl });
  });
  afterAll(async () => {
    await db?.end();
    await admin?.query(`drop database if exists ${dbName} with (force)`);
    await admin?.end();
  });

  const all = ['compat/supabase-compat.sql', ...SHIPPED];

  it('applies the compatibility script and every migration in order, recording their checksums', async () => {
    const result = await runCli(['migrate', '--database-url', dbUrl]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const applied = [...result.stdout.matchAll(/^applied  (\S+)/gm)].map((m) => m[1]);
    expect(applied).toEqual(all);
    expect(result.stdout).toContain(`${all.length} migration(s) applied.`);
    const { rows } = await db.query<{ name: string; sha256: string }>('select name, sha256 from tokengate_meta.migrations order by applied_at, name');
    expect(rows.map((r) => r.name).sort()).toEqual([...all].sort());
    for (const row of rows) expect(row.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('works: an account created after migrating has balances', async () => {
    const org = '00000000-0000-4000-8000-000000000001';
    const owner = '00000000-0000-4000-8000-000000000002';
    await db.query("select tokengate.create_account($1, 'pro', $2)", [org, owner]);
    const { rows } = await db.query<{ b: unknown }>('select tokengate.balances($1, $2) as b', [org, owner]);
    expect(JSON.stringify(rows[0]!.b)).toContain('quest_generation');
  });

  it('is safe to run twice: everything is skipped (DATABASE_URL works as the default)', async () => {
    const result = await runCli(['migrate'], { env: { PATH: process.env.PATH, DATABASE_URL: dbUrl } });
    expect(result.code).toBe(0);
    expect([...result.stdout.matchAll(/^skipped  (\S+) \(already applied\)/gm)].map((m) => m[1])).toEqual(all);
    expect(result.stdout).toContain('Database is up to date.');
  });

  it('refuses to run when a recorded checksum differs from the shipped file', async () => {
    await db.query("update tokengate_meta.migrations set sha256 = repeat('0', 64) where name = $1", [SHIPPED[2]]);
    const result = await runCli(['migrate', '--database-url', dbUrl]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`drift: ${SHIPPED[2]}`);
    expect(result.stderr).toContain('refusing');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a tokengate schema it has no record of', async () => {
    await db.query('delete from tokengate_meta.migrations');
    const result = await runCli(['migrate', '--database-url', dbUrl, '--supabase']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('schema tokengate exists');
  });

  it('reports an unreachable database in one line, exit 1', async () => {
    const result = await runCli(['migrate', '--database-url', 'postgres://postgres@127.0.0.1:1/none']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('cannot connect');
  });
});
