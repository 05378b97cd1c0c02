/**
 * The change hub on a real PGlite store (`pgliteStore` with PGlite's own `listen`): notifications on
 * `tokengate_changes` reach the subscribers of their organization only, malformed ones are dropped,
 * the hub holds one LISTEN however many subscribers, and stops listening after the last one left.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, describe } from 'vitest';
import type { BalanceChange } from '../../src/core/types.ts';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { createOrg } from '../../test/ledger.ts';
import { waitFor } from '../../test/wait-for.ts';
import { createTokenGate } from '../gate.ts';
import { batchingStore } from '../stores/batching-store.ts';
import { pgliteStore, type PgliteLike } from '../stores/pglite-store.ts';
import type { TokenStore } from '../store.ts';
import { CHANGES_CHANNEL, createChangeHub, sharedChangeHub } from './change-hub.ts';

/** The test database as PGlite's own API: its queries and its `listen`. */
const asPglite = (db: TestDb): PgliteLike => ({
  query: async <T,>(sql: string, params?: unknown[]) => ({ rows: (await db.query(sql, params)) as T[] }),
  listen: (channel, callback) => db.listen(channel, callback),
});

const change = (orgId: string, ledgerId: number, available: number | null = 10): BalanceChange => ({
  orgId,
  tokenType: 'quest_generation',
  ledgerId,
  kind: 'deduct',
  available,
  allowanceRemaining: available ?? 0,
  purchased: 0,
  held: 0,
});

