/**
 * How the built CLI fails: quietly when the reader of its output goes away (`tokengate init |
 * head -5`), and with the "is it migrated?" hint only when the schema really is missing.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, ROOT } from './build.ts';
import { runCli, type CliResult } from './run-cli.ts';
import { configuredDatabaseUrl, withDatabase } from '../db.ts';

const SHIPPED = (await readdir(path.join(ROOT, 'migrations'))).filter((f) => f.endsWith('.sql'));
const HINT = "(is it migrated? run 'tokengate migrate')";

beforeAll(async () => {
  await ensureBuilt();
}, 120_000);

/** Runs the built CLI with a stdout pipe whose reader is already gone: every write fails with EPIPE. */
async function runWithClosedStdout(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout: '', stderr };
}

describe('tokengate output to a closed pipe (`| head`)', () => {
  let project: string;
  beforeAll(async () => {
    project = await mkdtemp(path.join(tmpdir(), 'tokengate-epipe-'));
  });
  afterAll(async () => {
    await rm(project, { recursive: true, force: true });
  });

  it('init finishes its work and exits 0 without a stack trace', async () => {
    const result = await runWithClosedStdout(['init', '--dir', project]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((await readdir(path.join(project, 'supabase', 'migrations'))).sort()).toEqual([...SHIPPED].sort());
  });

  it('help exits 0 quietly too', async () => {
    expect(await runWithClosedStdout(['--help'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('a real `| head -2` shows the first lines and nothing on stderr', async () => {
    const result = await new Promise<CliResult>((resolve) => {
      // sh has no pipefail: the CLI's exit code is reported on stderr after it.
      const child = spawn('sh', ['-c', '{ node "$0" init --dir "$1"; echo "exit $?" >&2; } | head -2', CLI, project], {
        env: { PATH: process.env.PATH },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(result).toMatchObject({ code: 0, stderr: 'exit 0\n' });
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(2);
  });
});

describe('the "is it migrated?" hint', () => {
  const serverUrl = configuredDatabaseUrl();
  const dbName = `tokengate_cli_hint_${process.pid}_${Date.now()}`;
  const dbUrl = withDatabase(configuredDatabaseUrl(), dbName);
  const ORG = '0c000000-0000-4000-8000-000000000001';
  let admin: pg.Client;
  let db: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${dbName}`);
    // The server role the CLI connects as (`-c role=service_role`); on this cluster another
    // database's migration may already have created it.
    await admin.query(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = 'service_role') then create role service_role nologin noinherit bypassrls; end if;
    exception when duplicate_object or unique_violation then null; end $$`);
    db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await admin?.query(`drop database if exists ${dbName} with (force)`);
    await admin?.end();
  });

  const grant = (url: string) => runCli(['grant', '--org', ORG, '--type', 'quest_generation', '--amount', '1', '--database-url', url]);
  const membersList = () => runCli(['members', 'list', '--org', ORG, '--database-url', dbUrl]);

  function expectFailure(result: CliResult, message: string | RegExp, hint: boolean) {
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    if (hint) expect(result.stderr.trimEnd().endsWith(HINT), result.stderr).toBe(true);
    else expect(result.stderr).not.toContain('is it migrated');
  }

  it('is not given for a login role that does not exist', async () => {
    const url = new URL(dbUrl);
    url.username = `tokengate_no_such_role_${process.pid}`;
    expectFailure(await grant(url.toString()), `role "tokengate_no_such_role_${process.pid}" does not exist`, false);
  });

  it('is given when the schema does not exist (3F000)', async () => {
    expectFailure(await grant(dbUrl), 'schema "tokengate" does not exist', true);
    expectFailure(await membersList(), 'relation "tokengate.accounts" does not exist', true); // 42P01
  });

  it('is not given for a permission error (42501)', async () => {
    await db.query('create schema tokengate');
    expectFailure(await grant(dbUrl), 'permission denied for schema tokengate', false);
  });

  it('is given when a function (42883) or a table (42P01) does not exist', async () => {
    await db.query('grant usage on schema tokengate to service_role');
    expectFailure(await grant(dbUrl), /function tokengate\.grant_tokens\(.*\) does not exist/, true);
    expectFailure(await membersList(), 'relation "tokengate.accounts" does not exist', true);
  });
});
