/**
 * Section "adapters": what a Node adapter costs on its own, without the database. The real
 * handler (`createHandler`, real JWT verification with `supabaseAuth`) answers a deduct whose body
 * fails validation — authentication, routing, reading and parsing the JSON body, zod and a
 * problem+json answer all run; the ledger is never called — once in-process and once over a
 * loopback socket behind each Node adapter, alternating, in the same run. The loopback client is
 * undici's Pool on a worker thread (bench/loopback-client.ts), so the server's thread does only the
 * server's work; one row keeps the earlier client (`node:http` with a keep-alive agent on the
 * server's own thread) to show what a client sharing the event loop costs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { toNodeHandler as srvxToNodeHandler } from 'srvx/node';
import { toNodeHandler } from '../server/adapters/node.ts';
import { supabaseAuth } from '../server/auth.ts';
import { createTokenGate } from '../server/gate.ts';
import { createHandler } from '../server/http/handler.ts';
import type { TokenStore } from '../server/store.ts';
import { createBenchIssuer } from './jwt.ts';
import { startLoopbackClient } from './loopback-client.ts';
import { round, sampleLoad, summarizeSamples, withCpu, type Measurement, type Samples } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

/** The ways the handler is called, in table order. */
export const ADAPTER_VARIANTS = {
  inProcess: 'in-process `handler(new Request(…))`',
  toNodeHandler: 'tokengate `toNodeHandler` (server/adapters/node.ts)',
  hono: '`@hono/node-server` `getRequestListener` (overrideGlobalObjects: false)',
  srvx: '`srvx/node` `toNodeHandler`, raw',
  sameThread: 'tokengate `toNodeHandler`, `node:http` client on the server thread',
} as const;
/** One way of calling the handler. */
export type AdapterVariant = keyof typeof ADAPTER_VARIANTS;

/** One row of the adapter table. */
export interface AdapterRow extends Measurement {
  variant: string;
  lanes: number;
  /** ops/s ÷ ops/s in-process, same lanes, same run. */
  ratioToInProcess: number;
  /** Mean time per request added by the socket and adapter, µs (1/ops − 1/ops in-process, × lanes). */
  addedMicros: number;
  /** CPU time of the benchmark process (the server; the client runs elsewhere except in-process and same-thread) per request, µs. */
  cpuMicrosPerOp: number;
  /** CPU per request in-process ÷ CPU per request here: the server's cost ratio, robust to a loaded machine. */
  cpuRatioToInProcess: number;
}

/** What the section returns. */
export interface AdapterResults {
  /** The request every variant sends. */
  request: string;
  /** The status every answer must have. */
  status: number;
  rows: AdapterRow[];
}

const BASE = '/api/tokengate';
const ORG = '00000000-0000-4000-8000-000000000001';
const USER = '00000000-0000-4000-8000-000000000002';
/** Fails validation (`tokenType` must be a string): answered 400 before any ledger call. */
const BODY = JSON.stringify({ tokenType: 42 });

/**
 * Run the adapter section (no database needed).
 *
 * @example
 * const adapters = await runAdapterSection(profile, log);
 */
