/**
 * Section 3: stats latency for one organization while the ledger grows (10k → 100k → 1M rows,
 * 10M with --huge). `stats()` reads the `usage_daily` rollup and the buckets, never the ledger, so
 * its latency should not follow the ledger's size.
 *
 * What grows, in bulk SQL (one statement per ≤ 1M rows), as consistent history that
 * `verify_ledger()` reconciles: `deduct` entries of Enterprise (unlimited) organizations, exactly
 * what `tokengate.deduct` appends on that plan (no balance change, `charged` = cost), together
 * with the bucket's `used`, the `usage_daily` rollup and `member_usage`, as the function keeps them.
 *   - 10% of the rows belong to the measured organization: 10 members, 5 token types, spread over
 *     the last 25 days of its current period. Its rollup is full (25 × 5 × 10 = 1,250 rows) from
 *     the first level on, so as its history grows 100× its stats work stays the same.
 *   - 90% belong to other organizations (their ledger and rollup rows grow in the same tables).
 * The measured call: `gate.stats(ctx, { from: day − 29, to: day })` (day: yesterday, UTC — the day the history is anchored to) through postgresStore,
 * sequentially on one connection.
 */
import { randomUUID } from 'node:crypto';
import { createTokenGate } from '../server/gate.ts';
import { postgresStore } from '../server/stores/postgres-store.ts';
import { createBenchDatabase } from './database.ts';
import { round, runSequential, type Measurement } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

/** One level of the stats table. */
export interface StatsRow extends Measurement {
  /** Rows in the whole ledger when measured. */
  ledgerRows: number;
  /** Ledger rows of the measured organization. */
  orgLedgerRows: number;
  /** Rollup rows of the measured organization (what stats reads). */
  orgUsageDailyRows: number;
  /** Rollup rows of all organizations. */
  usageDailyRows: number;
  /** Events the measured stats call reported (its history really grew). */
  reportedEvents: number;
  /** p50 of this level ÷ p50 of the smallest level. */
  p50Ratio: number;
  /** Seconds the bulk growth to this level took. */
  growSeconds: number;
}

/** What section 3 returns. */
export interface StatsResults {
  /** What the growth adds, in words. */
  grown: string;
  /** Organizations besides the measured one that own growth rows. */
  otherOrganizations: number;
  rows: StatsRow[];
  /** p50 at the largest level ÷ p50 at the smallest (near 1 = stats does not scan the ledger). */
  ratioLargestToSmallest: number;
  /** verify_ledger() of the measured organization and of one other, after the last level ([] = reconciled). */
  verifyLedger: unknown[];
}

const DAYS = 25;
const MEMBERS = 10;
const BATCH = 1_000_000;

/**
 * Run section 3 in its own scratch database.
 *
 * @example
 * const stats = await runStatsSection(profile, url, log);
 */
