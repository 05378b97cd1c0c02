/**
 * Time-to-ready of `npm start`: runs `npm start -- --port <free port>` (or, with `--direct`,
 * `node demo/start.mjs` as the e2e suite does) and polls until it is usable — the page (`GET /`) answers
 * 200 and a real API call (the Pro organization's balances, with a token from the demo's user
 * switcher) answers 200 — then stops it. A refused or failed try is repeated 10 ms later.
 *
 *   npx tsx scripts/measure-start.ts                # cold (empty data folder), then warm, 3 times each
 *   npx tsx scripts/measure-start.ts --runs 5
 *   npx tsx scripts/measure-start.ts --first-ever   # also without the caches (Vite's, the PGlite dump)
 *   npx tsx scripts/measure-start.ts --direct       # without npm's own start-up
 *
 * cold = a fresh data folder (as after `rm -rf .tokengate`); warm = the same folder a second time;
 * first-ever = cold and without `node_modules/.vite/demo` and `node_modules/.cache/tokengate-demo`
 * (the first `npm start` after `npm install`). Prints one line per start (wall time, and the CPU
 * time the playground's process tree used until ready, which a loaded machine inflates less) and
 * the medians; exits non-zero if a start fails.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PRO_ORG = '00000000-0000-4000-8000-000000000200';
const PRO_OWNER = '00000000-0000-4000-8000-000000000201';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolve with `fn()`'s first defined result, trying again 10 ms after a failed try. */
async function until<T>(fn: () => Promise<T | undefined>, stop: { failed?: Error; deadline: number }): Promise<T> {
  for (;;) {
    if (stop.failed) throw stop.failed;
    if (performance.now() > stop.deadline) throw new Error('not ready after 120 s: the playground is broken, not slow');
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `pid` and its descendants, with the CPU seconds (user + system) each used so far, from /proc (Linux). */
async function processTree(pid: number): Promise<{ pid: number; cpuSeconds: number }[]> {
  const ticks = 100; // USER_HZ on Linux
  const tree: { pid: number; cpuSeconds: number }[] = [];
  const visit = async (p: number): Promise<void> => {
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    if (!stat) return;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    tree.push({ pid: p, cpuSeconds: (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / ticks }); // utime, stime
    const children = await readFile(`/proc/${p}/task/${p}/children`, 'utf8').catch(() => '');
    for (const child of children.split(' ').filter(Boolean)) await visit(Number(child));
  };
  await visit(pid);
  return tree;
}

const alive = (pid: number) => readFile(`/proc/${pid}/stat`, 'utf8').then((stat) => !/^\d+ \(.*\) Z/.test(stat), () => false);

/** Start the playground in `dir`, wait until it is usable, stop it; returns ms to ready. */
export async function timeStart(dir: string, direct = false): Promise<{ readyMs: number; pageMs: number; apiMs: number; cpuSeconds: number }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const [command, args] = direct
    ? [process.execPath, ['demo/start.mjs', '--port', String(port)]]
    : ['npm', ['start', '--silent', '--', '--port', String(port)]];
  // Its own process group, so that stopping it stops npm's child too.
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, TOKENGATE_DEMO_DIR: dir, DATABASE_URL: '', PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const stop: { failed?: Error; deadline: number } = { deadline: started + 120_000 };
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let tree: number[] = [];
  child.once('exit', (code) => (stop.failed ??= new Error(`the playground exited with ${code}:\n${output}`)));
  try {
    const page = until(async () => {
      const res = await fetch(`${base}/`);
      await res.text();
      return res.status === 200 ? performance.now() - started : undefined;
    }, stop);
    const api = until(async () => {
      const session = await fetch(`${base}/api/demo/session?userId=${PRO_OWNER}`);
      if (session.status !== 200) return undefined;
      const { token } = (await session.json()) as { token: string };
      const res = await fetch(`${base}/api/tokengate/orgs/${PRO_ORG}/balances`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { tokenTypes?: unknown[] };
      return res.status === 200 && Array.isArray(body.tokenTypes) && body.tokenTypes.length > 0 ? performance.now() - started : undefined;
    }, stop);
    const [pageMs, apiMs] = await Promise.all([page, api]);
    const processes = await processTree(child.pid!);
    tree = processes.map((p) => p.pid);
    const cpuSeconds = processes.reduce((sum, p) => sum + p.cpuSeconds, 0);
    return { readyMs: Math.max(pageMs, apiMs), pageMs, apiMs, cpuSeconds };
  } finally {
    stop.failed ??= new Error('stopped');
    if (child.exitCode === null) {
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
    // The next start must not overlap this one's shutdown (the playground closes its database on SIGTERM).
    for (const pid of tree) while (await alive(pid)) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '3' }, 'first-ever': { type: 'boolean', default: false }, direct: { type: 'boolean', default: false } },
  });
  const runs = Number(values.runs);
  const load = os.loadavg().map((n) => n.toFixed(2)).join(' ');
  const how = values.direct ? 'node demo/start.mjs' : 'npm start';
  console.log(`${how}: time to ready · ${os.cpus().length} CPUs · load average ${load} · Node ${process.versions.node}`);
  const cold: number[] = [];
  const warm: number[] = [];
  const coldCpu: number[] = [];
  const warmCpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-start-'));
    try {
      if (values['first-ever']) {
        await rm(path.join(ROOT, 'node_modules', '.vite', 'demo'), { recursive: true, force: true });
        await rm(path.join(ROOT, 'node_modules', '.cache', 'tokengate-demo'), { recursive: true, force: true });
      }
      const c = await timeStart(dir, values.direct);
      const w = await timeStart(dir, values.direct);
      cold.push(c.readyMs);
      warm.push(w.readyMs);
      coldCpu.push(c.cpuSeconds);
      warmCpu.push(w.cpuSeconds);
      const f = (t: { readyMs: number; pageMs: number; apiMs: number; cpuSeconds: number }) =>
        `${(t.readyMs / 1000).toFixed(2)} s (page ${(t.pageMs / 1000).toFixed(2)} s, API ${(t.apiMs / 1000).toFixed(2)} s, CPU ${t.cpuSeconds.toFixed(2)} s)`;
      console.log(`run ${i + 1}: ${values['first-ever'] ? 'first-ever' : 'cold'} ${f(c)} · warm ${f(w)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  console.log(
    `median of ${runs}: ${values['first-ever'] ? 'first-ever' : 'cold'} ${(median(cold) / 1000).toFixed(2)} s (CPU ${median(coldCpu).toFixed(2)} s) · ` +
      `warm ${(median(warm) / 1000).toFixed(2)} s (CPU ${median(warmCpu).toFixed(2)} s) · load average now ${os.loadavg().map((n) => n.toFixed(2)).join(' ')}`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
