/**
 * The floor: the least an atomic, idempotent, audited charge can do on Postgres, measured in the
 * same run as `tokengate.deduct()` so that the ratio between them is what carries over.
 *
 * The floor is one SQL function call (one round trip, like `tokengate.deduct`): in one
 * transaction, `INSERT … ON CONFLICT DO NOTHING` of the ledger entry (unique `(org_id,
 * idempotency_key)`: a repeated key charges nothing) and, when the entry is new, one guarded
 * `UPDATE balances SET available = available - cost WHERE … AND available >= cost` (the row lock
 * that serialises charges of one organization); not enough balance raises, which rolls the entry
 * back. No plans, allowance periods, member quotas, reservations, usage rollups or replayed results.
 *
 * Two ways to measure it: through the benchmark's own `pg` pool (a row of the deduct table, so
 * every row there is a ratio to it) and, when `pgbench` is installed, with `pgbench` (C client,
 * prepared statements): the floor and `tokengate.deduct()` (with the change feed on, and off) alternately at 1, 8 and 32 clients,
 * spread over the first 1,000 organizations and on one hot organization.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { round } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

const run = promisify(execFile);

/** The floor's tables and function (`bench_floor`), with a balance for every benchmark organization. */
export const FLOOR_SQL = `
  create schema bench_floor;
  create table bench_floor.balances (org_id uuid primary key, available bigint not null);
  create table bench_floor.ledger (
    id bigint generated always as identity primary key,
    org_id uuid not null,
    user_id uuid not null,
    idempotency_key text not null,
    amount bigint not null,
    created_at timestamptz not null default now());
  create unique index on bench_floor.ledger (org_id, idempotency_key);
  create function bench_floor.charge(p_org_id uuid, p_user_id uuid, p_idempotency_key text, p_cost bigint)
  returns boolean language plpgsql as $$
  begin
    insert into bench_floor.ledger (org_id, user_id, idempotency_key, amount)
    values (p_org_id, p_user_id, p_idempotency_key, -p_cost)
    on conflict (org_id, idempotency_key) do nothing;
    if not found then
      return false; -- a key seen before: it was charged once already
    end if;
    update bench_floor.balances set available = available - p_cost
    where org_id = p_org_id and available >= p_cost;
    if not found then
      raise exception 'insufficient balance' using errcode = 'P0001'; -- rolls the entry back
    end if;
    return true;
  end $$;
  grant usage on schema bench_floor to service_role;
  grant select, insert, update on all tables in schema bench_floor to service_role;
  grant execute on function bench_floor.charge(uuid, uuid, text, bigint) to service_role;`;

/**
 * Create the floor's schema and give every organization of `bench.orgs` `balance` tokens.
 *
 * @example
 * await createFloor(db.admin, 1_000_000_000);
 */
export async function createFloor(admin: pg.Client, balance: number): Promise<void> {
  await admin.query(FLOOR_SQL);
  await admin.query(`insert into bench_floor.balances (org_id, available) select org_id, $1 from bench.orgs`, [balance]);
}

/**
 * One floor charge through a pool: the statement the deduct table's floor row sends.
 *
 * @example
 * await floorCharge(pool, org, 'key-1');
 */
export async function floorCharge(pool: pg.Pool, org: { orgId: string; userId: string }, key: string): Promise<void> {
  const { rows } = await pool.query<{ charged: boolean }>(`select bench_floor.charge($1, $2, $3, 1) as charged`, [org.orgId, org.userId, key]);
  if (rows[0]?.charged !== true) throw new Error('the floor charged nothing');
}

/** The watcher the benchmark's leases are taken as (one per run). */
const BENCH_WATCHER = randomUUID();

/**
 * Lease the feed of the workload's organizations (`n` of 1 … `spread` are the first `spread`
 * organizations, 0 the hot one), as a change hub with a subscriber in each would; or drop the leases.
 */
async function watchAll(url: string, spread: number, on: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      on
        ? `select tokengate.watch(o.org_id, $1::uuid, 3600) from bench.orgs o where o.n <= $2`
        : `select tokengate.unwatch($1::uuid)`,
      on ? [BENCH_WATCHER, spread] : [BENCH_WATCHER],
    );
  } finally {
    await client.end();
  }
}

/** One pgbench cell: both scripts on one workload and client count. */
export interface PgbenchRow {
  workload: 'spread' | 'hot';
  clients: number;
  /** Transactions per second of the floor (sum of both halves' transactions ÷ their time). */
  floorTps: number;
  /** Transactions per second of `tokengate.deduct()`. */
  deductTps: number;
  /** deductTps ÷ floorTps. */
  ratio: number;
  /**
   * `tokengate.deduct()` with the change feed off (`tokengate.live = off`: no NOTIFY, whose commit
   * lock serialises notifying transactions), and its ratio to the floor.
   */
  quietTps: number;
  quietRatio: number;
  /**
   * `tokengate.deduct()` with every organization of the workload watched (a change hub's lease,
   * `tokengate.watch`): each charge notifies, as one a live client watches does. The default
   * column (`deductTps`) is the feed on with nobody watching: no notification.
   */
  watchedTps: number;
  watchedRatio: number;
  /** Failed transactions reported by pgbench (a healthy run has 0). */
  failed: number;
}

/** What the pgbench part returns. */
export interface PgbenchResults {
  /** `pgbench --version`, or null when pgbench is not installed (then `rows` is empty). */
  version: string | null;
  /** Organizations the spread workload picks from. */
  spreadOrgs: number;
  /** How long each measurement ran: `-T <s>` per half, or `-t <n>` per client per half. */
  window: string;
  rows: PgbenchRow[];
}