export async function runStatsSection(profile: Profile, databaseUrl: string, log: Log): Promise<StatsResults> {
  const otherOrgs = profile.statsLevels[0]! >= 10_000 ? 1_000 : 100;
  log(`creating a scratch database, the measured organization and ${otherOrgs} others…`);
  const db = await createBenchDatabase(databaseUrl);
  try {
    const a = db.admin;
    const orgId = randomUUID();
    const ownerId = randomUUID();
    // Organization 0 is measured; 1..otherOrgs are the others. Anchored 25 days ago, so the
    // current period holds the whole generated history.
    await a.query(`
      create schema bench;
      create table bench.orgs (n int primary key, org_id uuid not null);
      create table bench.users (n int not null, m int not null, user_id uuid not null, primary key (n, m));
      create table bench.types (t int primary key, id text not null, cost int not null);`);
    await a.query(`insert into bench.orgs values (0, $1::uuid) union all select n, gen_random_uuid() from generate_series(1, $2::int) n`, [orgId, otherOrgs]);
    await a.query(
      `insert into bench.users select 0, m, case when m = 0 then $1::uuid else gen_random_uuid() end from generate_series(0, $2::int - 1) m
       union all select n, 0, gen_random_uuid() from bench.orgs where n > 0`,
      [ownerId, MEMBERS],
    );
    await a.query(`insert into bench.types select (row_number() over (order by sort_order, id))::int - 1, id, cost from tokengate.token_types where active`);
    const { rows: typeCount } = await a.query<{ c: number }>(`select count(*)::int as c from bench.types`);
    const types = typeCount[0]!.c;
    await a.query(
      `select count(tokengate.create_account(o.org_id, 'enterprise', u.user_id, now() - interval '${DAYS} days'))
       from bench.orgs o join bench.users u on u.n = o.n and u.m = 0`,
    );
    await a.query(`select count(tokengate.add_member(o.org_id, null, u.user_id, 'member')) from bench.orgs o join bench.users u on u.n = o.n and u.m > 0`);
    // Provision every bucket (first touch: one refresh entry each), as the first real call would.
    await a.query(`select count(tokengate.balances(o.org_id, u.user_id)) from bench.orgs o join bench.users u on u.n = o.n and u.m = 0`);

    // Every entry's time is counted back from one instant, not from each statement's now(): a run
    // that crosses midnight UTC would otherwise put later rows on a new day (and a new rollup row).
    // The instant is the last millisecond of yesterday (UTC), so "d days ago, s < 1 h earlier" is
    // always d days before it, whatever the time of day the run starts at.
    const anchor = new Date(new Date().setUTCHours(0, 0, 0, 0) - 1).toISOString();
    await a.query(growSql(SEED_SOURCE), [1, 1, otherOrgs, types, DAYS, MEMBERS, anchor]);

    const pool = db.servicePool(1);
    const gate = createTokenGate({ store: postgresStore({ pool }) });
    const ctx = { orgId, userId: ownerId };
    const today = new Date(anchor);
    const from = new Date(today.getTime() - 29 * 86_400_000).toISOString().slice(0, 10);
    const range = { from, to: today.toISOString().slice(0, 10) };

    const count = async (sql: string, params: unknown[] = []) => Number((await a.query<{ c: number }>(sql, params)).rows[0]!.c);
    let generated = 0; // growth rows so far: numbers the generate_series continues from
    const rows: StatsRow[] = [];
    for (const level of profile.statsLevels) {
      const t0 = Date.now();
      let ledgerRows = await count(`select count(*) as c from tokengate.ledger`);
      while (ledgerRows < level) {
        const n = Math.min(level - ledgerRows, BATCH);
        await a.query(growSql(GROWTH_SOURCE), [generated + 1, generated + n, otherOrgs, types, DAYS, MEMBERS, anchor]);
        generated += n;
        ledgerRows += n;
        if (level > BATCH) log(`  growing: ${ledgerRows.toLocaleString('en-US')} / ${level.toLocaleString('en-US')} rows`);
      }
      // As autovacuum would after a bulk load; and so it does not start in the middle of the measurement.
      // The daily rollup is kept from the ledger (as a scheduled roll_up_usage() would), outside the measurement.
      while ((await a.query<{ n: number }>(`select tokengate.roll_up_usage(100000) as n`)).rows[0]!.n > 0);
      await a.query(`vacuum analyze tokengate.ledger, tokengate.usage_daily, tokengate.usage_marks, tokengate.buckets, tokengate.member_usage`);
      const growSeconds = round((Date.now() - t0) / 1000, 1);

      let reportedEvents = 0;
      const m = await runSequential(profile.statsCalls, Math.min(10, profile.statsCalls), async () => {
        const stats = await gate.stats(ctx, range);
        reportedEvents = stats.totals.events;
      });
      const row: StatsRow = {
        ledgerRows: await count(`select count(*) as c from tokengate.ledger`),
        orgLedgerRows: await count(`select count(*) as c from tokengate.ledger where org_id = $1`, [orgId]),
        orgUsageDailyRows: await count(`select count(*) as c from tokengate.usage_daily where org_id = $1`, [orgId]),
        usageDailyRows: await count(`select count(*) as c from tokengate.usage_daily`),
        reportedEvents,
        ...m,
        p50Ratio: 0,
        growSeconds,
      };
      row.p50Ratio = rows.length === 0 ? 1 : round(row.p50Ms / rows[0]!.p50Ms, 2);
      rows.push(row);
      log(
        `  stats  ledger ${row.ledgerRows.toLocaleString('en-US').padStart(10)} rows (org ${row.orgLedgerRows.toLocaleString('en-US')}, its rollup ${row.orgUsageDailyRows})  ` +
          `p50 ${row.p50Ms.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms  ×${row.p50Ratio.toFixed(2)}  (grown in ${growSeconds} s)`,
      );
    }
    const other = (await a.query<{ org_id: string }>(`select org_id from bench.orgs where n = 1`)).rows[0]!.org_id;
    // The grown history is written in bulk, without the per-bucket hash chain (only the ledger's
    // functions compute it, entry by entry): every other check must hold.
    const verify = (
      await a.query<{ v: unknown[] }>(
        `select coalesce(jsonb_agg(p), '[]') as v
         from jsonb_array_elements(tokengate.verify_ledger($1) || tokengate.verify_ledger($2)) p
         where p ->> 'check' <> 'ledger_chain'`,
        [orgId, other],
      )
    ).rows[0]!.v;
    return {
      grown:
        `consistent Enterprise deduct history (ledger rows + bucket used + member_usage as tokengate.deduct writes them, usage_daily by roll_up_usage()): ` +
        `10% for the measured organization (its rollup stays ${DAYS} days × ${types} types × ${MEMBERS} members), 90% for ${otherOrgs} other organizations`,
      otherOrganizations: otherOrgs,
      rows,
      ratioLargestToSmallest: round(rows.at(-1)!.p50Ms / rows[0]!.p50Ms, 2),
      verifyLedger: verify,
    };
  } finally {
    await db.drop();
  }
}

