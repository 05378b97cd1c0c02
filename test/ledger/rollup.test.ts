/**
 * The daily usage rollup, kept from the ledger: stats are exact without any scheduled roll-up, a
 * roll-up counts each charge once, and its per-bucket watermark never skips a charge that commits
 * after later entries of other buckets were rolled up.
 */
import { expect, it } from 'vitest';
import { concurrencyPoolSize, describeEachDb, describeServer, type TestDb } from '../db.ts';
import { call, createOrg, expectReconciled, failure } from '../ledger.ts';
import { waitFor } from '../wait-for.ts';

/** usage_daily of one organization, totalled per member. */
async function rollup(db: TestDb, orgId: string): Promise<Record<string, { tokens: number; events: number }>> {
  const rows = await db.query<{ user_id: string; tokens: number; events: number }>(
    `select user_id, sum(tokens)::int as tokens, sum(events)::int as events from tokengate.usage_daily where org_id = $1 group by user_id`,
    [orgId],
  );
  return Object.fromEntries(rows.map((r) => [r.user_id, { tokens: r.tokens, events: r.events }]));
}

/** What the ledger says was charged (deduct and commit entries), per organization. */
async function charged(db: TestDb, orgId: string): Promise<{ tokens: number; events: number }> {
  const [row] = await db.query<{ tokens: number; events: number }>(
    `select coalesce(sum(charged), 0)::int as tokens, count(*)::int as events from tokengate.ledger
     where org_id = $1 and kind in ('deduct', 'commit')`,
    [orgId],
  );
  return row!;
}

/**
 * The per-organization rollups agree with usage_daily: usage_org_daily is usage_daily summed by
 * (organization, type, day), and usage_org_blocks is usage_org_daily summed by aligned block.
 * Each side is computed here from the other tables, so a roll-up that wrote one and not the
 * other, or a block in the wrong place, shows.
 */
async function expectOrgRollupsAgree(db: TestDb, orgId: string): Promise<void> {
  const [daily] = await db.query<{ missing: number; extra: number; rows: number }>(
    `with expected as (
       select token_type_id, day, sum(tokens)::bigint as tokens, sum(events)::bigint as events
       from tokengate.usage_daily where org_id = $1 group by token_type_id, day
     ), actual as (
       select token_type_id, day, tokens::bigint as tokens, events::bigint as events from tokengate.usage_org_daily where org_id = $1
     )
     select (select count(*) from (select * from expected except select * from actual) x)::int as missing,
            (select count(*) from (select * from actual except select * from expected) x)::int as extra,
            (select count(*) from actual)::int as rows`,
    [orgId],
  );
  expect(daily, 'usage_org_daily = usage_daily by (org, type, day)').toEqual({ missing: 0, extra: 0, rows: daily!.rows });
  expect(daily!.rows).toBeGreaterThan(0);
  const [blocks] = await db.query<{ missing: number; extra: number }>(
    `with expected as (
       select o.token_type_id, s.span, o.day - (((o.day - date '2000-01-01') % s.span) + s.span) % s.span as start,
              sum(o.tokens)::bigint as tokens, sum(o.events)::bigint as events
       from tokengate.usage_org_daily o cross join (select (2 ^ g)::int as span from generate_series(1, 8) g) s
       where o.org_id = $1 group by 1, 2, 3
     ), actual as (
       select token_type_id, span_days, start_day, tokens::bigint, events::bigint from tokengate.usage_org_blocks where org_id = $1
     )
     select (select count(*) from (select * from expected except select * from actual) x)::int as missing,
            (select count(*) from (select * from actual except select * from expected) x)::int as extra`,
    [orgId],
  );
  expect(blocks, 'usage_org_blocks = usage_org_daily by aligned block').toEqual({ missing: 0, extra: 0 });
}

describeEachDb('usage rollup', (db) => {
  it('stats are exact before any scheduled roll-up; roll_up_usage catches up once and then finds nothing', async () => {
    await db().setNow('2028-03-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-03-01T00:00:00Z' });
    const [user] = org.members;
    const o = { p_org_id: org.orgId, p_token_type: 'goal_generation' };
    await call(db(), 'deduct', { ...o, p_user_id: user, p_idempotency_key: 'd1', p_units: 2 });
    await call(db(), 'deduct', { ...o, p_user_id: org.owner, p_idempotency_key: 'd2' });
    // A charge no longer writes the rollup…
    expect(await rollup(db(), org.orgId)).toEqual({});
    // …and verify_ledger counts what is not rolled up yet.
    await expectReconciled(db(), org.orgId);
    // stats() rolls its organization up first.
    const stats = await call(db(), 'stats', { p_org_id: org.orgId, p_user_id: user, p_from: '2028-03-10', p_to: '2028-03-10' });
    expect(stats.totals).toEqual({ tokens: 3, events: 2 });
    expect(await rollup(db(), org.orgId)).toEqual({ [user!]: { tokens: 2, events: 1 }, [org.owner]: { tokens: 1, events: 1 } });

    // A reservation committed by the owner counts for its member; a release counts nothing.
    const r = await call(db(), 'reserve', { ...o, p_user_id: user, p_idempotency_key: 'r1', p_estimate: 7 });
    await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.owner, p_reservation_id: r.reservationId, p_actual: 4 });
    const r2 = await call(db(), 'reserve', { ...o, p_user_id: user, p_idempotency_key: 'r2', p_estimate: 3 });
    await call(db(), 'release', { p_org_id: org.orgId, p_user_id: user, p_reservation_id: r2.reservationId });
    // The next day: a new row of the rollup.
    await db().setNow('2028-03-11T01:00:00Z');
    await call(db(), 'deduct', { ...o, p_user_id: user, p_idempotency_key: 'd3' });

    expect(await call(db(), 'roll_up_usage', {})).toBe(1);
    expect(await call(db(), 'roll_up_usage', {})).toBe(0);
    expect(await rollup(db(), org.orgId)).toEqual({ [user!]: { tokens: 2 + 4 + 1, events: 3 }, [org.owner]: { tokens: 1, events: 1 } });
    const days = await db().query<{ day: string; tokens: number }>(
      `select day::text, sum(tokens)::int as tokens from tokengate.usage_daily where org_id = $1 group by day order by day`,
      [org.orgId],
    );
    expect(days).toEqual([{ day: '2028-03-10', tokens: 7 }, { day: '2028-03-11', tokens: 1 }]);
    expect(await charged(db(), org.orgId)).toEqual({ tokens: 8, events: 4 });
    await expectReconciled(db(), org.orgId);
    await expectOrgRollupsAgree(db(), org.orgId);
  });

  it('verify_ledger reports a rollup that disagrees with the ledger (rolled-up part and tail together)', async () => {
    await db().setNow('2028-03-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-03-01T00:00:00Z' });
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'd1' });
    await call(db(), 'roll_up_usage', {});
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'd2' });
    await expectReconciled(db(), org.orgId);
    // The owner (not a client: RLS refuses every write) inflates the rollup.
    await db().query(`update tokengate.usage_daily set tokens = tokens + 1 where org_id = $1`, [org.orgId]);
    const problems = await call<{ check: string }[]>(db(), 'verify_ledger', { p_org_id: org.orgId });
    expect(problems.map((p) => p.check)).toEqual(['usage_rollup_equals_charges']);
  });

  it('refuses a limit out of range with invalid_argument', async () => {
    expect((await failure(call(db(), 'roll_up_usage', { p_limit: 0 }))).name).toBe('invalid_argument');
  });
});

