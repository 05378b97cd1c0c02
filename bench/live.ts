/**
 * Section "live": live balances end to end. `subscribers` clients hold `GET /orgs/:orgId/events`
 * open over loopback on ONE organization (every change fans out to all of them) — the real handler
 * behind `toNodeHandler`, real JWTs, `postgresStore` with its one LISTEN connection, a scratch
 * database on the Postgres server. Then `changes` charges are made one after another through
 * ANOTHER connection (the scratch database's admin session, as another process would); for each,
 * the time from just before the charge's call to its arrival at every subscriber is one sample
 * (so it includes the charge itself, the commit, NOTIFY, the fan-out and the socket). The clients
 * share the process and its cores with the server (fetch + eventsource-parser).
 *
 * Then the cost of the change feed on charges: deduct throughput through the gate with
 * `tokengate.live` on and off (set per session), alternating halves, on `lanes` connections over
 * many organizations, every one of them watched (a lease each, as a hub with subscribers in all of
 * them takes: each charge notifies; a charge of an organization nobody watches does not): Postgres
 * serialises the commits of transactions that sent a notification.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import pg from 'pg';
import { toNodeHandler } from '../server/adapters/node.ts';
import { supabaseAuth } from '../server/auth.ts';
import { createTokenGate } from '../server/gate.ts';
import { createHandler } from '../server/http/handler.ts';
import { ledgerCall } from '../server/ledger-call.ts';
import { createChangeHub } from '../server/live/change-hub.ts';
import { LISTEN_APPLICATION_NAME, postgresStore } from '../server/stores/postgres-store.ts';
import { createBenchDatabase } from './database.ts';
import { createBenchIssuer } from './jwt.ts';
import { percentile, round, sampleLoad, summarizeSamples, type Measurement, type Samples } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

/** What the section returns. */
export interface LiveResults {
  /** Streams held open at once, all on one organization. */
  subscribers: number;
  /** Database connections listening for them (one per process). */
  listeningConnections: number;
  /** Seconds to open every stream (each: JWT, subscription, membership and snapshot), in waves of 100. */
  openSeconds: number;
  /** Heap grown per open stream, bytes (server and client together). */
  heapBytesPerSubscriber: number;
  /** Charges made, one after another. */
  changes: number;
  /** Events expected (changes × subscribers) and received. */
  expected: number;
  received: number;
  /** From just before a charge's call to its event at a subscriber, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Deduct throughput with the feed on and off (nobody listening), same run. */
  feedCost: { lanes: number; on: Measurement; off: Measurement; onToOff: number };
}

/**
 * Run the live section in its own scratch database.
 *
 * @example
 * const live = await runLiveSection(profile, url, log);
 */
