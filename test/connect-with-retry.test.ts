/**
 * The harness waits for a full server instead of failing, on the real server: a temporary role
 * with CONNECTION LIMIT 1 makes "too many connections" (SQLSTATE 53300, the same code as a full
 * server) on demand. One connection holds the role's only slot; a second, opened through the
 * harness, is refused and retried; once the first is released the second gets in. The test waits
 * for each step to be seen (a retry counted), never for a duration.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRetries, connectWithRetry, isRetryableConnectError } from './connect-with-retry.ts';
import { connectClient, describeServer } from './db.ts';
import { waitFor } from './wait-for.ts';

describe('isRetryableConnectError', () => {
  it('retries only too_many_connections (53300) and cannot_connect_now (57P03)', () => {
    expect(isRetryableConnectError({ code: '53300' })).toBe(true);
    expect(isRetryableConnectError({ code: '57P03' })).toBe(true);
    for (const other of [{ code: '3D000' }, { code: '28P01' }, { code: 'ECONNREFUSED' }, new Error('x'), null, undefined]) {
      expect(isRetryableConnectError(other)).toBe(false);
    }
  });
});

describeServer('connect with retry', (db) => {
  const role = `tokengate_limit_${randomBytes(4).toString('hex')}`;
  /** The test database's URL, logging in as the limited role (trust auth, like the harness's user). */
  let roleUrl: string;
  const held: pg.Client[] = [];

  beforeAll(async () => {
    await db().exec(`create role ${role} login connection limit 1`);
    const url = new URL(db().url!);
    url.username = role;
    url.password = '';
    roleUrl = url.toString();
  });
  afterAll(async () => {
    for (const client of held) await client.end().catch(() => {});
    await db().exec(`drop role if exists ${role}`);
  });

  const hold = async () => {
    const client = await connectClient({ connectionString: roleUrl });
    held.push(client);
    return client;
  };
  const whoAmI = async (q: { query: pg.Client['query'] }) => (await q.query<{ who: string }>('select current_user as who')).rows[0]!.who;

  it('a client refused with 53300 waits and gets in once a connection is released', async () => {
    const first = await hold();
    const refusals: unknown[] = [];
    const second = connectClient({ connectionString: roleUrl }, { onRetry: (error) => refusals.push(error) });
    await waitFor(() => refusals.length > 0, { what: 'the second connection to be refused and retried' });
    expect(refusals[0]).toMatchObject({ code: '53300' });

    await first.end();
    const client = await second;
    held.push(client);
    expect(await whoAmI(client)).toBe(role);
    await client.end();
  });

  it("a harness pool's new connection waits the same way", async () => {
    const first = await hold();
    const pool = db().pool(1);
    pool.options.connectionString = roleUrl; // before its first connection: it logs in as the limited role
    const before = connectRetries();
    const query = pool.query<{ who: string }>('select current_user as who');
    await waitFor(() => connectRetries() > before, { what: "the pool's connection to be refused and retried" });

    await first.end();
    expect((await query).rows[0]!.who).toBe(role);
    await pool.end();
  });

  it('other errors fail at once, and a full server fails after the wait with its own error', async () => {
    const before = connectRetries();
    const missing = new URL(db().url!);
    missing.pathname = `/no_such_database_${randomBytes(4).toString('hex')}`;
    await expect(connectClient({ connectionString: missing.toString() })).rejects.toMatchObject({ code: '3D000' });
    expect(connectRetries()).toBe(before);

    const first = await hold();
    const attempt = () => {
      const client = new pg.Client({ connectionString: roleUrl });
      return client.connect().then(
        () => client,
        async (error: unknown) => {
          await client.end().catch(() => {});
          throw error;
        },
      );
    };
    await expect(connectWithRetry(attempt, { waitMs: 200 })).rejects.toMatchObject({ code: '53300' });
    expect(connectRetries()).toBeGreaterThan(before);
    await first.end();
  });
});
