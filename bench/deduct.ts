/**
 * Sections 1 and 2 on the Postgres server: deduct throughput and latency through every layer
 * (SQL → gate → HTTP handler → loopback HTTP) against the naive check-then-deduct-then-log
 * pattern, the overspend race, and the reserve → commit cycle.
 *
 * Setup (one scratch database): `spreadOrgs` Pro organizations with one owner each, created in
 * one statement, each topped up with purchased tokens so no run exhausts them; one hot Pro
 * organization topped up the same way. The naive pattern runs on its own scratch tables
 * (`bench_naive.*`, the shape of the original spec's `organization_tokens` + `token_usage_log`),
 * so it never touches the ledger's tables or invariants.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type pg from 'pg';
import { toNodeHandler } from '../server/adapters/node.ts';
import { supabaseAuth } from '../server/auth.ts';
import { createTokenGate, type GateContext, type TokenGate } from '../server/gate.ts';
import { createHandler } from '../server/http/handler.ts';
import { ledgerCall } from '../server/ledger-call.ts';
import { postgresStore } from '../server/stores/postgres-store.ts';
import { createBenchDatabase, type BenchDatabase } from './database.ts';
import { createFloor, floorCharge, runPgbenchFloor, type PgbenchResults } from './floor.ts';
import { createBenchIssuer } from './jwt.ts';
import { startLoopbackClient, type LoopbackClient, type LoopbackRequest } from './loopback-client.ts';
import { findWrk, runWrk } from './wrk-client.ts';
import { round, runLoad, sampleLoad, summarizeSamples, withCpu, type Measurement, type Samples } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

/** The token type every benchmark spends (cost 1 in the seeded catalog). */
const TOKEN_TYPE = 'goal_generation';
/** Purchased tokens each benchmark organization gets (never exhausted by a run). */
const TOP_UP = 1_000_000_000;
const BASE = '/api/tokengate';

/** The deduct variants, in table order. */
export const DEDUCT_VARIANTS = {
  floor: 'a. floor: INSERT … ON CONFLICT + guarded UPDATE (one SQL call)',
  sql: 'b. SQL tokengate.deduct() via pg',
  gate: 'c. createTokenGate + postgresStore',
  handler: 'd. HTTP handler, in-process Request',
  http: 'd. HTTP handler over loopback (toNodeHandler: srvx)',
  hono: 'd. HTTP handler over loopback (@hono/node-server)',
  wrk: 'd. HTTP handler over loopback (toNodeHandler: srvx, wrk client)',
  naive: 'e. naive check → update → log (3 round trips)',
} as const;
/** One deduct variant. */
export type DeductVariant = keyof typeof DEDUCT_VARIANTS;

/**
 * The variants that serve the handler over a loopback socket, each compared with `handler` (the
 * same handler, store and pool called in-process) in the same run: a plain `node:http` server with
 * `toNodeHandler` (srvx) or `@hono/node-server`'s `getRequestListener`; the client is undici's
 * Pool (keep-alive, one connection per lane) in a child process (bench/loopback-client.ts), on the
 * same cores — and, when wrk is installed, wrk (a C client: bench/wrk-client.ts) against the srvx
 * server. (The adapters section compares Node adapters without the database.)
 */
export const LOOPBACK_VARIANTS = ['http', 'hono', 'wrk'] as const satisfies readonly DeductVariant[];
type LoopbackVariant = (typeof LOOPBACK_VARIANTS)[number];

/** One workload: many organizations at random, or one. */
export type Workload = 'spread' | 'hot';

/** One row of the deduct or reserve table. */
export interface LoadRow extends Measurement {
  workload: Workload;
  variant: string;
  connections: number;
  /**
   * ops/s of this row ÷ ops/s of the floor (a: the minimal atomic, idempotent, audited charge),
   * same workload and connections. For reserve → commit (two calls per cycle) when the deduct
   * section ran too.
   */
  ratioToFloor?: number;
  /** CPU time of the benchmark process per operation started, µs (the loopback client runs in another process). */
  cpuMicrosPerOp?: number;
}

/** Result of the overspend race for one implementation. */
export interface OverspendResult {
  /** Deducts that reported success. */
  succeeded: number;
  /** Tokens the successful deducts charged. */
  charged: number;
  /** Tokens charged beyond what the bucket held (0 = correct). */
  overspend: number;
}