/**
 * Growth rows $1..$2: row g goes to the measured organization (0) when g % 10 = 0 (its k-th row,
 * k = g / 10, cycles through token types, then days, then members), else (the j-th other row,
 * j = g − g / 10) to organization 1 + j % $3, round-robin, each round on the next token type, then
 * day. $4 token types, $5 days, $6 members.
 */
const GROWTH_SOURCE = `
  select n, t, d, ((i * 7919) % 3600)::int as s, m
  from (
    select g as i,
           case when g % 10 = 0 then 0 else 1 + (j % $3::int) end as n,
           (case when g % 10 = 0 then k % $4::int else (j / $3::int) % $4::int end)::int as t,
           (case when g % 10 = 0 then (k / $4::int) % $5::int else (j / ($3::int * $4::int)) % $5::int end)::int as d,
           (case when g % 10 = 0 then (k / ($4::int * $5::int)) % $6::int else 0 end)::int as m
    from generate_series($1::bigint, $2::bigint) g, lateral (select g / 10 as k, g - g / 10 as j) ix
  ) x`;

/** One entry of the measured organization for every (token type, day, member): its rollup is full. */
const SEED_SOURCE = `
  select 0 as n, t, d, ((t * 37 + d * 13 + m * 7) % 3600)::int as s, m
  from generate_series(0, $4::int - 1) t, generate_series(0, $5::int - 1) d, generate_series(0, $6::int - 1) m
  where $1::bigint <= $2::bigint and $3::int > 0`;

/**
 * Append the source's rows as Enterprise deduct entries (n = organization, t = token type,
 * d = days ago, s = seconds earlier that day, m = member) and keep the bucket, rollup and member
 * counters as tokengate.deduct does (the daily rollup follows from the ledger: roll_up_usage).
 */
function growSql(source: string): string {
  return `
with src as (${source}),
ins as (
  insert into tokengate.ledger (org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
    allowance_after, purchased_after, held_after, period_start, user_id, metadata, created_at)
  select o.org_id, ty.id, 'deduct', 0, 0, 0, ty.cost, b.allowance_remaining, b.purchased_remaining, b.held, b.period_start,
         u.user_id, '{"units": 1, "bench": "growth"}'::jsonb, $7::timestamptz - make_interval(days => x.d, secs => x.s)
  from src x
  join bench.orgs o on o.n = x.n
  join bench.types ty on ty.t = x.t
  join bench.users u on u.n = x.n and u.m = x.m
  join tokengate.buckets b on b.org_id = o.org_id and b.token_type_id = ty.id
  returning org_id, token_type_id, user_id, charged, period_start, created_at
),
bk as (
  update tokengate.buckets b set used = b.used + s.tokens
  from (select org_id, token_type_id, sum(charged) as tokens from ins group by 1, 2) s
  where b.org_id = s.org_id and b.token_type_id = s.token_type_id
  returning 1
),
mu as (
  insert into tokengate.member_usage as m (org_id, user_id, token_type_id, period_start, used)
  select org_id, user_id, token_type_id, period_start, sum(charged) from ins group by 1, 2, 3, 4
  on conflict (org_id, user_id, token_type_id, period_start) do update set used = m.used + excluded.used
  returning 1
)
select (select count(*) from ins) as ledger`;
}