/**
 * The floor and `tokengate.deduct()` with pgbench, in the scratch database at `url` (which holds
 * `bench.orgs` and `bench_floor`). Two halves per cell in the order floor, deduct (nobody watching), deduct with `tokengate.live = off`, deduct with every organization watched, the same again backwards.
 * Returns `version: null` without running when pgbench is missing.
 *
 * @example
 * const pgbench = await runPgbenchFloor(db.url, profile, profile.spreadOrgs, log);
 */
export async function runPgbenchFloor(url: string, profile: Profile, spreadOrgs: number, log: Log): Promise<PgbenchResults> {
  const orgs = Math.min(1_000, spreadOrgs);
  const seconds = Math.max(1, Math.floor(profile.durationMs / 1000));
  const perClient = profile.pgbenchTransactions;
  const window = perClient !== null ? `-t ${perClient} per client per half` : `-T ${seconds} per half`;
  let version: string;
  try {
    version = (await run('pgbench', ['--version'])).stdout.trim();
  } catch {
    log('  pgbench not found: only the pool-based floor row is measured');
    return { version: null, spreadOrgs: orgs, window, rows: [] };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-pgbench-'));
  try {
    // A per-run prefix keeps the keys of every half apart; the random part keeps clients apart.
    const prefix = `pgb${process.pid}`;
    const key = (name: string) => `'${prefix}-${name}-' || (:client_id)::text || '-' || (:k)::text`;
    const scripts: Record<string, string> = {};
    for (const workload of ['spread', 'hot'] as const) {
      const pick = workload === 'spread' ? `\\set n random(1, ${orgs})` : `\\set n 0`;
      const header = `${pick}\n\\set k random(1, 1000000000000000)\n`;
      scripts[`floor-${workload}`] = `${header}select bench_floor.charge(o.org_id, o.user_id, ${key('f')}, 1) from bench.orgs o where o.n = :n;\n`;
      scripts[`deduct-${workload}`] =
        `${header}select tokengate.deduct(p_org_id => o.org_id, p_user_id => o.user_id, p_token_type => 'goal_generation', ` +
        `p_idempotency_key => ${key('d')}, p_metadata => '{}'::jsonb, p_units => 1) from bench.orgs o where o.n = :n;\n`;
    }
    for (const [name, text] of Object.entries(scripts)) await writeFile(path.join(dir, `${name}.sql`), text);

    const once = async (script: string, clients: number, live = true) => {
      const args = ['-n', '-M', 'prepared', '-c', String(clients), '-j', String(Math.min(clients, os.cpus().length)), '-f', path.join(dir, `${script}.sql`)];
      args.push(...(perClient !== null ? ['-t', String(perClient)] : ['-T', String(seconds)]), url);
      // As postgresStore's sessions act: the server role, never the superuser.
      const options = `-c role=service_role${live ? '' : ' -c tokengate.live=off'}`;
      const { stdout } = await run('pgbench', args, { env: { ...process.env, PGOPTIONS: options }, maxBuffer: 4 * 1024 * 1024 });
      const processed = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? NaN);
      const failed = Number(/number of failed transactions: (\d+)/.exec(stdout)?.[1] ?? 0);
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? NaN);
      if (!Number.isFinite(processed) || !Number.isFinite(tps) || tps <= 0) throw new Error(`pgbench ${script}: unexpected output:\n${stdout.slice(0, 500)}`);
      return { transactions: processed, seconds: processed / tps, failed };
    };

    const rows: PgbenchRow[] = [];
    for (const workload of ['spread', 'hot'] as const) {
      for (const clients of profile.connections) {
        const zero = () => ({ transactions: 0, seconds: 0, failed: 0 });
        const totals = { floor: zero(), deduct: zero(), quiet: zero(), watched: zero() };
        for (const which of ['floor', 'deduct', 'quiet', 'watched', 'watched', 'quiet', 'deduct', 'floor'] as const) {
          if (which === 'watched') await watchAll(url, workload === 'spread' ? orgs : 0, true);
          try {
            const r = await once(`${which === 'floor' ? 'floor' : 'deduct'}-${workload}`, clients, which !== 'quiet');
            totals[which].transactions += r.transactions;
            totals[which].seconds += r.seconds;
            totals[which].failed += r.failed;
          } finally {
            if (which === 'watched') await watchAll(url, 0, false);
          }
        }
        const floorTps = round(totals.floor.transactions / totals.floor.seconds, 1);
        const deductTps = round(totals.deduct.transactions / totals.deduct.seconds, 1);
        const quietTps = round(totals.quiet.transactions / totals.quiet.seconds, 1);
        const watchedTps = round(totals.watched.transactions / totals.watched.seconds, 1);
        const row: PgbenchRow = {
          workload,
          clients,
          floorTps,
          deductTps,
          ratio: round(deductTps / floorTps, 2),
          quietTps,
          quietRatio: round(quietTps / floorTps, 2),
          watchedTps,
          watchedRatio: round(watchedTps / floorTps, 2),
          failed: totals.floor.failed + totals.deduct.failed + totals.quiet.failed + totals.watched.failed,
        };
        rows.push(row);
        log(
          `  pgbench ${workload.padEnd(6)} ${String(clients).padStart(2)} clients  floor ${floorTps.toFixed(0).padStart(6)} tps  ` +
            `tokengate.deduct() ${deductTps.toFixed(0).padStart(6)} tps  ×${row.ratio.toFixed(2)}  live off ${quietTps.toFixed(0).padStart(6)} tps  ×${row.quietRatio.toFixed(2)}  ` +
            `all watched ${watchedTps.toFixed(0).padStart(6)} tps  ×${row.watchedRatio.toFixed(2)}${row.failed > 0 ? `  FAILED ${row.failed}` : ''}`,
        );
      }
    }
    return { version, spreadOrgs: orgs, window, rows };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
