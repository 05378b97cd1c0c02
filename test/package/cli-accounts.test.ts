/**
 * `tokengate accounts create|list|show` (the built CLI, as a process) against a fresh database on
 * the Postgres server: a new organization can be registered from the command line, so its first
 * `grant` no longer fails with `unknown_organization`.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './build.ts';
import { expectOneLineFailure, runCli, type CliResult } from './run-cli.ts';
import { configuredDatabaseUrl, withDatabase } from '../db.ts';

const serverUrl = configuredDatabaseUrl();
const dbName = `tokengate_cli_accounts_${process.pid}_${Date.now()}`;
const dbUrl = withDatabase(configuredDatabaseUrl(), dbName);

const ORG = '0b000000-0000-4000-8000-000000000001';
const OWNER = '0b000000-0000-4000-8000-000000000002';
const ORG2 = '0b000000-0000-4000-8000-000000000003';
const OWNER2 = '0b000000-0000-4000-8000-000000000004';
const NO_ORG = '0b000000-0000-4000-8000-0000000000ff';

let admin: pg.Client;
let db: pg.Client;

const cli = (args: string[]) => runCli(args, { env: { PATH: process.env.PATH, DATABASE_URL: dbUrl } });


beforeAll(async () => {
  await ensureBuilt();
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const migrated = await runCli(['migrate', '--database-url', dbUrl]);
  expect(migrated.code, migrated.stderr).toBe(0);
  db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
}, 120_000);

afterAll(async () => {
  await db?.end();
  await admin?.query(`drop database if exists ${dbName} with (force)`);
  await admin?.end();
});

describe('tokengate accounts (built CLI)', () => {
  it('is listed in the top-level help and has --help', async () => {
    const help = await runCli(['--help']);
    expect(help.stdout).toMatch(/^ {2}accounts +register an organization/m);
    for (const args of [['accounts', '--help'], ['accounts', 'create', '--help'], ['accounts', 'list', '-h']]) {
      const result = await runCli(args);
      expect(result, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(/^Usage: tokengate accounts <create\|list\|show>/);
    }
    const bare = await runCli(['accounts']);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toMatch(/^Usage: tokengate accounts/);
  });

  it('reports wrong arguments in one line with exit code 2, before touching the database', async () => {
    const unreachable = ['--database-url', 'postgres://postgres@127.0.0.1:1/unreachable'];
    const cases = [
      ['accounts', 'frob'],
      ['accounts', 'create', ...unreachable, '--org', ORG, '--plan', 'pro'], // no owner
      ['accounts', 'create', ...unreachable, '--org', ORG, '--owner', OWNER], // no plan
      ['accounts', 'create', ...unreachable, '--org', 'acme', '--plan', 'pro', '--owner', OWNER],
      ['accounts', 'create', ...unreachable, '--org', ORG, '--plan', 'pro', '--owner', OWNER, '--anchor', '2026-02-30'],
      ['accounts', 'create', '--org', ORG, '--plan', 'pro', '--owner', OWNER], // no database url
      ['accounts', 'list', ...unreachable, '--org', ORG],
      ['accounts', 'list', ...unreachable, '--limit', '0'],
      ['accounts', 'show', ...unreachable],
      ['accounts', 'show', ...unreachable, '--org', ORG, '--plan', 'pro'],
    ];
    for (const args of cases) expectOneLineFailure(await runCli(args), 2, args.join(' '));
  });

  it('create registers a new organization, so its first grant works', async () => {
    // Before: what a new user hit with the CLI alone.
    const tooEarly = await cli(['grant', '--org', ORG, '--type', 'quest_generation', '--amount', '5']);
    expectOneLineFailure(tooEarly, 1, 'grant before create');
    expect(tooEarly.stderr).toMatch(/^tokengate grant: unknown_organization/);

    const created = await cli(['accounts', 'create', '--org', ORG, '--plan', 'pro', '--owner', OWNER, '--anchor', '2026-01-31']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const lines = created.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`Created organization ${ORG} on plan pro with owner ${OWNER}.`);
    expect(created.stdout).toContain(`Organization:  ${ORG}`);
    expect(created.stdout).toContain('Period anchor: 2026-01-31T00:00:00Z');
    expect(created.stdout).toContain('Members:       1 (1 owner, 0 admins, 0 members)');
    expect(created.stdout).toContain('Plan: pro (Pro, metered)');
    expect(lines.find((l) => l.startsWith('quest_generation'))).toMatch(/^quest_generation\s+60\s+60\s+0\s+0\s+0\s+60\s/);

    const account = await db.query<{ plan_id: string; anchor: string }>(
      `select plan_id, to_char(period_anchor at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as anchor from tokengate.accounts where org_id = $1`,
      [ORG],
    );
    expect(account.rows).toEqual([{ plan_id: 'pro', anchor: '2026-01-31 00:00:00' }]);
    expect((await db.query('select user_id, role from tokengate.members where org_id = $1', [ORG])).rows).toEqual([{ user_id: OWNER, role: 'owner' }]);

    const granted = await cli(['grant', '--org', ORG, '--type', 'quest_generation', '--amount', '5', '--key', 'first-payment']);
    expect(granted.stderr).toBe('');
    expect(granted.code).toBe(0);
    expect(granted.stdout).toMatch(/^Granted 5 quest_generation tokens/);
  });

  it('create is idempotent: an existing organization is left as it is', async () => {
    const again = await cli(['accounts', 'create', '--org', ORG, '--plan', 'enterprise', '--owner', OWNER2]);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout.split('\n')[0]).toBe(
      `Organization ${ORG} already exists on plan pro; nothing changed. Use 'tokengate set-plan' to move it to enterprise.`,
    );
    expect(again.stdout).toContain('Plan: pro (Pro, metered)');
    expect((await db.query('select plan_id from tokengate.accounts where org_id = $1', [ORG])).rows).toEqual([{ plan_id: 'pro' }]);
    expect((await db.query('select user_id from tokengate.members where org_id = $1', [ORG])).rows).toEqual([{ user_id: OWNER }]);

    const samePlan = await cli(['accounts', 'create', '--org', ORG, '--plan', 'pro', '--owner', OWNER]);
    expect(samePlan.stdout.split('\n')[0]).toBe(`Organization ${ORG} already exists on plan pro; nothing changed.`);
  });

  it('create refuses an unknown plan in one line, exit 1, writing nothing', async () => {
    const result = await cli(['accounts', 'create', '--org', NO_ORG, '--plan', 'gold', '--owner', OWNER]);
    expectOneLineFailure(result, 1, 'unknown plan');
    expect(result.stderr).toMatch(/^tokengate accounts create: unknown_plan/);
    expect((await db.query('select 1 from tokengate.accounts where org_id = $1', [NO_ORG])).rows).toHaveLength(0);
  });

  it('list shows the organizations newest first, filtered by --plan and cut at --limit', async () => {
    const created = await cli(['accounts', 'create', '--org', ORG2, '--plan', 'starter', '--owner', OWNER2]);
    expect(created.code, created.stderr).toBe(0);
    await db.query("select tokengate.add_member($1, null, $2, 'member')", [ORG2, OWNER]);

    const list = await cli(['accounts', 'list']);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    const rows = list.stdout.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(['org id', 'plan', 'members', 'first owner', 'period anchor', 'created']);
    expect(rows.slice(1).map((r) => r.slice(0, 4))).toEqual([
      [ORG2, 'starter', '2', OWNER2],
      [ORG, 'pro', '1', OWNER],
    ]);
    expect(rows[2]![4]).toBe('2026-01-31T00:00:00Z');

    const starter = await cli(['accounts', 'list', '--plan', 'starter']);
    expect(starter.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual([ORG2]);
    const limited = await cli(['accounts', 'list', '--limit', '1']);
    expect(limited.code).toBe(0);
    expect(limited.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(limited.stderr).toBe('tokengate accounts list: showing the newest 1; pass --limit for more\n');
    const none = await cli(['accounts', 'list', '--plan', 'enterprise']);
    expect(none).toMatchObject({ code: 0, stdout: 'No organizations.\n' });
    const unknownPlan = await cli(['accounts', 'list', '--plan', 'gold']);
    expectOneLineFailure(unknownPlan, 1, 'list unknown plan');
    expect(unknownPlan.stderr).toContain('unknown_plan');
  });

  it("show prints the account and its balances as the organization's members see them", async () => {
    const show = await cli(['accounts', 'show', '--org', ORG]);
    expect(show).toMatchObject({ code: 0, stderr: '' });
    const lines = show.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 5)).toEqual([
      `Organization:  ${ORG}`,
      'Period anchor: 2026-01-31T00:00:00Z (periods renew monthly on this day, UTC)',
      expect.stringMatching(/^Created: {7}\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
      'Members:       1 (1 owner, 0 admins, 0 members)',
      'Plan: pro (Pro, metered)',
    ]);
    expect(lines.find((l) => l.startsWith('quest_generation'))).toMatch(/^quest_generation\s+60\s+60\s+5\s+0\s+0\s+65\s/); // the grant above

    const starter = await cli(['accounts', 'show', '--org', ORG2]);
    expect(starter.stdout).toContain('Members:       2 (1 owner, 0 admins, 1 member)');
    expect(starter.stdout).toMatch(/^quest_generation\s.*\sblocked\s/m);

    const unknown = await cli(['accounts', 'show', '--org', NO_ORG]);
    expectOneLineFailure(unknown, 1, 'show unknown org');
    expect(unknown.stderr).toBe(`tokengate accounts show: unknown_organization: no organization ${NO_ORG}\n`);
  });
});