/** What sections 1 and 2 return. */
export interface ServerResults {
  postgresVersion: string;
  spreadOrgs: number;
  deduct?: {
    rows: LoadRow[];
    overspend: {
      connections: number;
      /** Tokens the bucket held (allowance + purchased). */
      allowance: number;
      /** Deduct attempts of one token each. */
      attempts: number;
      ours: OverspendResult & { verifyLedger: unknown[] };
      naive: OverspendResult & { finalUsed: number; logRows: number };
    };
    /** The floor and tokengate.deduct() with pgbench (server-side only, C client). */
    pgbench: PgbenchResults;
    /** wrk's version line when it ran the `wrk` variant; null when it is not installed (no such rows). */
    wrk: string | null;
  };
  reserve?: { rows: LoadRow[] };
}

interface Org {
  orgId: string;
  userId: string;
  ctx: GateContext;
  bearer: string;
}

/**
 * Run the deduct (1) and/or reserve (2) sections in one scratch database.
 *
 * @example
 * const results = await runServerSections({ deduct: true, reserve: true }, profile, url, log);
 */
export async function runServerSections(
  which: { deduct: boolean; reserve: boolean },
  profile: Profile,
  databaseUrl: string,
  log: Log,
): Promise<ServerResults> {
  const maxLanes = Math.max(...profile.connections, profile.overspendConnections);
  log(`creating a scratch database and ${profile.spreadOrgs.toLocaleString('en-US')} organizations…`);
  const t0 = Date.now();
  const db = await createBenchDatabase(databaseUrl);
  const servers: http.Server[] = [];
  let client: LoopbackClient | undefined;
  try {
    const { rows: versionRows } = await db.admin.query<{ v: string }>(`select current_setting('server_version') as v`);
    const { spread, hot } = await createOrganizations(db, profile.spreadOrgs);
    const issuer = createBenchIssuer();
    for (const org of [...spread, hot]) org.bearer = await issuer.bearer(org.userId);
    log(`  setup: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // One pool of service_role sessions for every variant, so they compete on equal terms.
    const pool = db.servicePool(maxLanes);
    const gate = createTokenGate({ store: postgresStore({ pool }) });
    const handler = createHandler({ gate, authenticate: supabaseAuth(issuer.authOptions), basePath: BASE });
    // The handler behind the Node adapter on a loopback port.
    const listen = async (listener: http.RequestListener): Promise<string> => {
      const server = http.createServer(listener);
      server.keepAliveTimeout = 30_000;
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    const srvx = await listen(toNodeHandler(handler));
    const origin: Record<LoopbackVariant, string> = {
      http: srvx,
      hono: await listen(getRequestListener(handler, { overrideGlobalObjects: false }) as http.RequestListener),
      wrk: srvx,
    };
    client = startLoopbackClient();
    const wrk = await findWrk();

    const pick: Record<Workload, () => Org> = {
      spread: () => spread[Math.floor(Math.random() * spread.length)]!,
      hot: () => hot,
    };
    const keyPrefix = randomBytes(4).toString('hex');
    let keySeq = 0;
    const nextKey = () => `bench-${keyPrefix}-${keySeq++}`;

    const results: ServerResults = { postgresVersion: versionRows[0]!.v, spreadOrgs: profile.spreadOrgs };
    const load = (lanes: number) => ({ lanes, durationMs: profile.durationMs, warmupMs: profile.warmupMs });

    const floors = new Map<string, number>();
    let pgbench: PgbenchResults | undefined;
    if (which.deduct) {
      // First, while the pool has no connection open yet (pgbench opens up to 32 of its own).
      log(`pgbench: the floor and tokengate.deduct(), alternating…`);
      pgbench = await runPgbenchFloor(db.url, profile, spread.length, log);
      const ops: Record<DeductVariant, (org: Org) => Promise<unknown>> = {
        floor: (org) => floorCharge(pool, org, nextKey()),
        sql: (org) => {
          // Exactly the statement postgresStore sends: the difference to (b) is the JS layers.
          const { text, values } = ledgerCall('deduct', {
            p_org_id: org.orgId,
            p_user_id: org.userId,
            p_token_type: TOKEN_TYPE,
            p_idempotency_key: nextKey(),
            p_metadata: {},
            p_units: 1,
          });
          return pool.query(text, values);
        },
        gate: (org) => gate.deduct(org.ctx, TOKEN_TYPE, { idempotencyKey: nextKey() }),
        handler: async (org) => expectOk(await handler(deductRequest(`http://localhost${BASE}`, org, nextKey())), 200),
        // Served over loopback by the client process or wrk (see `measure` below), never called here.
        http: () => Promise.reject(new Error('loopback variant')),
        hono: () => Promise.reject(new Error('loopback variant')),
        wrk: () => Promise.reject(new Error('loopback variant')),
        naive: (org) => naiveDeduct(pool, org, 1),
      };
      const requestsOf: Record<Workload, LoopbackRequest[]> = {
        spread: spread.map(deductLoopbackRequest),
        hot: [deductLoopbackRequest(hot)],
      };
      const measure = (variant: DeductVariant, workload: Workload, half: { lanes: number; durationMs: number; warmupMs: number }) =>
        withCpu(() => {
          if (!(LOOPBACK_VARIANTS as readonly DeductVariant[]).includes(variant)) return sampleLoad(half, () => ops[variant](pick[workload]()));
          const spec = { origin: origin[variant as LoopbackVariant], ...half, requests: requestsOf[workload], expectStatus: 200, keyPrefix: `${nextKey()}-${variant}` };
          return variant === 'wrk' ? runWrk(wrk!.path, spec) : client!.run(spec);
        });
      const rows: LoadRow[] = [];
      // wrk's rows only when it is installed.
      const variants = (Object.keys(DEDUCT_VARIANTS) as DeductVariant[]).filter((v) => v !== 'wrk' || wrk !== null);
      for (const workload of ['spread', 'hot'] as const) {
        for (const connections of profile.connections) {
          // Two rounds of half the window each, the second in reverse order (a b c c d, d c c b a),
          // so a drift of the machine or of the tables over time does not favour one variant.
          const samples = new Map<DeductVariant, Samples[]>(variants.map((v) => [v, []]));
          const cpu = new Map<DeductVariant, { micros: number; ops: number }>(variants.map((v) => [v, { micros: 0, ops: 0 }]));
          for (const order of [variants, [...variants].reverse()]) {
            for (const variant of order) {
              const half = { ...load(connections), durationMs: Math.round(profile.durationMs / 2) };
              const measured = await measure(variant, workload, half);
              samples.get(variant)!.push(measured.samples);
              const c = cpu.get(variant)!;
              c.micros += measured.cpuMicros;
              c.ops += measured.samples.started ?? measured.samples.latencies.length;
            }
          }
          const floor = summarizeSamples(samples.get('floor')!).opsPerSec;
          floors.set(`${workload}/${connections}`, floor);
          for (const variant of variants) {
            const m = summarizeSamples(samples.get(variant)!);
            const c = cpu.get(variant)!;
            const row: LoadRow = {
              workload,
              variant: DEDUCT_VARIANTS[variant],
              connections,
              ...m,
              ratioToFloor: floor > 0 ? round(m.opsPerSec / floor, 2) : 0,
              cpuMicrosPerOp: round(c.micros / Math.max(c.ops, 1), 0),
            };
            rows.push(row);
            log(progressLine('deduct', row));
          }
          const inProcess = summarizeSamples(samples.get('handler')!).opsPerSec;
          const cpuOf = (v: DeductVariant) => cpu.get(v)!.micros / Math.max(cpu.get(v)!.ops, 1);
          for (const variant of LOOPBACK_VARIANTS.filter((v) => variants.includes(v))) {
            const over = summarizeSamples(samples.get(variant)!).opsPerSec;
            const name = { http: 'toNodeHandler (srvx)', hono: '@hono/node-server', wrk: 'toNodeHandler (srvx), wrk client' }[variant];
            log(`  loopback ÷ in-process ${workload} ${connections} conn, ${name}: ×${(over / Math.max(inProcess, 1)).toFixed(2)} req/s, ×${(cpuOf('handler') / Math.max(cpuOf(variant), 1)).toFixed(2)} CPU`);
          }
        }
      }
      log(`overspend race: ${profile.overspendAllowance * 2} deducts of 1 token on a bucket holding ${profile.overspendAllowance}, ${profile.overspendConnections} connections…`);
      const overspend = await overspendRace(db, pool, gate, profile.overspendAllowance, profile.overspendConnections);
      log(`  ours: ${overspend.ours.succeeded} succeeded, overspend ${overspend.ours.overspend}; naive: ${overspend.naive.succeeded} succeeded, overspend ${overspend.naive.overspend}`);
      results.deduct = { rows, overspend, pgbench: pgbench!, wrk: wrk?.version ?? null };
    }

    if (which.reserve) {
      const rows: LoadRow[] = [];
      for (const workload of ['spread', 'hot'] as const) {
        for (const connections of profile.connections) {
          // Fresh planner statistics, as autovacuum keeps them within a minute in production: with
          // stale ones (an empty table at the last ANALYZE), _touch's expiry lookup scans every
          // reservation of the bucket (reservations_org_id_idx) instead of the pending ones only.
          await db.admin.query(`analyze tokengate.reservations`);
          const m = await runLoad(load(connections), async () => {
            const org = pick[workload]();
            const reservation = await gate.reserve(org.ctx, TOKEN_TYPE, { idempotencyKey: nextKey() });
            await gate.commit(org.ctx, reservation.reservationId, { actual: 1 });
          });
          const floor = floors.get(`${workload}/${connections}`);
          const row: LoadRow = { workload, variant: 'reserve → commit (gate)', connections, ...m, ...(floor ? { ratioToFloor: round(m.opsPerSec / floor, 2) } : {}) };
          rows.push(row);
          log(progressLine('reserve', row));
        }
      }
      results.reserve = { rows };
    }
    return results;
  } finally {
    await client?.close();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await db.drop();
  }
}

