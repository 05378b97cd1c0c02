// The loopback benchmarks' HTTP client, run as a child process (plain JavaScript, so it needs no
// TypeScript loader): an undici Pool with keep-alive, one connection per lane, no pipelining. In
// its own process the server's event loop does only the server's work — as with a real client on
// another machine — and the server process's CPU time is the server's alone.
// Messages over IPC: { id, spec } in (see bench/loopback-client.ts), { id, samples } or { id, error } out.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

/** @type {Map<string, import('undici').Pool>} */
const pools = new Map();

process.on('message', async ({ id, spec }) => {
  try {
    process.send({ id, samples: await run(spec) });
  } catch (error) {
    process.send({ id, error: error instanceof Error ? error.stack ?? error.message : String(error) });
  }
  if (spec.close) process.disconnect();
});

async function run(spec) {
  if (spec.close) {
    await Promise.all([...pools.values()].map((pool) => pool.close()));
    pools.clear();
    return null;
  }
  // One pool per origin and lane count, kept across runs (its connections stay open, as a
  // keep-alive client's would).
  const poolKey = `${spec.origin} ${spec.lanes}`;
  let pool = pools.get(poolKey);
  if (!pool) {
    pool = new Pool(spec.origin, { connections: spec.lanes, pipelining: 1, keepAliveTimeout: 30_000 });
    pools.set(poolKey, pool);
  }
  const start = performance.now();
  const measureFrom = start + spec.warmupMs;
  const end = measureFrom + spec.durationMs;
  const latencies = [];
  let errors = 0;
  let firstError;
  let lastDone = measureFrom;
  let seq = 0;
  let started = 0;
  const requests = spec.requests;
  await Promise.all(
    Array.from({ length: spec.lanes }, async () => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        started++;
        const request = requests.length === 1 ? requests[0] : requests[Math.floor(Math.random() * requests.length)];
        const headers = spec.keyPrefix ? { ...request.headers, 'idempotency-key': `${spec.keyPrefix}-${seq++}` } : request.headers;
        let failed = false;
        try {
          const response = await pool.request({ path: request.path, method: request.method, headers, body: request.body });
          const text = await response.body.text();
          if (response.statusCode !== spec.expectStatus) throw new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
        } catch (error) {
          failed = true;
          if (t0 >= measureFrom) {
            errors++;
            firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          }
        }
        const t1 = performance.now();
        if (t0 >= measureFrom) {
          if (!failed) latencies.push(t1 - t0);
          if (t1 > lastDone) lastDone = t1;
        }
      }
    }),
  );
  return { latencies, durationMs: Math.max(lastDone - measureFrom, 1), errors, started, ...(firstError === undefined ? {} : { firstError }) };
}