describe('createChangeHub on PGlite', () => {
  let db: TestDb;
  let store: TokenStore;
  const orgA = randomUUID();
  const orgB = randomUUID();

  beforeAll(async () => {
    db = await freshPglite();
    store = pgliteStore(asPglite(db));
  });
  afterAll(async () => {
    await db?.close();
  });

  const notify = (payload: string) => db.query(`select pg_notify($1, $2)`, [CHANGES_CHANNEL, payload]);
  const listeningChannels = async () => (await db.query<{ c: string }>(`select pg_listening_channels() as c`)).map((r) => r.c);

  it('delivers each change to the subscribers of its organization only, parsed once, and drops malformed payloads', async () => {
    const hub = createChangeHub(store, { lingerMs: 0 });
    const got = { a1: [] as [BalanceChange, string][], a2: [] as [BalanceChange, string][], b: [] as BalanceChange[] };
    const gaps: string[] = [];
    const stopA1 = await hub.subscribe(orgA, { onChange: (c, d) => got.a1.push([c, d]), onGap: () => gaps.push('a1') });
    const stopA2 = await hub.subscribe(orgA.toUpperCase(), { onChange: (c, d) => got.a2.push([c, d]), onGap: () => gaps.push('a2') });
    const stopB = await hub.subscribe(orgB, { onChange: (c) => got.b.push(c), onGap: () => gaps.push('b') });
    expect(hub.subscribers).toBe(3);
    expect(await listeningChannels()).toEqual([CHANGES_CHANNEL]);

    for (const bad of [
      'not json',
      '[]',
      JSON.stringify({ ...change(orgA, 1), ledgerId: 'one' }),
      JSON.stringify({ ...change(orgA, 2), kind: 'mint' }),
      JSON.stringify({ ...change(orgA, 3), orgId: 'not-a-uuid' }),
      JSON.stringify({ ...change(orgA, 4), available: -1 }),
      JSON.stringify({ ...change(orgA, 5), purchased: undefined }),
    ]) {
      await notify(bad);
    }
    const extra = { ...change(orgA, 6), secret: 'never forwarded' };
    await notify(JSON.stringify(extra));
    await notify(JSON.stringify(change(orgB, 7, null)));
    await waitFor(() => got.a1.length >= 1 && got.b.length >= 1, { what: 'the well-formed changes' });

    expect(got.a1.map(([c]) => c)).toEqual([change(orgA, 6)]);
    expect(got.a1[0]![1]).toBe(JSON.stringify(change(orgA, 6)));
    // The same object and the same JSON for every subscriber of the organization.
    expect(got.a2).toHaveLength(1);
    expect(got.a2[0]![0]).toBe(got.a1[0]![0]);
    expect(got.b).toEqual([change(orgB, 7, null)]);
    expect(gaps).toEqual([]);

    stopA1();
    stopA1(); // twice is harmless
    stopA2();
    stopB();
    expect(hub.subscribers).toBe(0);
    await waitFor(async () => !hub.listening && (await listeningChannels()).length === 0, { what: 'UNLISTEN after the last subscriber' });
    await notify(JSON.stringify(change(orgA, 8)));
    expect(got.a1).toHaveLength(1);
  });

  it("a charge through the gate reaches its organization's subscribers as the bucket it left", async () => {
    const hub = createChangeHub(store, { lingerMs: 0 });
    const gate = createTokenGate({ store });
    const org = await createOrg(db);
    const other = await createOrg(db);
    const ctx = { orgId: org.orgId, userId: org.members[0]! };
    await gate.balances(ctx); // the period's buckets (their refresh entries) before anyone listens
    const got: BalanceChange[] = [];
    const elsewhere: BalanceChange[] = [];
    const stop = await hub.subscribe(org.orgId, { onChange: (c) => got.push(c), onGap: () => {} });
    const stopOther = await hub.subscribe(other.orgId, { onChange: (c) => elsewhere.push(c), onGap: () => {} });
    const result = await gate.deduct(ctx, 'quest_generation', { idempotencyKey: 'hub-1' });
    await waitFor(() => got.length === 1, { what: 'the charge' });
    expect(got[0]).toEqual({
      orgId: org.orgId,
      tokenType: 'quest_generation',
      ledgerId: result.ledgerId,
      kind: 'deduct',
      available: result.balance.available,
      allowanceRemaining: result.balance.allowanceRemaining,
      purchased: result.balance.purchased,
      held: result.balance.held,
    });
    expect(elsewhere).toEqual([]);
    stop();
    stopOther();
  });

  it('holds one LISTEN for many subscribers, and listens again for a subscriber who comes later', async () => {
    let listens = 0;
    const counting: TokenStore = { ...store, listen: (...args) => (listens++, store.listen!(...args)) };
    const hub = createChangeHub(counting, { lingerMs: 0 });
    const received = new Array<number>(50).fill(0);
    const stops = await Promise.all(received.map((_, i) => hub.subscribe(orgA, { onChange: () => received[i]!++, onGap: () => {} })));
    expect(listens).toBe(1);
    await notify(JSON.stringify(change(orgA, 9)));
    await waitFor(() => received.every((n) => n === 1), { what: 'all 50 subscribers' });
    for (const stop of stops) stop();
    await waitFor(() => !hub.listening, { what: 'the hub to stop listening' });

    let late = 0;
    const stopLate = await hub.subscribe(orgA, { onChange: () => late++, onGap: () => {} });
    expect(listens).toBe(2);
    await notify(JSON.stringify(change(orgA, 10)));
    await waitFor(() => late === 1, { what: 'the late subscriber' });
    stopLate();
    await hub.close();
    await expect(hub.subscribe(orgA, { onChange: () => {}, onGap: () => {} })).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('keeps listening for lingerMs after the last subscriber left; a subscriber that throws does not stop the others', async () => {
    const hub = createChangeHub(store, { lingerMs: 60_000 });
    const stop = await hub.subscribe(orgA, {
      onChange: () => {
        throw new Error('subscriber bug');
      },
      onGap: () => {},
    });
    let got = 0;
    const stop2 = await hub.subscribe(orgA, { onChange: () => got++, onGap: () => {} });
    await notify(JSON.stringify(change(orgA, 11)));
    await waitFor(() => got === 1, { what: 'the second subscriber' });
    stop();
    stop2();
    expect(hub.listening).toBe(true);
    expect(await listeningChannels()).toEqual([CHANGES_CHANNEL]);
    await hub.close();
    expect(hub.listening).toBe(false);
    expect(await listeningChannels()).toEqual([]);
  });

  it('leases each subscribed organization, renews it, takes a lapsed one again with onGap, and drops leases nobody needs', async () => {
    const hub = createChangeHub(store, { lingerMs: 60_000, leaseSeconds: 10 });
    const leases = async () =>
      (await db.query<{ org_id: string; live: boolean }>(`select org_id, expires_at > now() as live from tokengate.watches order by org_id`)).map(
        (r) => `${r.org_id}:${r.live ? 'live' : 'lapsed'}`,
      );
    const orgC = randomUUID();
    const orgD = randomUUID();
    expect(await leases()).toEqual([]);
    const gaps: string[] = [];
    const stopC = await hub.subscribe(orgC, { onChange: () => {}, onGap: () => gaps.push('c') });
    const stopD = await hub.subscribe(orgD, { onChange: () => {}, onGap: () => gaps.push('d') });
    // Leased before subscribe resolved: every change committed from now on notifies.
    expect(await leases()).toEqual([`${orgC}:live`, `${orgD}:live`].sort());

    // A lease that lapsed (say the database was unreachable for longer than leaseSeconds) is taken
    // again at the next renewal, and its subscribers resynchronise.
    await db.query(`update tokengate.watches set expires_at = now() - interval '1 second' where org_id = $1`, [orgC]);
    await waitFor(() => gaps.includes('c'), { what: 'onGap for the lapsed lease' });
    expect(gaps).toEqual(['c']);
    expect(await leases()).toEqual([`${orgC}:live`, `${orgD}:live`].sort());

    // An organization nobody subscribes to any more is dropped at the next renewal…
    stopD();
    await waitFor(async () => (await leases()).length === 1, { what: "the renewal dropping orgD's lease" });
    expect(await leases()).toEqual([`${orgC}:live`]);
    // …and closing the hub drops the rest.
    stopC();
    await hub.close();
    expect(await leases()).toEqual([]);
    expect(() => createChangeHub(store, { leaseSeconds: 5 })).toThrow(/leaseSeconds/);
  });

  it('a lease that cannot be taken again (the database refused) is retried at the next renewal, then its subscribers resynchronise', async () => {
    let refuseWatch = 0;
    // The real store, with a fault injected into `watch` calls while refuseWatch > 0.
    const faulty: TokenStore = {
      ...store,
      listen: store.listen!.bind(store),
      rpc: (fn, args, options) => {
        if (fn === 'watch' && refuseWatch > 0) {
          refuseWatch--;
          return Promise.reject(new Error('connection refused'));
        }
        return store.rpc(fn, args, options);
      },
    };
    const hub = createChangeHub(faulty, { lingerMs: 60_000, leaseSeconds: 10 });
    const org = randomUUID();
    const gaps: number[] = [];
    const stop = await hub.subscribe(org, { onChange: () => {}, onGap: () => gaps.push(Date.now()) });
    const live = async () => (await db.query(`select 1 from tokengate.watches where org_id = $1 and expires_at > now()`, [org])).length === 1;
    expect(await live()).toBe(true);
    refuseWatch = 1;
    await db.query(`update tokengate.watches set expires_at = now() - interval '1 second' where org_id = $1`, [org]);
    await waitFor(() => refuseWatch === 0, { what: 'the renewal trying to take the lapsed lease again' });
    expect(gaps).toEqual([]);
    await waitFor(() => gaps.length === 1, { what: 'the next renewal taking it, and onGap' });
    expect(await live()).toBe(true);
    stop();
    await hub.close();
  });

  it('one shared hub per store; a store that cannot listen has none', () => {
    expect(sharedChangeHub(store)).toBe(sharedChangeHub(store));
    expect(sharedChangeHub(pgliteStore(asPglite(db)))).not.toBe(sharedChangeHub(store));
    expect(() => createChangeHub({ rpc: store.rpc })).toThrow(/cannot listen/);
    expect(pgliteStore({ query: asPglite(db).query }).listen).toBeUndefined();
    // batchingStore passes listen through when its store has it.
    expect(typeof batchingStore(pgliteStore(asPglite(db))).listen).toBe('function');
    expect(batchingStore(pgliteStore({ query: asPglite(db).query })).listen).toBeUndefined();
  });
});