function progressLine(section: string, row: LoadRow): string {
  const ratio = row.ratioToFloor === undefined ? '' : `  ×${row.ratioToFloor.toFixed(2)} floor`;
  const errors = row.errors > 0 ? `  ERRORS ${row.errors}: ${row.firstError}` : '';
  return `  ${section} ${row.workload.padEnd(6)} ${String(row.connections).padStart(2)} conn  ${row.variant.padEnd(50)} ${row.opsPerSec.toFixed(0).padStart(6)} ops/s  p50 ${row.p50Ms.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms${ratio}${errors}`;
}

function deductRequest(base: string, org: Org, key: string): Request {
  return new Request(`${base}/orgs/${org.orgId}/deduct`, {
    method: 'POST',
    headers: { authorization: org.bearer, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ tokenType: TOKEN_TYPE }),
  });
}

/** The deduct request the loopback client sends for an organization (it adds the `Idempotency-Key`). */
function deductLoopbackRequest(org: Org): LoopbackRequest {
  const body = JSON.stringify({ tokenType: TOKEN_TYPE });
  return {
    method: 'POST',
    path: `${BASE}/orgs/${org.orgId}/deduct`,
    headers: { authorization: org.bearer, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    body,
  };
}

async function expectOk(response: Response, status: number): Promise<void> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
}

