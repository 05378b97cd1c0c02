/**
 * Section 7: the operator's view at scale — each operator function's latency over a history of
 * `profile.operatorLedgerRows` ledger rows (1M in a full run) across `profile.operatorOrgs`
 * organizations. The functions read the rollup, the buckets and the grants, never the ledger, so
 * their cost follows the rollup's and the buckets' size, not the ledger's.
 *
 * What is seeded, in bulk SQL: organizations (half Pro, 40% Enterprise, 10% Starter) with three
 * members each and every bucket provisioned (`balances`); charge entries appended to the ledger
 * over the last 60 days (type, day, member and time spread deterministically); the daily rollup
 * brought up to date by `roll_up_usage()` as a scheduled job would; a quarter of the Pro buckets
 * drawn down near or to exhaustion (allowance_spent, as a charge leaves it); ten grants per
 * organization with expiries spread over ±60 days. Then, on one connection acting as
 * service_role, each function is called `profile.operatorCalls` times (p50/p99).
 */
import { createOperatorApi } from '../server/operator/create-operator-api.ts';
import { postgresStore } from '../server/stores/postgres-store.ts';
import { createBenchDatabase } from './database.ts';
import { round, runSequential, type Measurement } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

/** One measured operator function. */
export interface OperatorRow extends Measurement {
  /** The function and its arguments, as called. */
  query: string;
  /** Rows it answered. */
  answered: number;
}

/** What section 7 returns. */
export interface OperatorResults {
  ledgerRows: number;
  usageDailyRows: number;
  buckets: number;
  grants: number;
  organizations: number;
  /** Seconds the seeding took. */
  seedSeconds: number;
  rows: OperatorRow[];
}

const DAYS = 60;
const MEMBERS = 3;

/**
 * Run section 7 in its own scratch database.
 *
 * @example
 * const operator = await runOperatorSection(profile, url, log);
 */
