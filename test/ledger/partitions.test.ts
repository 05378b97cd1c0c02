/**
 * The ledger partitioned by month: entries route to their month, land in the default partition
 * when it has none (and move out when it is created), a month older than the previous one is
 * archived with its totals, partitions are as append-only and as closed to clients as the ledger,
 * and the migration keeps every existing entry, id and balance.
 */
import { PGlite } from '@electric-sql/pglite';
import { expect, it } from 'vitest';
import { migrationFiles, runMigrations } from '../../server/migrate.ts';
import { ledgerCall } from '../../server/ledger-call.ts';
import { describeEachDb, type TestDb } from '../db.ts';
import { call, createOrg, expectReconciled, failure } from '../ledger.ts';

/** Where each of the organization's entries lives: partition name → entries. */
async function placement(db: TestDb, orgId: string): Promise<Record<string, number>> {
  const rows = await db.query<{ part: string; n: number }>(
    `select tableoid::regclass::text as part, count(*)::int as n from tokengate.ledger where org_id = $1 group by 1`,
    [orgId],
  );
  return Object.fromEntries(rows.map((r) => [r.part, r.n]));
}

describeEachDb('partitioned ledger', (db) => {
  it('routes entries to their month; without a partition they wait in the default one, and move out when it is created', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    expect(await call(db(), 'create_ledger_partitions', { p_months_ahead: 1 })).toBe(2);
    expect(await call(db(), 'create_ledger_partitions', { p_months_ahead: 1 })).toBe(0);
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const o = { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'lead_generation' };
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'jan' });
    await db().setNow('2028-02-10T12:00:00Z');
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'feb' });
    // March has no partition yet.
    await db().setNow('2028-03-10T12:00:00Z');
    const mar = await call(db(), 'deduct', { ...o, p_idempotency_key: 'mar' });
    expect(await placement(db(), org.orgId)).toMatchObject({
      'tokengate_partitions.ledger_2028_01': expect.any(Number),
      'tokengate_partitions.ledger_2028_02': expect.any(Number),
      'tokengate_partitions.ledger_default': expect.any(Number),
    });
    const before = await db().query(`select * from tokengate.ledger where org_id = $1 order by id`, [org.orgId]);
    expect(await call(db(), 'create_ledger_partitions', { p_months_ahead: 0 })).toBe(1);
    const after = await db().query(`select * from tokengate.ledger where org_id = $1 order by id`, [org.orgId]);
    expect(after).toEqual(before);
    expect(Object.keys(await placement(db(), org.orgId)).sort()).toEqual([
      'tokengate_partitions.ledger_2028_01',
      'tokengate_partitions.ledger_2028_02',
      'tokengate_partitions.ledger_2028_03',
    ]);
    // A replay still finds its key; the next charge goes straight to March.
    expect(await call(db(), 'deduct', { ...o, p_idempotency_key: 'mar' })).toMatchObject({ ledgerId: mar.ledgerId, replayed: true });
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'mar-2' });
    expect((await placement(db(), org.orgId))['tokengate_partitions.ledger_default']).toBeUndefined();
    await expectReconciled(db(), org.orgId);
  });

  it('archives a month older than the previous one: totals kept, partition detached, verify and stats still whole', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    await call(db(), 'create_ledger_partitions', { p_months_ahead: 3 });
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const o = { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'lead_generation' };
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'jan-1', p_units: 3 });
    const hold = await call(db(), 'reserve', { ...o, p_idempotency_key: 'jan-hold', p_estimate: 10 });
    await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.owner, p_reservation_id: hold.reservationId, p_actual: 4 });
    await db().setNow('2028-02-10T12:00:00Z');
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'feb-1' });
    await db().setNow('2028-03-02T12:00:00Z');
    // Only months before the previous one: February stays live in March.
    expect((await failure(call(db(), 'archive_ledger_partition', { p_month: '2028-02-01' }))).name).toBe('invalid_argument');
    const jan = await db().query<{ n: number }>(`select count(*)::int as n from tokengate_partitions.ledger_2028_01 where org_id = $1`, [org.orgId]);
    const archived = await call(db(), 'archive_ledger_partition', { p_month: '2028-01-15' });
    expect(archived).toMatchObject({ month: '2028-01-01', table: 'tokengate_partitions.archived_ledger_2028_01' });
    expect(archived.entries).toBeGreaterThanOrEqual(jan[0]!.n);
    expect(Object.keys(await placement(db(), org.orgId))).toEqual(['tokengate_partitions.ledger_2028_02']);
    // The detached table is still there for the operator to dump, and is no longer the ledger's.
    const [kept] = await db().query<{ n: number }>(`select count(*)::int as n from tokengate_partitions.archived_ledger_2028_01 where org_id = $1`, [org.orgId]);
    expect(kept!.n).toBe(jan[0]!.n);
    expect((await failure(call(db(), 'archive_ledger_partition', { p_month: '2028-01-01' }))).name).toBe('invalid_argument');
    // The partition job does not re-create an archived month.
    await db().setNow('2028-01-20T12:00:00Z');
    expect(await call(db(), 'create_ledger_partitions', { p_months_ahead: 0 })).toBe(0);
    await db().setNow('2028-03-02T12:00:00Z');
    await expectReconciled(db(), org.orgId);
    // Balances continue from the archived totals; usage of January is still reported.
    await call(db(), 'deduct', { ...o, p_idempotency_key: 'mar-1' });
    await expectReconciled(db(), org.orgId);
    const stats = await call(db(), 'stats', { p_org_id: org.orgId, p_user_id: org.owner, p_from: '2028-01-01', p_to: '2028-03-31' });
    expect(stats.totals).toEqual({ tokens: 3 * 2 + 4 + 2 + 2, events: 4 });
    // An edit of the archived totals is caught.
    await db().query(`update tokengate.ledger_archived set purchased_delta = purchased_delta + 1 where org_id = $1`, [org.orgId]);
    const problems = await call<{ check: string }[]>(db(), 'verify_ledger', { p_org_id: org.orgId });
    expect(problems.map((p) => p.check)).toContain('bucket_equals_ledger_sum');
  });

  it('partitions are append-only like the ledger, and no client role can reach their schema', async () => {
    await db().setNow('2029-05-10T12:00:00Z');
    await call(db(), 'create_ledger_partitions', { p_months_ahead: 0 });
    const org = await createOrg(db(), { plan: 'pro', anchor: '2029-05-01T00:00:00Z' });
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'lead_generation', p_idempotency_key: 'k' });
    for (const sql of [
      `update tokengate_partitions.ledger_2029_05 set charged = charged + 1`,
      `delete from tokengate_partitions.ledger_2029_05`,
      `truncate tokengate_partitions.ledger_2029_05`,
      `truncate tokengate_partitions.ledger_default`,
    ]) {
      await expect(db().query(sql), sql).rejects.toMatchObject({ code: 'TGD01' });
    }
    const usage = await db().query<{ role: string; usage: boolean }>(
      `select r as role, has_schema_privilege(r, 'tokengate_partitions', 'usage') as usage from unnest(array['anon', 'authenticated', 'service_role']) r`,
    );
    expect(usage).toEqual([
      { role: 'anon', usage: false },
      { role: 'authenticated', usage: false },
      { role: 'service_role', usage: false },
    ]);
    await expect(
      db().as({ role: 'authenticated', userId: org.owner }, (q) => q.query(`select * from tokengate_partitions.ledger_2029_05`)),
    ).rejects.toMatchObject({ code: '42501' });
    // Through the ledger, the owner still reads their own entries.
    const own = await db().as({ role: 'authenticated', userId: org.owner }, (q) =>
      q.query(`select count(*)::int as n, count(distinct org_id)::int as orgs from tokengate.ledger`),
    );
    const [all] = await db().query<{ n: number }>(`select count(*)::int as n from tokengate.ledger where org_id = $1`, [org.orgId]);
    expect(own).toEqual([{ n: all!.n, orgs: 1 }]);
  });
});