/**
 * The original spec's pattern, as separate round trips on a pool, without a transaction or a
 * lock: read the balance, update it if it was enough, then log. Returns whether it "succeeded".
 */
async function naiveDeduct(pool: pg.Pool, org: { orgId: string; userId: string }, cost: number): Promise<boolean> {
  const { rows } = await pool.query<{ remaining: number }>(
    `select allowance - tokens_used as remaining from bench_naive.organization_tokens where org_id = $1 and token_type = $2`,
    [org.orgId, TOKEN_TYPE],
  );
  if (!rows[0] || rows[0].remaining < cost) return false;
  await pool.query(`update bench_naive.organization_tokens set tokens_used = tokens_used + $3 where org_id = $1 and token_type = $2`, [
    org.orgId,
    TOKEN_TYPE,
    cost,
  ]);
  await pool.query(`insert into bench_naive.token_usage_log (org_id, user_id, token_type, tokens) values ($1, $2, $3, $4)`, [
    org.orgId,
    org.userId,
    TOKEN_TYPE,
    cost,
  ]);
  return true;
}

/** Create the spread organizations in one statement per step, the hot one, and the naive tables. */
async function createOrganizations(db: BenchDatabase, count: number): Promise<{ spread: Org[]; hot: Org }> {
  const a = db.admin;
  await a.query(`create schema bench`);
  await a.query(`create table bench.orgs (n int primary key, org_id uuid not null, user_id uuid not null)`);
  // n = 0 is the hot organization; 1..count the spread ones.
  await a.query(`insert into bench.orgs select n, gen_random_uuid(), gen_random_uuid() from generate_series(0, $1::int) n`, [count]);
  await a.query(`select count(tokengate.create_account(o.org_id, 'pro', o.user_id)) from bench.orgs o`);
  await a.query(`select count(tokengate.grant_tokens(o.org_id, null, $1, $2, 'bench-top-up')) from bench.orgs o`, [TOKEN_TYPE, TOP_UP]);
  // pgbench's scripts look organizations up by n, as the server role.
  await a.query(`grant usage on schema bench to service_role; grant select on bench.orgs to service_role`);
  await createFloor(a, TOP_UP);

  await a.query(`
    create schema bench_naive;
    create table bench_naive.organization_tokens (
      org_id uuid not null, token_type text not null, allowance bigint not null, tokens_used bigint not null default 0,
      primary key (org_id, token_type));
    create table bench_naive.token_usage_log (
      id bigint generated always as identity primary key, org_id uuid not null, user_id uuid not null,
      token_type text not null, tokens int not null, created_at timestamptz not null default now());
    create index on bench_naive.token_usage_log (org_id, created_at);
    grant usage on schema bench_naive to service_role;
    grant select, insert, update on all tables in schema bench_naive to service_role;`);
  await a.query(`insert into bench_naive.organization_tokens (org_id, token_type, allowance) select o.org_id, $1, $2 from bench.orgs o`, [
    TOKEN_TYPE,
    TOP_UP,
  ]);
  // So autovacuum does not start on the fresh bulk rows in the middle of the first measurements.
  await a.query(`vacuum analyze`);

  const { rows } = await a.query<{ n: number; org_id: string; user_id: string }>(`select n, org_id, user_id from bench.orgs order by n`);
  const orgs = rows.map((r) => ({ orgId: r.org_id, userId: r.user_id, ctx: { orgId: r.org_id, userId: r.user_id }, bearer: '' }));
  return { hot: orgs[0]!, spread: orgs.slice(1) };
}

