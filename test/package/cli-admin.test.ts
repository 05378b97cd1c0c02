/**
 * The built CLI's admin commands (`grant`, `set-plan`, `adjust`, `members`, `usage`) and `demo`,
 * run as processes against a fresh database on the Postgres server, checked against the ledger.
 * The database is the harness's (a copy of the run's migrated template): `tokengate migrate`
 * itself is tested in cli.test.ts.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../server/http/usage-export.ts';
import { connectClient, freshPostgres, type TestDb } from '../db.ts';
import { CLI, DIST, ensureBuilt } from './build.ts';
import { expectOneLineFailure, runCli, type CliResult } from './run-cli.ts';


const ORG = '0a000000-0000-4000-8000-000000000001';
const OWNER = '0a000000-0000-4000-8000-000000000002';
const MEMBER = '0a000000-0000-4000-8000-000000000003';
const NEWCOMER = '0a000000-0000-4000-8000-000000000004';
const STRANGER = '0a000000-0000-4000-8000-000000000005';
const NO_ORG = '0a000000-0000-4000-8000-0000000000ff';
const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
const FROM = day(-30);
const TO = day(30);

let testDb: TestDb | undefined;
let dbUrl: string;
let db: pg.Client;

/** Runs the CLI with DATABASE_URL pointing at the test database. */
const cli = (args: string[]) => runCli(args, { env: { PATH: process.env.PATH, DATABASE_URL: dbUrl } });


interface LedgerRow {
  id: string;
  kind: string;
  token_type_id: string;
  amount: string;
  user_id: string | null;
  idempotency_key: string | null;
  metadata: Record<string, unknown>;
}
const ledger = async () => (await db.query<LedgerRow>('select * from tokengate.ledger where org_id = $1 order by id', [ORG])).rows;

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF records) for checking the export. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  expect(field === '' && row.length === 0, 'CSV ends with CRLF').toBe(true);
  return rows;
}

beforeAll(async () => {
  await ensureBuilt();
  testDb = await freshPostgres();
  dbUrl = testDb.url!;
  db = await connectClient({ connectionString: dbUrl });
  await db.query("select tokengate.create_account($1, 'pro', $2)", [ORG, OWNER]);
  await db.query("select tokengate.add_member($1, null, $2, 'member')", [ORG, MEMBER]);
}, 120_000);

afterAll(async () => {
  await db?.end();
  await testDb?.close();
});

