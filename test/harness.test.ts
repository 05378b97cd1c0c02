/** Tests of the test harness itself (test/db.ts), on both engines. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  COMPAT_MIGRATION,
  DEFAULT_MIGRATIONS_DIR,
  describeEachDb,
  describeServer,
  freshPglite,
  freshPostgres,
  harnessContext,
  migrationFiles,
  poolLimit,
  runMigrations,
  serverAvailable,
  type TestDb,
} from './db.ts';
import { waitFor } from './wait-for.ts';

const USER = '6f1c1a9e-2b1d-4c4e-9d55-6a3a8b0f1c11';

describe('migrationFiles', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-migrations-'));
    await mkdir(path.join(dir, 'compat'));
    await mkdir(path.join(dir, 'nested'));
    await writeFile(path.join(dir, COMPAT_MIGRATION), 'create table compat_ran (x int);');
    await writeFile(path.join(dir, '20261125000001_b.sql'), 'create table b (x int);');
    await writeFile(path.join(dir, '20261125000000_a.sql'), 'create table a (x int);\ninsert into a values (1);');
    await writeFile(path.join(dir, '20261125000002_bad.sql'), 'create table c (x int);\n\nselect * from no_such_table;');
    await writeFile(path.join(dir, 'nested', '00000000000000_ignored.sql'), 'select 1;');
    await writeFile(path.join(dir, 'README.md'), 'not sql');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('compat first, then top-level *.sql in file-name order', async () => {
    const files = await migrationFiles(dir);
    expect(files.map((f) => f.name)).toEqual([
      COMPAT_MIGRATION,
      '20261125000000_a.sql',
      '20261125000001_b.sql',
      '20261125000002_bad.sql',
    ]);
    expect(files[1]?.sql).toContain('insert into a');
  });

  test('defaults to <repo>/migrations, compat first', async () => {
    const files = await migrationFiles();
    expect(path.basename(DEFAULT_MIGRATIONS_DIR)).toBe('migrations');
    expect(files[0]?.name).toBe(COMPAT_MIGRATION);
  });

  test('a failing migration names the file, the line and the SQLSTATE', async () => {
    const files = await migrationFiles(dir);
    const db = await freshPglite();
    try {
      const run = runMigrations((sql) => db.exec(sql), files);
      await expect(run).rejects.toThrow(/^migration 20261125000002_bad\.sql failed: relation "no_such_table" does not exist \[42P01\] at line 3:15/);
      // Files before the failing one ran.
      expect(await db.query('select x from a')).toEqual([{ x: 1 }]);
    } finally {
      await db.close();
    }
  });
});

describeEachDb('harness', (getDb) => {
  const fresh = (db: TestDb) => (db.kind === 'pglite' ? freshPglite() : freshPostgres());

  test('starts migrated: the Supabase compat roles and auth functions exist', async () => {
    const db = getDb();
    const [row] = await db.query(
      `select (select count(*) from pg_roles where rolname in ('anon', 'authenticated', 'service_role')) as roles,
              to_regprocedure('auth.uid()') is not null as uid,
              to_regprocedure('auth.jwt()') is not null as jwt`,
    );
    expect(row).toEqual({ roles: 3, uid: true, jwt: true });
    // TODO(lead): once the ledger migration exists, also assert the tokengate schema, e.g.
    // `select count(*) from pg_namespace where nspname = 'tokengate'` = 1.
  });

  test('each fresh database is isolated from the others', async () => {
    const db = getDb();
    await db.exec(`create table harness_isolation (x int); insert into harness_isolation values (42);`);
    expect(await db.query('select x from harness_isolation')).toEqual([{ x: 42 }]);
    const other = await fresh(db);
    try {
      expect(await other.query(`select to_regclass('public.harness_isolation') as t`)).toEqual([{ t: null }]);
    } finally {
      await other.close();
    }
    await db.exec('drop table harness_isolation');
  });

  test('query() returns typed rows, the same on both engines', async () => {
    const [row] = await getDb().query(
      `select count(*) as count, 7::int4 as i4, 9007199254740993::int8 as big, 12.50::numeric as num,
              1.5::float8 as f8, '2026-11-25 10:00:00+02'::timestamptz as ts, '2026-11-25'::date as day,
              array['2026-01-01'::date, null] as days, array[1, 9007199254740993, null]::int8[] as bigs,
              '1 day 02:00:00'::interval as iv, '\\x6162'::bytea as bytes, '{"a": [1]}'::jsonb as doc,
              $1::uuid as id, $2::text as txt`,
      [USER, 'hi'],
    );
    expect(row).toEqual({
      count: 1,
      i4: 7,
      big: 9007199254740993n,
      num: '12.50',
      f8: 1.5,
      ts: new Date('2026-11-25T08:00:00.000Z'),
      day: '2026-11-25',
      days: ['2026-01-01', null],
      bigs: [1, 9007199254740993n, null],
      iv: '1 day 02:00:00',
      bytes: new Uint8Array([0x61, 0x62]),
      doc: { a: [1] },
      id: USER,
      txt: 'hi',
    });
    expect(row?.ts).toBeInstanceOf(Date);
    expect(Object.getPrototypeOf(row?.bytes)).toBe(Uint8Array.prototype);
    expect(await getDb().query(`select current_setting('TimeZone') as tz`)).toEqual([{ tz: 'UTC' }]);
  });

  test('query() rejects several statements on both engines; exec() runs them', async () => {
    const db = getDb();
    await expect(db.query('select 1; select 2')).rejects.toThrow(/multiple commands/);
    await db.exec('create temporary table harness_exec (x int); insert into harness_exec values (1); insert into harness_exec values (2);');
    expect(await db.query('select count(*) as n from harness_exec')).toEqual([{ n: 2 }]);
    await db.exec('drop table harness_exec');
  });

  test('as() switches role and claims the way PostgREST does, and resets them after', async () => {
    const db = getDb();
    const [owner] = await db.query<{ u: string }>('select current_user as u');
    const who = `select current_user as u, auth.uid() as uid, auth.role() as role, auth.jwt() as jwt`;

    expect(await db.as({ role: 'authenticated', userId: USER }, (q) => q.query(who))).toEqual([
      { u: 'authenticated', uid: USER, role: 'authenticated', jwt: { sub: USER, role: 'authenticated' } },
    ]);
    expect(await db.as({ role: 'anon' }, (q) => q.query(who))).toEqual([{ u: 'anon', uid: null, role: 'anon', jwt: { role: 'anon' } }]);
    expect(await db.as({ role: 'service_role' }, (q) => q.query(who))).toEqual([
      { u: 'service_role', uid: null, role: 'service_role', jwt: { role: 'service_role' } },
    ]);

    expect(await db.query(`${who}, current_setting('request.jwt.claims', true) as claims`)).toEqual([
      { u: owner?.u, uid: null, role: null, jwt: {}, claims: '' },
    ]);
  });

  test('as() really drops the owner privileges', async () => {
    const db = getDb();
    await db.exec('create table harness_private (x int); insert into harness_private values (1);');
    await expect(db.as({ role: 'authenticated', userId: USER }, (q) => q.query('select x from harness_private'))).rejects.toThrow(
      /permission denied for table harness_private/,
    );
    await db.exec('grant select on harness_private to authenticated');
    expect(await db.as({ role: 'authenticated', userId: USER }, (q) => q.query('select x from harness_private'))).toEqual([{ x: 1 }]);
    await db.exec('drop table harness_private');
  });

  test('as() commits when fn resolves, rolls back and rethrows when it throws', async () => {
    const db = getDb();
    await db.exec('create table harness_tx (x int); grant select, insert on harness_tx to service_role;');

    const result = await db.as({ role: 'service_role' }, async (q) => {
      await q.query('insert into harness_tx values ($1)', [1]);
      return 'done';
    });
    expect(result).toBe('done');

    const boom = new Error('boom');
    await expect(
      db.as({ role: 'service_role' }, async (q) => {
        await q.query('insert into harness_tx values ($1)', [2]);
        throw boom;
      }),
    ).rejects.toBe(boom);

    expect(await db.query('select x from harness_tx order by x')).toEqual([{ x: 1 }]);
    await db.exec('drop table harness_tx');
  });

  test('a failed statement inside as() rolls back and leaves the connection usable, as the owner', async () => {
    const db = getDb();
    const [owner] = await db.query<{ u: string }>('select current_user as u');
    await db.exec('create table harness_fail (x int); grant select, insert on harness_fail to authenticated;');

    await expect(
      db.as({ role: 'authenticated', userId: USER }, async (q) => {
        await q.query('insert into harness_fail values (1)');
        await q.query('select 1 / 0');
      }),
    ).rejects.toThrow(/division by zero/);

    // A swallowed failure cannot commit: Postgres rolls back, and as() says so on both engines.
    await expect(
      db.as({ role: 'authenticated', userId: USER }, async (q) => {
        await q.query('insert into harness_fail values (2)');
        await q.query('select 1 / 0').catch(() => undefined);
        return 'swallowed';
      }),
    ).rejects.toThrow(/rolled back instead of committed/);

    expect(await db.query('select count(*) as n, current_user as u from harness_fail')).toEqual([{ n: 0, u: owner?.u }]);
    expect(await db.query(`select current_setting('request.jwt.claims', true) as c`)).toEqual([{ c: '' }]);
    await db.exec('drop table harness_fail');
  });

  test('calling the TestDb from inside as() throws instead of deadlocking', async () => {
    const db = getDb();
    await expect(db.as({ role: 'anon' }, () => db.query('select 1'))).rejects.toThrow(/inside as\(\).*Use the Querier/);
    expect(await db.query('select 1 as one')).toEqual([{ one: 1 }]);
  });

  test('setNow() round-trips through current_setting(tokengate.now), also inside as()', async () => {
    const db = getDb();
    const now = `select current_setting('tokengate.now', true) as now`;
    expect(await db.query(now)).toEqual([{ now: null }]);

    await db.setNow('2026-01-02T03:04:05.000Z');
    expect(await db.query(now)).toEqual([{ now: '2026-01-02T03:04:05.000Z' }]);

    await db.setNow(new Date(Date.UTC(2027, 5, 1, 12, 0, 0)));
    expect(await db.query(now)).toEqual([{ now: '2027-06-01T12:00:00.000Z' }]);
    expect(await db.as({ role: 'authenticated', userId: USER }, (q) => q.query(`${now}, current_setting('tokengate.now')::timestamptz as at`))).toEqual([
      { now: '2027-06-01T12:00:00.000Z', at: new Date('2027-06-01T12:00:00.000Z') },
    ]);

    await expect(db.setNow('not a time')).rejects.toThrow(/invalid input syntax for type timestamp/);
    expect(await db.query(now)).toEqual([{ now: '2027-06-01T12:00:00.000Z' }]);

    await db.setNow(null);
    expect(await db.query(now)).toEqual([{ now: '' }]);
  });

  test('pool() is for postgres only', () => {
    const db = getDb();
    if (db.kind === 'pglite') expect(() => db.pool(2)).toThrow(/postgres engine/);
    else expect(db.url).toMatch(/^postgres(ql)?:\/\//);
  });
});

describeServer('harness server', (getDb) => {
  test('pool() gives concurrent sessions with the harness type parsing and clock', async () => {
    const db = getDb();
    const pool = db.pool(3);
    // Open two sessions before setNow: idle clients must pick the new value up on checkout.
    const [c1, c2] = await Promise.all([pool.connect(), pool.connect()]);
    await c1.query('begin');
    await c1.query('select 1');
    const [p1, p2] = await Promise.all([c1.query('select pg_backend_pid() as pid'), c2.query('select pg_backend_pid() as pid')]);
    expect(p1.rows[0].pid).not.toBe(p2.rows[0].pid);
    await c1.query('commit');
    c1.release();
    c2.release();

    await db.setNow('2030-01-01T00:00:00.000Z');
    let checkedOut = 0;
    const seen = await Promise.all(
      [1, 2, 3].map(async () => {
        const c = await pool.connect();
        try {
          checkedOut++;
          // All three at once: the two idle sessions and a new third one each see the clock.
          await waitFor(() => checkedOut === 3, { what: 'three sessions checked out at once' });
          const { rows } = await c.query(
            `select current_setting('tokengate.now', true) as now, (select count(*) from pg_class where false) as n, pg_backend_pid() as pid`,
          );
          return rows[0];
        } finally {
          c.release();
        }
      }),
    );
    expect(seen.map(({ now, n }) => ({ now, n }))).toEqual([1, 2, 3].map(() => ({ now: '2030-01-01T00:00:00.000Z', n: 0 })));
    expect(new Set(seen.map((r) => r.pid)).size).toBe(3);
    expect((await pool.query(`select current_setting('tokengate.now', true) as now`)).rows).toEqual([{ now: '2030-01-01T00:00:00.000Z' }]);
  });

  test("pool() refuses to take this file past its share of the run's connections, and close() gives them back", async () => {
    const db = getDb();
    const { perFile } = harnessContext().connections;
    const limit = poolLimit();
    expect(limit).toBeGreaterThan(0);
    expect(limit).toBeLessThan(perFile); // the suite's own session and the admin connection are counted
    expect(() => db.pool(limit + 1)).toThrow(/may open \d+ more connection\(s\).*TOKENGATE_TEST_MAX_CONNECTIONS/);

    const other = await freshPostgres(); // one more session of this file
    expect(poolLimit()).toBe(limit - 1);
    other.pool(limit - 1); // exactly what is left
    expect(poolLimit()).toBe(0);
    expect(() => other.pool(1)).toThrow(/may open 0 more/);
    await other.close();
    expect(poolLimit()).toBe(limit);
  });

  test('new sessions opened with url see the clock; the database is the one the url names', async () => {
    const db = getDb();
    await db.setNow('2031-02-03T04:05:06.000Z');
    const client = new pg.Client({ connectionString: db.url ?? undefined });
    await client.connect();
    try {
      const { rows } = await client.query(`select current_setting('tokengate.now', true) as now, current_database() as d`);
      expect(rows).toEqual([{ now: '2031-02-03T04:05:06.000Z', d: new URL(db.url ?? '').pathname.slice(1) }]);
    } finally {
      await client.end();
    }
    await db.setNow(null);
  });

  test('close() drops the database', async () => {
    const db = getDb();
    const other = await freshPostgres();
    const name = new URL(other.url ?? '').pathname.slice(1);
    expect(await db.query('select count(*) as n from pg_database where datname = $1', [name])).toEqual([{ n: 1 }]);
    const idle = other.pool(1);
    await idle.query('select 1');
    // A test that never releases a client must not hang close() or crash the worker.
    const leaked = await other.pool(1).connect();
    await leaked.query('select 1');
    await other.close();
    await other.close(); // idempotent
    expect(await db.query('select count(*) as n from pg_database where datname = $1', [name])).toEqual([{ n: 0 }]);
  });
});

describe('server availability', () => {
  test('freshPostgres() throws when server suites are disabled', async () => {
    if (serverAvailable) return;
    await expect(freshPostgres()).rejects.toThrow(/server suites are disabled/);
  });
});