export async function runAdapterSection(profile: Profile, log: Log): Promise<AdapterResults> {
  // A store that fails loudly if it is ever called: this path must never reach the ledger.
  const store: TokenStore = {
    rpc: () => Promise.reject(new Error('the adapter benchmark reached the ledger')),
  };
  const issuer = createBenchIssuer();
  const bearer = await issuer.bearer(USER);
  const handler = createHandler({ gate: createTokenGate({ store }), authenticate: supabaseAuth(issuer.authOptions), basePath: BASE });
  const path = `${BASE}/orgs/${ORG}/deduct`;
  const headers = { authorization: bearer, 'content-type': 'application/json', 'idempotency-key': 'bench-adapter' };

  const servers: http.Server[] = [];
  const lanes = Math.max(...profile.connections);
  const agent = new http.Agent({ keepAlive: true, maxSockets: lanes });
  const client = startLoopbackClient();
  const listen = async (listener: http.RequestListener): Promise<string> => {
    const server = http.createServer(listener);
    server.keepAliveTimeout = 30_000;
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  try {
    const urls = {
      toNodeHandler: await listen(toNodeHandler(handler) as http.RequestListener),
      hono: await listen(getRequestListener(handler, { overrideGlobalObjects: false }) as http.RequestListener),
      srvx: await listen(srvxToNodeHandler(handler) as http.RequestListener),
    };
    const inProcess = async () => {
      const response = await handler(new Request(`http://localhost${path}`, { method: 'POST', headers, body: BODY }));
      await response.text();
      if (response.status !== 400) throw new Error(`HTTP ${response.status}`);
    };
    const requests = [{ method: 'POST', path, headers: { ...headers, 'content-length': String(Buffer.byteLength(BODY)) }, body: BODY }];
    const measure = (variant: AdapterVariant, load: { lanes: number; durationMs: number; warmupMs: number }) =>
      withCpu(() => {
        if (variant === 'inProcess') return sampleLoad(load, inProcess);
        if (variant === 'sameThread') return sampleLoad(load, () => post(agent, `${urls.toNodeHandler}${path}`, headers));
        return client.run({ origin: urls[variant], ...load, requests, expectStatus: 400 });
      });
    const variants = Object.keys(ADAPTER_VARIANTS) as AdapterVariant[];
    const rows: AdapterRow[] = [];
    for (const connections of profile.connections) {
      // Alternating rounds (a b c d, d c b a), as in the deduct section.
      const samples = new Map<AdapterVariant, Samples[]>(variants.map((v) => [v, []]));
      const cpu = new Map<AdapterVariant, { micros: number; ops: number }>(variants.map((v) => [v, { micros: 0, ops: 0 }]));
      for (const order of [variants, [...variants].reverse()]) {
        for (const variant of order) {
          const half = { lanes: connections, durationMs: Math.round(profile.durationMs / 2), warmupMs: profile.warmupMs };
          const measured = await measure(variant, half);
          samples.get(variant)!.push(measured.samples);
          const c = cpu.get(variant)!;
          c.micros += measured.cpuMicros;
          c.ops += measured.samples.started ?? measured.samples.latencies.length;
        }
      }
      const base = summarizeSamples(samples.get('inProcess')!);
      const cpuPerOp = (v: AdapterVariant) => cpu.get(v)!.micros / Math.max(cpu.get(v)!.ops, 1);
      for (const variant of variants) {
        const m = summarizeSamples(samples.get(variant)!);
        const row: AdapterRow = {
          variant: ADAPTER_VARIANTS[variant],
          lanes: connections,
          ...m,
          ratioToInProcess: base.opsPerSec > 0 ? round(m.opsPerSec / base.opsPerSec, 2) : 0,
          addedMicros: m.opsPerSec > 0 && base.opsPerSec > 0 ? round((1e6 / m.opsPerSec - 1e6 / base.opsPerSec) * connections, 0) : 0,
          cpuMicrosPerOp: round(cpuPerOp(variant), 0),
          cpuRatioToInProcess: round(cpuPerOp('inProcess') / Math.max(cpuPerOp(variant), 1), 2),
        };
        rows.push(row);
        const errors = row.errors > 0 ? `  ERRORS ${row.errors}: ${row.firstError}` : '';
        log(`  adapters ${String(connections).padStart(2)} lanes  ${row.variant.padEnd(72)} ${row.opsPerSec.toFixed(0).padStart(6)} req/s  ×${row.ratioToInProcess.toFixed(2)} in-process  CPU ${row.cpuMicrosPerOp} µs/req (×${row.cpuRatioToInProcess.toFixed(2)})${errors}`);
      }
    }
    return { request: `POST ${path} (valid JWT, body ${BODY})`, status: 400, rows };
  } finally {
    agent.destroy();
    await client.close();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
}

function post(agent: http.Agent, url: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(BODY) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        if (response.statusCode === 400) resolve();
        else reject(new Error(`HTTP ${response.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`));
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(BODY);
  });
}