describeServer('usage rollup under concurrency', (db) => {
  it('a charge that commits after later entries of another bucket were rolled up is still counted (the watermark is per bucket)', async () => {
    await db().setNow('2028-03-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-03-01T00:00:00Z' });
    const pool = db().pool(2);
    const [t1, t2] = await Promise.all([pool.connect(), pool.connect()]);
    const deduct = (c: typeof t1, type: string, key: string) =>
      c.query<{ r: { ledgerId: number } }>(`select tokengate.deduct($1, $2, $3, $4) as r`, [org.orgId, org.owner, type, key]);
    try {
      // T1 charges one bucket and stays open: its entry has the smaller id.
      await t1.query('begin');
      const early = (await deduct(t1, 'strategy_analysis', 'slow')).rows[0]!.r.ledgerId;
      // T2 charges another bucket of the same organization and commits first.
      const late = (await deduct(t2, 'goal_generation', 'fast')).rows[0]!.r.ledgerId;
      expect(Number(late)).toBeGreaterThan(Number(early));
      // A roll-up now sees T2's entry, not T1's.
      expect(await call(db(), 'roll_up_usage', {})).toBe(1);
      expect((await charged(db(), org.orgId)).events).toBe(1);
      await t1.query('commit');
      // T1's entry, below T2's id, is still rolled up (an id watermark per organization would skip it).
      expect(await call(db(), 'roll_up_usage', {})).toBe(1);
      const stats = await call(db(), 'stats', { p_org_id: org.orgId, p_user_id: org.owner, p_from: '2028-03-10', p_to: '2028-03-10' });
      expect(stats.totals.events).toBe(2);
      expect(stats.totals).toEqual(await charged(db(), org.orgId));
      await expectReconciled(db(), org.orgId);
    } finally {
      t1.release();
      t2.release();
      await pool.end();
    }
  });

  it('storm: charges on three buckets from six sessions while two sessions roll up and read stats → every charge counted exactly once', async () => {
    await db().setNow('2028-03-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'enterprise', anchor: '2028-03-01T00:00:00Z', members: 3 });
    // Lanes share a pool within the file's connection budget (waiting for a connection is fine).
    const pool = db().pool(concurrencyPoolSize(6));
    const types = ['goal_generation', 'lead_generation', 'strategy_analysis'];
    const users = [org.owner, ...org.members];
    let done = false;
    let rollUps = 0;
    const chargers = Array.from({ length: 6 }, async (_, lane) => {
      for (let i = 0; i < 60; i++) {
        await pool.query(`select tokengate.deduct($1, $2, $3, $4)`, [org.orgId, users[(lane + i) % users.length], types[(lane * 7 + i) % 3], `s-${lane}-${i}`]);
      }
    });
    const rollers = Array.from({ length: 2 }, async (_, lane) => {
      while (!done) {
        if (lane === 0) await pool.query(`select tokengate.roll_up_usage()`);
        else await pool.query(`select tokengate.stats($1, $2, '2028-03-10', '2028-03-10')`, [org.orgId, org.owner]);
        rollUps++;
      }
    });
    await Promise.all(chargers);
    done = true;
    await Promise.all(rollers);
    expect(rollUps).toBeGreaterThan(1);
    await waitFor(async () => (await call<number>(db(), 'roll_up_usage', {})) === 0, { what: 'the rollup caught up' });
    const total = Object.values(await rollup(db(), org.orgId)).reduce((a, r) => ({ tokens: a.tokens + r.tokens, events: a.events + r.events }), { tokens: 0, events: 0 });
    expect(total).toEqual(await charged(db(), org.orgId));
    expect(total.events).toBe(360);
    await expectReconciled(db(), org.orgId);
    await expectOrgRollupsAgree(db(), org.orgId);
    await pool.end();
  });
});