it('the migration to a partitioned ledger keeps every entry, id and balance of a database with history', async () => {
  const all = await migrationFiles();
  const cut = all.findIndex((f) => f.name.includes('_tokengate_ledger_partitions'));
  expect(cut).toBeGreaterThan(0);
  const pg = await PGlite.create();
  try {
    await runMigrations((sql) => pg.exec(sql), all.slice(0, cut));
    const run = async (fn: Parameters<typeof ledgerCall>[0], args: Record<string, unknown>, now: string) => {
      const { text, values } = ledgerCall(fn, args, { now: new Date(now) });
      return (await pg.query<{ result: any }>(text, values)).rows[0]!.result;
    };
    // History over three months: charges, holds committed and released, a grant, a plan change.
    const org = '6f1c2a9e-2b1d-4c55-9a43-6f0d5f1b7a01';
    const owner = '6f1c2a9e-2b1d-4c55-9a43-6f0d5f1b7a02';
    await run('create_account', { p_org_id: org, p_plan_id: 'pro', p_owner_id: owner, p_period_anchor: '2028-01-01T00:00:00Z' }, '2028-01-01T00:00:00Z');
    const months = ['2028-01-15T10:00:00Z', '2028-02-15T10:00:00Z', '2028-03-15T10:00:00Z'];
    for (const [m, now] of months.entries()) {
      await run('deduct', { p_org_id: org, p_user_id: owner, p_token_type: 'lead_generation', p_idempotency_key: `d${m}`, p_units: 2 }, now);
      const r = await run('reserve', { p_org_id: org, p_user_id: owner, p_token_type: 'strategy_analysis', p_idempotency_key: `r${m}`, p_estimate: 20 }, now);
      await run(m === 1 ? 'release' : 'commit', { p_org_id: org, p_user_id: owner, p_reservation_id: r.reservationId, ...(m === 1 ? {} : { p_actual: 15 }) }, now);
      await run('grant_tokens', { p_org_id: org, p_actor_id: null, p_token_type: 'lead_generation', p_amount: 7, p_idempotency_key: `g${m}` }, now);
    }
    await run('set_plan', { p_org_id: org, p_actor_id: null, p_plan_id: 'enterprise' }, '2028-03-20T10:00:00Z');
    const ledger = async () => (await pg.query(`select * from tokengate.ledger order by id`)).rows;
    const buckets = async () => (await pg.query<Record<string, unknown>>(`select * from tokengate.buckets order by org_id, token_type_id`)).rows;
    const [ledgerBefore, bucketsBefore] = [await ledger(), await buckets()];
    expect(ledgerBefore.length).toBeGreaterThan(10);

    await runMigrations((sql) => pg.exec(sql), all.slice(cut));
    expect(await ledger()).toEqual(ledgerBefore);
    // (Later migrations add columns to buckets: the columns that were there keep their values.)
    const columns = Object.keys(bucketsBefore[0]!);
    expect((await buckets()).map((b) => Object.fromEntries(columns.map((c) => [c, b[c]])))).toEqual(bucketsBefore);
    expect((await pg.query(`select relkind from pg_class where oid = 'tokengate.ledger'::regclass`)).rows).toEqual([{ relkind: 'p' }]);
    expect(await run('verify_ledger', { p_org_id: org }, '2028-03-20T10:00:00Z')).toEqual([]);
    // The identity continues after the largest id.
    const next = await run('deduct', { p_org_id: org, p_user_id: owner, p_token_type: 'lead_generation', p_idempotency_key: 'after' }, '2028-03-21T10:00:00Z');
    expect(Number(next.ledgerId)).toBe(Math.max(...ledgerBefore.map((e: any) => Number(e.id))) + 1);
    expect(await run('verify_ledger', { p_org_id: org }, '2028-03-21T10:00:00Z')).toEqual([]);
  } finally {
    await pg.close();
  }
});

