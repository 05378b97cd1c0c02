/**
 * The loopback benchmarks' second client: wrk (https://github.com/wg/wrk), a C load generator, when
 * it is installed (`apt-get install wrk`; found on PATH or at WRK_PATH). It sends the same requests as
 * the undici client (bench/loopback-client.ts) — a unique `Idempotency-Key` each, from a Lua
 * `request()` — and reports every latency from its histogram, so its rows are summarised like the
 * others. A client in C costs the server's cores far less per request than one on Node.js, so its
 * rows show what the server itself does over loopback.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { LoopbackSpec } from './loopback-client.ts';
import type { Samples } from './measure.ts';

const run = promisify(execFile);

/**
 * wrk's path and version, or null when it is not installed.
 *
 * @example
 * const wrk = await findWrk(); // { path: 'wrk', version: 'wrk debian/4.1.0-3+b2 [epoll] …' } or null
 */
export async function findWrk(): Promise<{ path: string; version: string } | null> {
  const candidate = process.env.WRK_PATH ?? 'wrk';
  try {
    // `wrk --version` prints its version and usage, and exits 1.
    const { stdout } = await run(candidate, ['--version']).catch((error: { stdout?: string; code?: unknown }) => {
      if (typeof error.stdout === 'string' && error.stdout.startsWith('wrk ')) return { stdout: error.stdout };
      throw error;
    });
    return { path: candidate, version: stdout.split('\n')[0]!.trim() };
  } catch {
    return null;
  }
}

const lua = (value: string) => JSON.stringify(value); // a JSON string literal is a valid Lua string literal for these ASCII values

/** The Lua script: the requests, a unique key per request, and the counts and histogram at the end. */
function script(spec: LoopbackSpec): string {
  if (spec.requests.some((r) => [r.method, r.path, r.body ?? '', ...Object.entries(r.headers).flat()].some((s) => /[^\x20-\x7e]/.test(s)))) {
    throw new Error('wrk client: requests must be printable ASCII');
  }
  const requests = spec.requests
    .map((r) => {
      const headers = Object.entries(r.headers)
        .filter(([name]) => name.toLowerCase() !== 'content-length') // wrk sets it from the body
        .map(([name, value]) => `[${lua(name)}] = ${lua(value)}`)
        .join(', ');
      return `{ ${lua(r.method)}, ${lua(r.path)}, { ${headers} }, ${r.body === undefined ? 'nil' : lua(r.body)} }`;
    })
    .join(',\n  ');
  return `
local requests = {
  ${requests}
}
local prefix = ${spec.keyPrefix === undefined ? 'nil' : lua(spec.keyPrefix)}
local n = 0
function setup(thread) thread:set("id", tostring(math.random(1, 1e9))) end
function request()
  n = n + 1
  local r = requests[math.random(1, #requests)]
  local headers = {}
  for k, v in pairs(r[3]) do headers[k] = v end
  if prefix then headers["idempotency-key"] = prefix .. "-" .. id .. "-" .. n end
  return wrk.format(r[1], r[2], headers, r[4])
end
function done(summary, latency, requests)
  io.write(string.format("TG summary %d %d\\n", summary.duration, summary.requests))
  local e = summary.errors
  io.write(string.format("TG errors %d\\n", e.connect + e.read + e.write + e.timeout + e.status))
  for i = 1, #latency do
    local v, c = latency(i)
    io.write(string.format("TG latency %d %d\\n", v, c))
  end
end
`;
}

/**
 * Run one measurement with wrk (one thread, `lanes` connections): a warm-up run of `warmupMs`, then
 * the measured one. Latencies come from wrk's histogram (µs, exact to the µs); errors are
 * connection errors and answers other than 2xx/3xx (wrk's own count; the benchmarks expect 200).
 *
 * @example
 * const samples = await runWrk(wrk.path, { origin, lanes: 8, durationMs: 2000, warmupMs: 500, requests, expectStatus: 200, keyPrefix: 'k' });
 */
export async function runWrk(wrkPath: string, spec: LoopbackSpec): Promise<Samples> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-wrk-'));
  try {
    const file = path.join(dir, 'requests.lua');
    const once = async (ms: number, keyPrefix: string | undefined) => {
      await writeFile(file, script({ ...spec, ...(keyPrefix === undefined ? {} : { keyPrefix }) }));
      const seconds = Math.max(1, Math.round(ms / 1000));
      const { stdout } = await run(wrkPath, ['-t1', `-c${spec.lanes}`, `-d${seconds}s`, '--timeout', '30s', '-s', file, spec.origin], {
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    };
    // wrk runs whole seconds: a warm-up shorter than half a second is skipped.
    if (spec.warmupMs >= 500) await once(spec.warmupMs, spec.keyPrefix === undefined ? undefined : `${spec.keyPrefix}-warm`);
    const stdout = await once(spec.durationMs, spec.keyPrefix);
    const summary = /^TG summary (\d+) (\d+)$/m.exec(stdout);
    const errors = /^TG errors (\d+)$/m.exec(stdout);
    if (!summary || !errors) throw new Error(`wrk: unexpected output:\n${stdout.slice(0, 500)}`);
    const latencies: number[] = [];
    for (const [, micros, count] of stdout.matchAll(/^TG latency (\d+) (\d+)$/gm)) {
      for (let i = 0; i < Number(count); i++) latencies.push(Number(micros) / 1000);
    }
    const failed = Number(errors[1]);
    return {
      latencies,
      durationMs: Number(summary[1]) / 1000,
      errors: failed,
      ...(failed > 0 ? { firstError: `wrk: ${failed} connection errors or answers other than 2xx/3xx` } : {}),
      started: Number(summary[2]),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
