/**
 * The README's plain-Postgres path with a login role that is not a superuser: the superuser
 * migrates (`tokengate migrate`) and runs the README's `create role … / grant service_role to …`
 * block; the app, connecting as that login role, runs the built package's postgresStore →
 * createTokenGate → createAccount → deduct → balances, and closes the store's pool. The login
 * role — also as `service_role` — cannot write any table directly.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST, ensureBuilt, ROOT } from './build.ts';
import { runCli } from './run-cli.ts';

type ServerModule = typeof import('../../server/index.ts');

const serverUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const suffix = `${process.pid}_${Date.now()}`;
const dbName = `tokengate_plain_pg_${suffix}`;
const LOGIN = `tokengate_app_login_${suffix}`;
const NO_GRANT = `tokengate_no_grant_${suffix}`;
const urlFor = (user?: string, password?: string) => {
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  if (user) url.username = user;
  if (password) url.password = password;
  return url.toString();
};

const ORG = '0e000000-0000-4000-8000-000000000001';
const OWNER = '0e000000-0000-4000-8000-000000000002';

let admin: pg.Client;
let server: ServerModule;

/** The README's SQL block that lets the app's login role act as service_role. */
async function readmeGrantSql(): Promise<string> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^( *)```sql\n([\s\S]*?)^ *```$/gm)].map((m) => m[2]!.replace(new RegExp(`^${m[1]}`, 'gm'), ''));
  const found = blocks.filter((b) => /grant service_role to app_login/i.test(b));
  expect(found, 'one ```sql block in README.md grants service_role to app_login').toHaveLength(1);
  return found[0]!;
}

beforeAll(async () => {
  await ensureBuilt();
  server = (await import(pathToFileURL(path.join(DIST, 'server', 'index.js')).href)) as ServerModule;
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
}, 120_000);

afterAll(async () => {
  await admin?.query(`drop database if exists ${dbName} with (force)`);
  await admin?.query(`drop role if exists ${LOGIN}`);
  await admin?.query(`drop role if exists ${NO_GRANT}`);
  await admin?.end();
});

/** Runs `sql` on its own connection as `user`; resolves the SQLSTATE it failed with, or null. */
async function sqlstateOf(user: string, sql: string | string[]): Promise<string | null> {
  const client = new pg.Client({ connectionString: urlFor(user, 'change-me') });
  await client.connect();
  try {
    for (const statement of [sql].flat()) await client.query(statement);
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? 'no code';
  } finally {
    await client.end();
  }
}

describe('plain Postgres with a non-superuser login role (README)', () => {
  it('the superuser migrates and runs the README grant', async () => {
    expect((await admin.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = current_user')).rows[0]?.rolsuper).toBe(true);
    const migrated = await runCli(['migrate', '--database-url', urlFor()]);
    expect(migrated.code, migrated.stderr).toBe(0);

    const sql = await readmeGrantSql();
    await admin.query(sql.replaceAll('app_login', LOGIN));
    await admin.query(`create role ${NO_GRANT} login`);
    const { rows } = await admin.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean; rolbypassrls: boolean }>(
      'select rolname, rolsuper, rolcreaterole, rolbypassrls from pg_roles where rolname = any($1) order by rolname',
      [[LOGIN, NO_GRANT]],
    );
    expect(rows.map((r) => [r.rolsuper, r.rolcreaterole, r.rolbypassrls])).toEqual([
      [false, false, false],
      [false, false, false],
    ]);
  });

  it('without the grant, the store cannot act as service_role', async () => {
    const store = server.postgresStore({ connectionString: urlFor(NO_GRANT) });
    const gate = server.createTokenGate({ store });
    const error = await gate.balances({ orgId: ORG, userId: OWNER }).catch((e: unknown) => e);
    await store.close();
    expect(error).toBeInstanceOf(server.TokenGateError);
    expect((error as InstanceType<ServerModule['TokenGateError']>).code).toBe('internal');
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    expect(cause?.code).toBe('42501');
    expect(cause?.message).toContain('permission denied to set role "service_role"');
  });

  it('as the login role: postgresStore → createTokenGate → createAccount, deduct, balances; then close()', async () => {
    const store = server.postgresStore({ connectionString: urlFor(LOGIN, 'change-me') });
    const gate = server.createTokenGate({ store });
    try {
      expect(await gate.createAccount({ orgId: ORG, planId: 'pro', ownerId: OWNER })).toEqual({ orgId: ORG, created: true, planId: 'pro' });
      const ctx = { orgId: ORG, userId: OWNER };
      const key = randomUUID();
      const first = await gate.deduct(ctx, 'quest_generation', { idempotencyKey: key, metadata: { feature: 'quests' } });
      expect(first).toMatchObject({ charged: 3, replayed: false });
      expect(await gate.deduct(ctx, 'quest_generation', { idempotencyKey: key, metadata: { feature: 'quests' } })).toMatchObject({ charged: 3, replayed: true });
      const balances = await gate.balances(ctx);
      expect(balances.plan.id).toBe('pro');
      expect(balances.tokenTypes.find((b) => b.tokenType === 'quest_generation')).toMatchObject({ allowance: 60, available: 57, used: 3 });
      expect(await gate.verifyLedger(ORG)).toEqual([]);
    } finally {
      await store.close();
    }
    // close() ended the pool: no session of the login role is left (a backend may take a moment to exit).
    const sessions = async () => (await admin.query('select 1 from pg_stat_activity where usename = $1 and datname = $2', [LOGIN, dbName])).rowCount;
    for (let i = 0; i < 50 && (await sessions()) !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await sessions()).toBe(0);
  });

  it('the login role cannot write any table directly, neither as itself nor as service_role', async () => {
    const writes = [
      "insert into tokengate.accounts (org_id, plan_id, period_anchor) values (gen_random_uuid(), 'enterprise', now())",
      `insert into tokengate.members (org_id, user_id, role) values ('${ORG}', gen_random_uuid(), 'owner')`,
      'update tokengate.buckets set purchased_remaining = purchased_remaining + 1000000',
      "update tokengate.accounts set plan_id = 'enterprise'",
      'delete from tokengate.ledger',
      'delete from tokengate.idempotency_keys',
      'truncate tokengate.ledger',
      "insert into tokengate.plans (id, name, access) values ('free_for_all', 'x', 'unlimited')",
    ];
    for (const write of writes) {
      expect(await sqlstateOf(LOGIN, write), write).toBe('42501');
      expect(await sqlstateOf(LOGIN, ['set role service_role', write]), `as service_role: ${write}`).toBe('42501');
    }
    // Reading is allowed to the server role; the balances above are unchanged.
    expect(await sqlstateOf(LOGIN, ['set role service_role', 'select count(*) from tokengate.ledger'])).toBeNull();
    const db = new pg.Client({ connectionString: urlFor() });
    await db.connect();
    const { rows } = await db.query<{ plan_id: string; purchased_remaining: string }>(
      "select a.plan_id, b.purchased_remaining from tokengate.accounts a join tokengate.buckets b using (org_id) where b.token_type_id = 'quest_generation'",
    );
    await db.end();
    expect(rows).toEqual([{ plan_id: 'pro', purchased_remaining: '0' }]);
  });
});