describeEachDb('ledger hash chain', (db) => {
  it('verify_ledger detects an entry edited, deleted or forged with the append-only triggers bypassed', async () => {
    await db().setNow('2028-06-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-06-01T00:00:00Z' });
    const o = { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'lead_generation' };
    for (const key of ['a', 'b', 'c']) await call(db(), 'deduct', { ...o, p_idempotency_key: key });
    const r = await call(db(), 'reserve', { ...o, p_idempotency_key: 'h', p_estimate: 5 });
    await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.owner, p_reservation_id: r.reservationId, p_actual: 3 });
    await expectReconciled(db(), org.orgId);
    const chained = await db().query<{ n: number }>(`select count(*)::int as n from tokengate.ledger where org_id = $1 and chain is null`, [org.orgId]);
    expect(chained).toEqual([{ n: 0 }]);
    const checks = async () => (await call<{ check: string; problem?: string }[]>(db(), 'verify_ledger', { p_org_id: org.orgId })).map((p) => `${p.check}:${p.problem ?? ''}`);
    const bypassed = async (sql: string) => {
      // What only a superuser (or the owner with this setting) can do: the triggers do not fire.
      await db().exec(`set session_replication_role = replica; ${sql}; set session_replication_role = origin;`);
    };

    // Who was charged, rewritten: no balance changes, only the chain sees it.
    await bypassed(`update tokengate.ledger set user_id = '${org.admin}' where org_id = '${org.orgId}' and idempotency_key = 'b'`);
    expect(await checks()).toEqual(['ledger_chain:link']);
    await bypassed(`update tokengate.ledger set user_id = '${org.owner}' where org_id = '${org.orgId}' and idempotency_key = 'b'`);
    expect(await checks()).toEqual([]);

    // A forged entry at the end with a well-formed link, but the bucket's head does not move.
    await db().query(
      `insert into tokengate.ledger (org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
         allowance_after, purchased_after, held_after, period_start, user_id, metadata, created_at, chain)
       select l.org_id, l.token_type_id, 'adjust', 0, 0, 0, 0, l.allowance_after, l.purchased_after, l.held_after, l.period_start, null, '{}', l.created_at,
              tokengate._chain(l.chain, 'adjust', 0, 0, 0, 0, l.allowance_after, l.purchased_after, l.held_after, l.period_start, null, null, null, '{}', l.created_at)
       from tokengate.ledger l where l.org_id = $1 and l.token_type_id = 'lead_generation' order by l.id desc limit 1`,
      [org.orgId],
    );
    expect(await checks()).toEqual(['ledger_chain:head']);
  });
});