describe('tokengate admin commands (built CLI)', () => {
  const COMMANDS = ['grant', 'set-plan', 'adjust', 'members', 'usage', 'demo'];

  it('are listed in the top-level help, and each has --help', async () => {
    const help = await runCli(['--help']);
    for (const command of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    for (const args of [...COMMANDS.map((c) => [c, '--help']), ['members', 'list', '--help'], ['members', 'quota', '-h']]) {
      const result = await runCli(args);
      expect(result, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(new RegExp(`^Usage: tokengate ${args[0]}`));
    }
  });

  it('report wrong arguments in one line with exit code 2, before touching the database', async () => {
    const db = ['--database-url', 'postgres://postgres@127.0.0.1:1/unreachable'];
    const cases = [
      ['grant', '--org', ORG, '--type', 'quest_generation', '--amount', '5'], // no database url
      ['grant', ...db, '--type', 'quest_generation', '--amount', '5'],
      ['grant', ...db, '--org', 'not-a-uuid', '--type', 'quest_generation', '--amount', '5'],
      ['grant', ...db, '--org', ORG, '--type', 'quest_generation', '--amount', '0'],
      ['grant', ...db, '--org', ORG, '--type', 'quest_generation', '--amount', '1.5'],
      ['grant', ...db, '--org', ORG, '--amount', '5'],
      ['grant', ...db, '--org', ORG, '--type', 'quest_generation', '--amount', '5', '--bogus'],
      ['grant', '--database-url', 'mysql://x', '--org', ORG, '--type', 'quest_generation', '--amount', '5'],
      ['adjust', ...db, '--org', ORG, '--type', 'quest_generation', '--amount', '-3'], // no reason
      ['adjust', ...db, '--org', ORG, '--type', 'quest_generation', '--amount', '0', '--reason', 'x'],
      ['set-plan', ...db, '--org', ORG],
      ['members', 'frob', '--org', ORG],
      ['members', 'list', ...db],
      ['members', 'add', ...db, '--org', ORG, '--user', NEWCOMER, '--role', 'king'],
      ['members', 'remove', ...db, '--org', ORG],
      ['members', 'list', ...db, '--org', ORG, '--quota', '3'],
      ['members', 'quota', ...db, '--org', ORG, '--user', MEMBER, '--type', 'quest_generation', '--quota', '-1'],
      ['members', 'quota', ...db, '--org', ORG, '--user', MEMBER, '--type', 'quest_generation'],
      ['usage', ...db, '--org', ORG, '--from', '2026-02-30', '--to', '2026-03-01'],
      ['usage', ...db, '--org', ORG, '--from', '2026-03-02', '--to', '2026-03-01'],
      ['usage', ...db, '--org', ORG, '--from', '2000-01-01', '--to', '2026-03-01'],
      ['usage', ...db, '--org', ORG, '--from', FROM, '--to', TO, '--format', 'xml'],
      ['usage', ...db, '--org', ORG, '--from', FROM, '--to', TO, '--as', 'someone'],
      ['usage', ...db, '--org', ORG, '--from', FROM],
      ['demo', '--port', 'eighty'],
      ['demo', '--nope'],
    ];
    for (const args of cases) expectOneLineFailure(await runCli(args), 2, args.join(' '));
  });

  it('grant adds purchased tokens once per key and prints the new balance', async () => {
    const args = ['grant', '--org', ORG, '--type', 'quest_generation', '--amount', '25', '--key', 'payment-1', '--reason', 'Stripe pi_1'];
    const first = await cli(args);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^Granted 25 quest_generation tokens \(ledger entry \d+, key payment-1\)\.\n/);
    expect(first.stdout).toMatch(/quest_generation: available \d+ \(allowance \d+\/\d+, purchased 25, held 0\)/);

    const again = await cli(args);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Already granted with key payment-1');
    expect(again.stdout).toContain('purchased 25,');

    const grants = (await ledger()).filter((r) => r.kind === 'grant');
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ token_type_id: 'quest_generation', amount: '25', user_id: null, metadata: { reason: 'Stripe pi_1', source: 'cli' } });

    const withoutKey = await cli(['grant', '--org', ORG, '--type', 'goal_generation', '--amount', '3']);
    expect(withoutKey.code).toBe(0);
    expect(withoutKey.stdout).toMatch(/key [0-9a-f-]{36}\)/);
 
    // A promo that expires, spent before purchases of a later expiry.
    const promo = await cli(['grant', '--org', ORG, '--type', 'goal_generation', '--amount', '5', '--key', 'promo-1', '--source', 'promo', '--expires-at', '2099-01-01T00:00:00Z', '--priority', '10']);
    expect(promo.stderr).toBe('');
    expect(promo.stdout).toMatch(/^Granted 5 goal_generation tokens \(ledger entry \d+, key promo-1\), expiring 2099-01-01T00:00:00\+00:00\.\n/);
    expectOneLineFailure(await runCli(['grant', '--org', ORG, '--type', 'goal_generation', '--amount', '5', '--source', 'gift']), 2, '--source gift');
    expectOneLineFailure(await runCli(['grant', '--org', ORG, '--type', 'goal_generation', '--amount', '5', '--expires-at', 'soon']), 2, '--expires-at soon');
  });

  it('adjust corrects by ±n with a reason and never goes negative', async () => {
    const down = await cli(['adjust', '--org', ORG, '--type', 'quest_generation', '--amount', '-5', '--reason', 'duplicate payment']);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^Adjusted quest_generation by -5 /);
    const up = await cli(['adjust', '--org', ORG, '--type', 'quest_generation', '--amount=+2', '--reason', 'goodwill', '--key', 'adj-1']);
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/^Adjusted quest_generation by \+2 /);
    const rows = (await ledger()).filter((r) => r.kind === 'adjust');
    expect(rows.map((r) => [r.amount, r.metadata.reason])).toEqual([
      ['-5', 'duplicate payment'],
      ['2', 'goodwill'],
    ]);

    const before = (await ledger()).length;
    const tooMuch = await cli(['adjust', '--org', ORG, '--type', 'quest_generation', '--amount', '-100000', '--reason', 'x']);
    expectOneLineFailure(tooMuch, 1, 'adjust too much');
    expect(tooMuch.stderr).toContain('insufficient_tokens');
    expect((await ledger()).length).toBe(before);
  });

  it('ledger refusals and unreachable databases exit 1 in one line', async () => {
    const unknownOrg = await cli(['grant', '--org', NO_ORG, '--type', 'quest_generation', '--amount', '1']);
    expectOneLineFailure(unknownOrg, 1, 'unknown org');
    expect(unknownOrg.stderr).toMatch(/^tokengate grant: unknown_organization/);
    const unknownType = await cli(['grant', '--org', ORG, '--type', 'nope', '--amount', '1']);
    expectOneLineFailure(unknownType, 1, 'unknown type');
    expect(unknownType.stderr).toContain('unknown_token_type');
    const unreachable = await runCli(['set-plan', '--org', ORG, '--plan', 'pro', '--database-url', 'postgres://postgres@127.0.0.1:1/none']);
    expectOneLineFailure(unreachable, 1, 'unreachable');
    expect(unreachable.stderr).toContain('cannot connect to the database');
  });

  it('set-plan moves the organization and prints the plan and balances table', async () => {
    const result = await cli(['set-plan', '--org', ORG, '--plan', 'enterprise']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Plan: enterprise (Enterprise, unlimited)');
    expect(lines[2]).toMatch(/^token type\s+allowance\s+remaining\s+purchased\s+held\s+used\s+available\s+refreshes at$/);
    const types = (await db.query<{ id: string }>('select id from tokengate.token_types order by sort_order')).rows.map((r) => r.id);
    expect(lines.slice(3).map((l) => l.split(/\s+/)[0])).toEqual(types);
    expect(lines.find((l) => l.startsWith('quest_generation'))).toMatch(/\s27\s.*unlimited/); // purchased 25 + 2 survive (the -5 came out of the allowance)
    expect((await db.query('select plan_id from tokengate.accounts where org_id = $1', [ORG])).rows[0]).toEqual({ plan_id: 'enterprise' });

    const back = await cli(['set-plan', '--org', ORG, '--plan', 'pro']);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/^Plan: pro \(Pro, metered\)/);
    const unknown = await cli(['set-plan', '--org', ORG, '--plan', 'gold']);
    expectOneLineFailure(unknown, 1, 'unknown plan');
    expect(unknown.stderr).toContain('unknown_plan');
  });

  it('members add, quota, list and remove', async () => {
    const added = await cli(['members', 'add', '--org', ORG, '--user', NEWCOMER, '--role', 'admin']);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toBe(`${NEWCOMER} is now an admin of ${ORG}.\n`);
    const quota = await cli(['members', 'quota', '--org', ORG, '--user', MEMBER, '--type', 'quest_generation', '--quota', '7']);
    expect(quota).toMatchObject({ code: 0, stderr: '' });
    expect(quota.stdout).toContain('may spend 7 quest_generation tokens per period');
    expect((await db.query('select monthly_quota from tokengate.member_quotas where org_id = $1 and user_id = $2', [ORG, MEMBER])).rows).toEqual([
      { monthly_quota: 7 },
    ]);

    const list = await cli(['members', 'list', '--org', ORG]);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect(list.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/))).toEqual([
      ['user', 'id', 'role', 'quotas'],
      [OWNER, 'owner', '-'],
      [NEWCOMER, 'admin', '-'],
      [MEMBER, 'member', 'quest_generation=7'],
    ]);

    const none = await cli(['members', 'quota', '--org', ORG, '--user', MEMBER, '--type', 'quest_generation', '--quota', 'none']);
    expect(none.code).toBe(0);
    expect((await db.query('select 1 from tokengate.member_quotas where org_id = $1', [ORG])).rows).toHaveLength(0);

    const removed = await cli(['members', 'remove', '--org', ORG, '--user', NEWCOMER]);
    expect(removed).toMatchObject({ code: 0, stdout: `${NEWCOMER} removed from ${ORG}.\n` });
    expect((await db.query('select user_id, role from tokengate.members where org_id = $1 order by role', [ORG])).rows).toEqual([
      { user_id: MEMBER, role: 'member' },
      { user_id: OWNER, role: 'owner' },
    ]);

    const unknown = await cli(['members', 'list', '--org', NO_ORG]);
    expectOneLineFailure(unknown, 1, 'list unknown org');
    expect(unknown.stderr).toContain('unknown_organization');
  });

  it('usage --format csv streams the ledger page by page, matching the ledger, with progress on stderr', async () => {
    const rows = await ledger();
    expect(rows.length).toBeGreaterThanOrEqual(11); // enough for 10+ pages of one entry
    const result = await cli(['usage', '--org', ORG, '--from', FROM, '--to', TO, '--page-size', '1']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('tokengate usage: 10 pages, 10 entries so far');
    expect(result.stderr).toContain(`done, ${rows.length} entries`);
    const [header, ...records] = parseCsv(result.stdout);
    expect(header).toEqual([...CSV_COLUMNS]);
    const col = (name: (typeof CSV_COLUMNS)[number]) => CSV_COLUMNS.indexOf(name);
    expect(records.map((r) => [r[col('id')], r[col('kind')], r[col('token_type')], r[col('amount')], r[col('user_id')] || null])).toEqual(
      rows.map((r) => [r.id, r.kind, r.token_type_id, r.amount, r.user_id]),
    );
    expect(records.map((r) => JSON.parse(r[col('metadata')]!))).toEqual(rows.map((r) => r.metadata));

    const big = await cli(['usage', '--org', ORG, '--from', FROM, '--to', TO]);
    expect(big.stdout).toBe(result.stdout); // the page size changes nothing
    expect(big.stderr).toBe(''); // one page: no progress
  });

  it('usage --format json is one array; --as reads as a given member; non-members are refused', async () => {
    const rows = await ledger();
    const result = await cli(['usage', '--org', ORG, '--from', FROM, '--to', TO, '--format', 'json', '--as', MEMBER, '--page-size', '4']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const entries = JSON.parse(result.stdout) as { id: number; kind: string; amount: number }[];
    expect(Array.isArray(entries)).toBe(true);
    expect(entries.map((e) => [String(e.id), e.kind, String(e.amount)])).toEqual(rows.map((r) => [r.id, r.kind, r.amount]));

    const empty = await cli(['usage', '--org', ORG, '--from', '2001-01-01', '--to', '2001-01-31', '--format', 'json']);
    expect(empty).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(empty.stdout)).toEqual([]);

    const stranger = await cli(['usage', '--org', ORG, '--from', FROM, '--to', TO, '--as', STRANGER]);
    expectOneLineFailure(stranger, 1, 'stranger');
    expect(stranger.stderr).toContain('not_a_member');
    const noOrg = await cli(['usage', '--org', NO_ORG, '--from', FROM, '--to', TO]);
    expectOneLineFailure(noOrg, 1, 'usage unknown org');
  });
  it('usage stops quietly when the reader goes away (`| head`)', async () => {
    // ~2,000 rows (~270 kB of CSV) never fit in the pipe: the reader goes away mid-export even when
    // this process is slow to get to the first chunk (500 rows could all be written by then).
    await db.query("select tokengate.grant_tokens($1, null, 'goal_generation', 1, 'bulk-' || g, '{}') from generate_series(1, 2000) g", [ORG]);
    const child = spawn(process.execPath, [CLI, 'usage', '--org', ORG, '--from', FROM, '--to', TO, '--page-size', '1'], {
      env: { PATH: process.env.PATH, DATABASE_URL: dbUrl },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const first = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(first).toMatch(/^id,created_at,/);
    expect(code, stderr).toBe(0);
    expect(stderr).not.toMatch(/error|EPIPE|done/i); // at most a progress line, then it stopped
  });

});

describe('tokengate demo', () => {
  let pkg: string;
  beforeAll(async () => {
    pkg = await mkdtemp(path.join(tmpdir(), 'tokengate-installed-'));
    await cp(DIST, path.join(pkg, 'dist'), { recursive: true });
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: 'tokengate', version: '0.0.0', type: 'module' }));
  });
  afterAll(async () => {
    await rm(pkg, { recursive: true, force: true });
  });

  it('from an installed package (no demo/), says the playground needs the repository', async () => {
    const result = await runCli(['demo'], { cwd: pkg, cli: path.join(pkg, 'dist', 'cli.js') });
    expectOneLineFailure(result, 1, 'demo installed');
    expect(result.stderr).toContain('not part of the npm package');
  });
});