/**
 * `2 × allowance` one-token deducts race on `lanes` connections against a bucket holding exactly
 * `allowance` tokens: ours through the gate (Pro allowance + purchased top-up), the naive pattern
 * on its own table row with the same allowance.
 */
async function overspendRace(db: BenchDatabase, pool: pg.Pool, gate: TokenGate, allowance: number, lanes: number) {
  const a = db.admin;
  const attempts = allowance * 2;
  const orgId = randomUUID();
  const userId = randomUUID();
  const ctx = { orgId, userId };
  await gate.createAccount({ orgId, planId: 'pro', ownerId: userId });
  // Pro's goal_generation allowance is data; top the bucket up to exactly `allowance` tokens.
  const balance = (await gate.balances(ctx)).tokenTypes.find((t) => t.tokenType === TOKEN_TYPE);
  const start = balance?.available ?? 0;
  if (start > allowance) throw new Error(`overspend race: the Pro allowance (${start}) exceeds ${allowance}`);
  if (allowance - start > 0) await gate.grant({ orgId, actorId: null }, TOKEN_TYPE, { amount: allowance - start, idempotencyKey: 'race-top-up' });

  await a.query(`insert into bench_naive.organization_tokens (org_id, token_type, allowance) values ($1, $2, $3)`, [orgId, TOKEN_TYPE, allowance]);

  const race = async (attempt: () => Promise<boolean>) => {
    let next = 0;
    let succeeded = 0;
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next < attempts) {
          next++;
          if (await attempt()) succeeded++;
        }
      }),
    );
    return succeeded;
  };

  const keyPrefix = randomBytes(4).toString('hex');
  let seq = 0;
  const oursSucceeded = await race(async () => {
    try {
      await gate.deduct(ctx, TOKEN_TYPE, { idempotencyKey: `race-${keyPrefix}-${seq++}` });
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'insufficient_tokens') return false;
      throw error;
    }
  });
  const naiveSucceeded = await race(() => naiveDeduct(pool, ctx, 1));

  const verify = await a.query<{ v: unknown[] }>(`select tokengate.verify_ledger($1) as v`, [orgId]);
  const { rows: naiveRows } = await a.query<{ used: number; log_rows: number }>(
    `select t.tokens_used as used, (select count(*) from bench_naive.token_usage_log l where l.org_id = t.org_id) as log_rows
     from bench_naive.organization_tokens t where t.org_id = $1 and t.token_type = $2`,
    [orgId, TOKEN_TYPE],
  );
  const naive = naiveRows[0]!;
  return {
    connections: lanes,
    allowance,
    attempts,
    ours: { succeeded: oursSucceeded, charged: oursSucceeded, overspend: Math.max(0, oursSucceeded - allowance), verifyLedger: verify.rows[0]!.v },
    naive: {
      succeeded: naiveSucceeded,
      charged: naiveSucceeded,
      overspend: Math.max(0, naiveSucceeded - allowance),
      finalUsed: naive.used,
      logRows: naive.log_rows,
    },
  };
}