export async function runLiveSection(profile: Profile, databaseUrl: string, log: Log): Promise<LiveResults> {
  const db = await createBenchDatabase(databaseUrl);
  const aborts: AbortController[] = [];
  let server: http.Server | undefined;
  const store = postgresStore({ pool: db.servicePool(4) });
  const hub = createChangeHub(store, { lingerMs: 0 });
  try {
    const orgId = randomUUID();
    const owner = randomUUID();
    await db.admin.query(`select tokengate.create_account($1::uuid, 'enterprise', $2::uuid)`, [orgId, owner]);
    await db.admin.query(`select tokengate.balances($1::uuid, $2::uuid)`, [orgId, owner]);
    const issuer = createBenchIssuer();
    const bearer = await issuer.bearer(owner);
    const n = profile.liveSubscribers;
    const limits = { maxConnections: n + 10, maxPerOrg: n + 10, maxPerUser: n + 10 };
    const handler = createHandler({ gate: createTokenGate({ store }), authenticate: supabaseAuth(issuer.authOptions), events: { hub, ...limits } });
    server = http.createServer(toNodeHandler(handler));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/tokengate/orgs/${orgId}/events`;

    // ledger id → arrival times at the subscribers.
    const arrivals = new Map<number, number[]>();
    let snapshots = 0;
    const subscribe = async () => {
      const abort = new AbortController();
      aborts.push(abort);
      const response = await fetch(url, { headers: { authorization: bearer }, signal: abort.signal });
      if (response.status !== 200 || !response.body) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
      void (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          if (value.event === 'snapshot') snapshots++;
          else if (value.event === 'balance') {
            const at = performance.now();
            const times = arrivals.get(Number(value.id)) ?? [];
            times.push(at);
            arrivals.set(Number(value.id), times);
          }
        }
      })().catch(() => {});
    };

    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const opening = performance.now();
    for (let opened = 0; opened < n; opened += 100) await Promise.all(Array.from({ length: Math.min(100, n - opened) }, subscribe));
    await until(() => snapshots === n, 60_000, `${n} snapshots`);
    const openSeconds = (performance.now() - opening) / 1000;
    global.gc?.();
    const heapBytesPerSubscriber = Math.max(0, (process.memoryUsage().heapUsed - heapBefore) / n);
    const { rows: listening } = await db.admin.query(`select pid from pg_stat_activity where datname = current_database() and application_name = $1`, [LISTEN_APPLICATION_NAME]);
    log(`  live: ${n} subscribers open in ${openSeconds.toFixed(2)} s, ${listening.length} listening connection(s), ~${Math.round(heapBytesPerSubscriber / 1024)} KiB heap each`);

    const latencies: number[] = [];
    let received = 0;
    for (let i = 0; i < profile.liveChanges; i++) {
      const started = performance.now();
      const { text, values } = ledgerCall('deduct', { p_org_id: orgId, p_user_id: owner, p_token_type: 'quest_generation', p_idempotency_key: `live-${i}` });
      const { rows } = await db.admin.query<{ result: { ledgerId: number } }>(text, values);
      const id = rows[0]!.result.ledgerId;
      await until(() => (arrivals.get(id)?.length ?? 0) >= n, 10_000, `change ${id} at every subscriber`).catch(() => {});
      const times = arrivals.get(id) ?? [];
      received += times.length;
      for (const at of times) latencies.push(at - started);
    }
    latencies.sort((a, b) => a - b);
    const expected = n * profile.liveChanges;
    log(`  live: ${received}/${expected} events, p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms (charge → screen of ${n} subscribers)`);
    for (const a of aborts.splice(0)) a.abort();
    await until(() => hub.subscribers === 0, 30_000, 'every stream to end');

    const feedCost = await measureFeedCost(profile, db.url, log);
    return {
      subscribers: n,
      listeningConnections: listening.length,
      openSeconds: round(openSeconds, 2),
      heapBytesPerSubscriber: Math.round(heapBytesPerSubscriber),
      changes: profile.liveChanges,
      expected,
      received,
      p50Ms: round(percentile(latencies, 0.5), 2),
      p99Ms: round(percentile(latencies, 0.99), 2),
      maxMs: round(latencies.at(-1) ?? 0, 2),
      feedCost,
    };
  } finally {
    for (const a of aborts) a.abort();
    server?.closeAllConnections();
    server?.close();
    await hub.close();
    await store.close();
    await db.drop();
  }
}

/** Deduct throughput through the gate with `tokengate.live` on (every organization watched) vs off, alternating halves. */
async function measureFeedCost(profile: Profile, url: string, log: Log): Promise<LiveResults['feedCost']> {
  const lanes = Math.max(...profile.connections);
  const orgs = Array.from({ length: 100 }, () => ({ orgId: randomUUID(), userId: randomUUID() }));
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  try {
    for (const o of orgs) await setup.query(`select tokengate.create_account($1::uuid, 'enterprise', $2::uuid)`, [o.orgId, o.userId]);
    // Every organization watched: each charge with the feed on notifies (the most the feed costs).
    await setup.query(`select tokengate.watch(o, $2::uuid, 3600) from unnest($1::uuid[]) o`, [orgs.map((o) => o.orgId), randomUUID()]);
  } finally {
    await setup.end();
  }
  const pools = {
    on: new pg.Pool({ connectionString: url, max: lanes, options: '-c role=service_role' }),
    off: new pg.Pool({ connectionString: url, max: lanes, options: '-c role=service_role -c tokengate.live=off' }),
  };
  try {
    const gates = { on: createTokenGate({ store: postgresStore({ pool: pools.on }) }), off: createTokenGate({ store: postgresStore({ pool: pools.off }) }) };
    let key = 0;
    const op = (variant: 'on' | 'off') => () => gates[variant].deduct(orgs[key++ % orgs.length]!, 'quest_generation', { idempotencyKey: `feed-${key}` });
    const samples: Record<'on' | 'off', Samples[]> = { on: [], off: [] };
    const half = { lanes, durationMs: Math.round(profile.durationMs / 2), warmupMs: profile.warmupMs };
    for (const variant of ['off', 'on', 'on', 'off'] as const) samples[variant].push(await sampleLoad(half, op(variant)));
    const on = summarizeSamples(samples.on);
    const off = summarizeSamples(samples.off);
    const onToOff = off.opsPerSec > 0 ? round(on.opsPerSec / off.opsPerSec, 3) : 0;
    log(`  live: deduct ${lanes} lanes, feed on ${on.opsPerSec.toFixed(0)} ops/s vs off ${off.opsPerSec.toFixed(0)} ops/s (×${onToOff.toFixed(2)})`);
    return { lanes, on, off, onToOff };
  } finally {
    await Promise.all([pools.on.end(), pools.off.end()]);
  }
}

/** Resolve when `condition()` holds; reject after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
