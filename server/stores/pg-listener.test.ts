/**
 * `postgresStore`'s `listen` on a real server: one dedicated connection (named `tokengate-listen` in
 * `pg_stat_activity`) for every channel and subscriber, opened on the first listen and ended after
 * the last; after the connection is killed it reconnects, tells its subscribers about the gap and
 * receives again. Notifications are sent with `pg_notify` from the harness's own session: another
 * connection, as a charge would be.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { describeServer } from '../../test/db.ts';
import { freePort } from '../../test/free-port.ts';
import { waitFor } from '../../test/wait-for.ts';
import { LISTEN_APPLICATION_NAME, postgresStore } from './postgres-store.ts';

describeServer('postgresStore.listen', (db) => {
  let store: ReturnType<typeof postgresStore>;

  beforeEach(() => {
    store = postgresStore({ connectionString: db().url!, max: 1 });
  });
  afterEach(async () => {
    await store.close();
  });

  /** The listening sessions on this database: their pids and last statements. */
  const listeners = () =>
    db().query<{ pid: number; query: string }>(
      `select pid, query from pg_stat_activity where datname = current_database() and application_name = $1`,
      [LISTEN_APPLICATION_NAME],
    );
  const notify = (channel: string, payload: string) => db().query(`select pg_notify($1, $2)`, [channel, payload]);

  it('shares one connection between channels and subscribers, opened on the first listen and ended after the last', async () => {
    expect(await listeners()).toEqual([]);
    const got = { a1: [] as string[], a2: [] as string[], b: [] as string[] };
    const stopA1 = await store.listen('chan_a', (p) => got.a1.push(p));
    const stopA2 = await store.listen('chan_a', (p) => got.a2.push(p));
    const stopB = await store.listen('Chan_B', (p) => got.b.push(p)); // case kept: a quoted channel
    expect(await listeners()).toHaveLength(1);

    await notify('chan_a', 'one');
    await notify('Chan_B', 'two');
    await notify('chan_b', 'not for Chan_B');
    await waitFor(() => got.a1.length === 1 && got.a2.length === 1 && got.b.length === 1, { what: 'both channels delivered' });
    await notify('chan_a', 'marker');
    await waitFor(() => got.a1.length === 2, { what: 'the marker' });
    expect(got).toEqual({ a1: ['one', 'marker'], a2: ['one', 'marker'], b: ['two'] });

    await stopA1();
    await notify('chan_a', 'three');
    await waitFor(() => got.a2.length === 3, { what: 'the remaining subscriber' });
    expect(got.a1).toEqual(['one', 'marker']);
    expect(await listeners()).toHaveLength(1);

    await stopA2();
    await stopA2(); // twice is harmless
    await stopB();
    await waitFor(async () => (await listeners()).length === 0, { what: 'the listening connection to end' });
  });

  it('reconnects after its connection is killed, tells the subscribers of the gap, and receives again', async () => {
    const got: string[] = [];
    let gaps = 0;
    await store.listen('chan_gap', (p) => got.push(p), { onReconnect: () => gaps++ });
    const [before] = await listeners();
    await db().query(`select pg_terminate_backend($1)`, [before!.pid]);
    await waitFor(() => gaps === 1, { what: 'onReconnect after the connection was killed' });
    const [after] = await listeners();
    expect(after!.pid).not.toBe(before!.pid);
    await notify('chan_gap', 'after the gap');
    await waitFor(() => got.length === 1, { what: 'a notification on the new connection' });
    expect(got).toEqual(['after the gap']);
    expect(await listeners()).toHaveLength(1);
  });

  it('a subscriber that throws does not keep the others from their notifications', async () => {
    const got: string[] = [];
    await store.listen('chan_throw', () => {
      throw new Error('subscriber bug');
    });
    await store.listen('chan_throw', (p) => got.push(p));
    await notify('chan_throw', 'x');
    await waitFor(() => got.length === 1, { what: 'the second subscriber' });
  });

  it('a subscriber leaving while another arrives leaves the connection listening', async () => {
    const got: string[] = [];
    const stop = await store.listen('chan_race', () => {});
    const [, stopNext] = await Promise.all([stop(), store.listen('chan_race', (p) => got.push(p))]);
    await notify('chan_race', 'still here');
    await waitFor(() => got.length === 1, { what: 'the newcomer to receive' });
    await stopNext();
    await waitFor(async () => (await listeners()).length === 0, { what: 'the listening connection to end' });
  });

  it('rejects with unavailable when the database cannot be reached, and after close', async () => {
    const nowhere = postgresStore({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere` });
    const error = await nowhere.listen('chan_x', () => {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenGateError);
    expect((error as TokenGateError).code).toBe('unavailable');
    await nowhere.close();
    await expect(nowhere.listen('chan_x', () => {})).rejects.toMatchObject({ code: 'unavailable' });
  });
});