export async function runOperatorSection(profile: Profile, databaseUrl: string, log: Log): Promise<OperatorResults> {
  const orgs = profile.operatorOrgs;
  const ledgerRows = profile.operatorLedgerRows;
  log(`seeding ${orgs} organizations and ${ledgerRows.toLocaleString('en-US')} ledger rows…`);
  const db = await createBenchDatabase(databaseUrl);
  try {
    const a = db.admin;
    const t0 = Date.now();
    await a.query(`
      create schema bench;
      create table bench.orgs (n int primary key, org_id uuid not null, plan text not null);
      create table bench.users (n int not null, m int not null, user_id uuid not null, primary key (n, m));
      create table bench.types (t int primary key, id text not null, cost int not null);`);
    await a.query(
      `insert into bench.orgs select n, gen_random_uuid(), case when n % 10 < 5 then 'pro' when n % 10 < 9 then 'enterprise' else 'starter' end
       from generate_series(0, $1::int - 1) n`,
      [orgs],
    );
    await a.query(`insert into bench.users select n, m, gen_random_uuid() from bench.orgs, generate_series(0, $1::int - 1) m`, [MEMBERS]);
    await a.query(`insert into bench.types select (row_number() over (order by sort_order, id))::int - 1, id, cost from tokengate.token_types where active`);
    const types = Number((await a.query<{ c: number }>(`select count(*)::int as c from bench.types`)).rows[0]!.c);
    await a.query(
      `select count(tokengate.create_account(o.org_id, o.plan, u.user_id, date_trunc('day', now()) - interval '${DAYS} days'))
       from bench.orgs o join bench.users u on u.n = o.n and u.m = 0`,
    );
    await a.query(`select count(tokengate.add_member(o.org_id, null, u.user_id, 'member')) from bench.orgs o join bench.users u on u.n = o.n and u.m > 0`);
    await a.query(`select count(tokengate.balances(o.org_id, u.user_id)) from bench.orgs o join bench.users u on u.n = o.n and u.m = 0`);

    // Charge entries (row g: organization g % orgs, type, member and day from g), in 1M-row statements.
    for (let from = 1; from <= ledgerRows; from += 1_000_000) {
      const to = Math.min(ledgerRows, from + 999_999);
      await a.query(
        `insert into tokengate.ledger (org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
           allowance_after, purchased_after, held_after, period_start, user_id, metadata, created_at)
         select o.org_id, ty.id, 'deduct', 0, 0, 0, ty.cost, b.allowance_remaining, b.purchased_remaining, b.held, b.period_start,
                u.user_id, '{"bench": "operator"}'::jsonb,
                now() - make_interval(days => ((g / $3::int) % ${DAYS})::int, secs => ((g * 7919) % 3600)::int)
         from generate_series($1::bigint, $2::bigint) g
         join bench.orgs o on o.n = g % $3::int
         join bench.types ty on ty.t = (g / ($3::int * ${DAYS})) % $4::int
         join bench.users u on u.n = o.n and u.m = (g / 7) % ${MEMBERS}
         join tokengate.buckets b on b.org_id = o.org_id and b.token_type_id = ty.id`,
        [from, to, orgs, types],
      );
      if (ledgerRows > 1_000_000) log(`  ${to.toLocaleString('en-US')} / ${ledgerRows.toLocaleString('en-US')} ledger rows`);
    }
    // A spike: organization 1 charges its first type 50× its usual on the last day.
    await a.query(
      `insert into tokengate.ledger (org_id, token_type_id, kind, charged, allowance_after, purchased_after, held_after, period_start, user_id, created_at)
       select o.org_id, b.token_type_id, 'deduct', 1, b.allowance_remaining, b.purchased_remaining, b.held, b.period_start, u.user_id, now()
       from bench.orgs o join bench.users u on u.n = o.n and u.m = 0
       join tokengate.buckets b on b.org_id = o.org_id and b.token_type_id = (select id from bench.types where t = 0),
       generate_series(1, greatest(50 * $1::int / ($2::int * ${DAYS} * $3::int), 100))
       where o.n = 1`,
      [ledgerRows, orgs, types],
    );
    // The rollup, as the scheduled roll_up_usage() keeps it.
    while ((await a.query<{ n: number }>(`select tokengate.roll_up_usage(100000) as n`)).rows[0]!.n > 0);
    // A quarter of the Pro buckets drawn down to 0..19% of the allowance, as charges leave them.
    await a.query(
      `update tokengate.buckets b set allowance_spent = b.allowance - (b.allowance * (h % 20) / 100),
              allowance_remaining = b.allowance * (h % 20) / 100
       from (select org_id, token_type_id, abs(hashtext(org_id::text || token_type_id)) as h from tokengate.buckets) x
       where x.org_id = b.org_id and x.token_type_id = b.token_type_id and x.h % 4 = 0
         and b.org_id in (select org_id from bench.orgs where plan = 'pro')`,
    );
    // Ten grants per organization, expiries from 60 days ago (expired, swept) to 60 days ahead.
    await a.query(
      `insert into tokengate.grants (org_id, token_type_id, source, amount, remaining, status, effective_at, expires_at, created_at, ended_at)
       select o.org_id, ty.id, (array['purchase', 'promo', 'plan', 'adjustment'])[1 + i % 4], 100, case when e < 0 then 0 else 1 + (i * 37) % 100 end,
              case when e < 0 then 'expired' else 'active' end, now() - interval '90 days',
              now() + make_interval(days => e), now() - interval '90 days', case when e < 0 then now() + make_interval(days => e) end
       from bench.orgs o cross join generate_series(0, 9) i
       join bench.types ty on ty.t = i % $1::int,
       lateral (select ((o.n * 13 + i * 29) % 120) - 60 + 1 as e) x`,
      [types],
    );
    await a.query(`vacuum analyze tokengate.ledger, tokengate.usage_daily, tokengate.usage_org_daily, tokengate.usage_org_blocks, tokengate.usage_marks, tokengate.buckets, tokengate.grants, tokengate.accounts`);
    const seedSeconds = round((Date.now() - t0) / 1000, 1);
    const count = async (table: string) => Number((await a.query<{ c: number }>(`select count(*)::int as c from tokengate.${table}`)).rows[0]!.c);
    const sizes = { ledgerRows: await count('ledger'), usageDailyRows: await count('usage_daily'), buckets: await count('buckets'), grants: await count('grants') };
    log(`  seeded in ${seedSeconds} s: ${sizes.ledgerRows.toLocaleString('en-US')} ledger rows, ${sizes.usageDailyRows.toLocaleString('en-US')} rollup rows, ${sizes.buckets} buckets, ${sizes.grants} grants`);

    const pool = db.servicePool(1);
    const operator = createOperatorApi(postgresStore({ pool }));
    const today = new Date().toISOString().slice(0, 10);
    const monthAgo = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
    const calls: [string, () => Promise<unknown[]>][] = [
      [`operator_top(${monthAgo}, ${today}, all types, 10)`, () => operator.top({ from: monthAgo, to: today, limit: 10 })],
      [`operator_top(${monthAgo}, ${today}, one type, 10)`, () => operator.top({ from: monthAgo, to: today, tokenType: 'quest_generation', limit: 10 })],
      ['operator_near_exhaustion(10%, 100)', () => operator.nearExhaustion({ percent: 10, limit: 100 })],
      [`operator_spikes(${today}, 7 days, ×3, 100)`, () => operator.spikes({ day: today, windowDays: 7, factor: 3, minTokens: 100 })],
      ['operator_expiring_grants(7 days, 100)', () => operator.expiringGrants({ withinDays: 7, limit: 100 })],
    ];
    const rows: OperatorRow[] = [];
    for (const [query, call] of calls) {
      let answered = 0;
      const m = await runSequential(profile.operatorCalls, Math.min(5, profile.operatorCalls), async () => {
        answered = (await call()).length;
      });
      rows.push({ query, answered, ...m });
      log(`  ${query.padEnd(52)} p50 ${m.p50Ms.toFixed(2)} ms  p99 ${m.p99Ms.toFixed(2)} ms  (${answered} rows)`);
    }
    return { ...sizes, organizations: orgs, seedSeconds, rows };
  } finally {
    await db.drop();
  }
}
