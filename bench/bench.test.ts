/**
 * Smoke test of `npm run bench`: the benchmark runs with `--quick` in a child process (the real
 * CLI through tsx, as `npm run bench` starts it) and writes valid JSON and Markdown with every
 * expected key and sane values. No timing assertions: only that numbers are positive, that our
 * overspend is exactly 0, that the ledgers reconcile and that the scratch databases are gone.
 *
 * Without a Postgres server (local runs only; CI always has one) it runs the sections that need
 * none (pglite, bundle).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configuredDatabaseUrl, connectClient, serverAvailable } from '../test/db.ts';
import { ADAPTER_VARIANTS } from './adapters.ts';
import { BATCH_VARIANTS } from './batch.ts';
import { findWrk } from './wrk-client.ts';
import { STREAM_VARIANTS } from './stream.ts';
import { DEDUCT_VARIANTS } from './deduct.ts';
import { profileFor, REPO_ROOT } from './options.ts';
import type { BenchResults } from './report.ts';

const QUICK = profileFor({ quick: true, huge: false });

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
  return new Promise((resolve) => {
    // A safety net only (a run that hangs), sized for a loaded 2-core machine running other suites:
    // the quick run takes 1–2 minutes alone, and was seen to need more than 150 s under load.
    execFile(
      process.execPath,
      [tsxCli, path.join(REPO_ROOT, 'bench', 'run.ts'), ...args],
      { cwd: REPO_ROOT, timeout: 420_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0' } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

const positive = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n > 0;

describe('npm run bench --quick', () => {
  const outDirs: string[] = [];
  afterAll(async () => {
    for (const dir of outDirs) await rm(dir, { recursive: true, force: true });
  });

  it(`runs ${serverAvailable ? 'every section' : 'the sections that need no server'} and writes valid results`, { timeout: 440_000 }, async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'tokengate-bench-smoke-'));
    outDirs.push(out);
    const sections = serverAvailable ? ['deduct', 'reserve', 'batch', 'adapters', 'stream', 'live', 'stats', 'pglite', 'bundle'] : ['adapters', 'pglite', 'bundle'];
    const run = await runCli(['--quick', '--only', sections.join(','), '--database-url', configuredDatabaseUrl(), '--out', out]);
    expect(run.stderr, run.stderr).toContain('finished in');
    expect(run.code, `exit code; stderr:\n${run.stderr}`).toBe(0);

    const results = JSON.parse(await readFile(path.join(out, 'latest.json'), 'utf8')) as BenchResults;
    expect(results.version).toBe(1);
    expect(results.problems).toEqual([]);
    expect(results.meta).toMatchObject({ quick: true, huge: false, sections });
    expect(Date.parse(results.meta.finishedAt)).toBeGreaterThanOrEqual(Date.parse(results.meta.startedAt));
    const markdown = await readFile(path.join(out, 'latest.md'), 'utf8');
    expect(run.stdout).toContain(markdown.trim());

    if (serverAvailable) {
      // 1. deduct: every variant × workload × connection count, with a ratio to the floor.
      const rows = results.deduct!.rows;
      // wrk's rows when it is installed (.ci/run installs it), none otherwise.
      const wrk = await findWrk();
      expect(results.deduct!.wrk).toBe(wrk?.version ?? null);
      const variants = Object.values(DEDUCT_VARIANTS).filter((v) => v !== DEDUCT_VARIANTS.wrk || wrk !== null);
      expect(rows).toHaveLength(variants.length * 2 * QUICK.connections.length);
      for (const workload of ['spread', 'hot']) {
        for (const connections of QUICK.connections) {
          for (const variant of variants) {
            const row = rows.find((r) => r.workload === workload && r.connections === connections && r.variant === variant);
            expect(row, `${variant} ${workload} ${connections}`).toBeDefined();
            expect(row!.errors).toBe(0);
            expect([row!.ops, row!.opsPerSec, row!.p50Ms, row!.p99Ms, row!.ratioToFloor].every(positive), JSON.stringify(row)).toBe(true);
            expect(row!.p99Ms).toBeGreaterThanOrEqual(row!.p50Ms);
          }
          const floor = rows.find((r) => r.workload === workload && r.connections === connections && r.variant === DEDUCT_VARIANTS.floor)!;
          expect(floor.ratioToFloor).toBe(1);
          // The loopback rows (client in its own process) and the in-process row carry the server's CPU per deduct.
          for (const variant of [DEDUCT_VARIANTS.handler, DEDUCT_VARIANTS.http, DEDUCT_VARIANTS.hono, ...(wrk ? [DEDUCT_VARIANTS.wrk] : [])]) {
            const row = rows.find((r) => r.workload === workload && r.connections === connections && r.variant === variant)!;
            expect(positive(row.cpuMicrosPerOp), JSON.stringify(row)).toBe(true);
          }
        }
      }
      expect(markdown).toContain('Deduct throughput');
      expect(markdown).toContain('HTTP over loopback ÷ the same handler in-process');

      // The floor and tokengate.deduct() with pgbench, when it is installed: both at every cell, no failures.
      const pgbench = results.deduct!.pgbench;
      if (pgbench.version !== null) {
        expect(pgbench.rows).toHaveLength(2 * QUICK.connections.length);
        for (const row of pgbench.rows) {
          expect(row.failed).toBe(0);
          expect([row.floorTps, row.deductTps, row.ratio, row.quietTps, row.quietRatio, row.watchedTps, row.watchedRatio].every(positive), JSON.stringify(row)).toBe(true);
        }
        expect(markdown).toContain('with pgbench');
      }

      // The race: ours spends exactly what the bucket held, never more; the naive pattern at least that.
      const race = results.deduct!.overspend;
      expect(race).toMatchObject({ connections: QUICK.overspendConnections, allowance: QUICK.overspendAllowance, attempts: 2 * QUICK.overspendAllowance });
      expect(race.ours.overspend).toBe(0);
      expect(race.ours.succeeded).toBe(race.allowance);
      expect(race.ours.verifyLedger).toEqual([]);
      expect(race.naive.succeeded).toBeGreaterThanOrEqual(race.allowance);
      expect(race.naive.overspend).toBe(race.naive.succeeded - race.allowance);
      expect(race.naive.finalUsed).toBe(race.naive.succeeded);
      expect(race.naive.logRows).toBe(race.naive.succeeded);

      // 2. reserve → commit.
      expect(results.reserve!.rows).toHaveLength(2 * QUICK.connections.length);
      for (const row of results.reserve!.rows) {
        expect(row.errors).toBe(0);
        expect([row.ops, row.opsPerSec, row.p50Ms, row.p99Ms].every(positive), JSON.stringify(row)).toBe(true);
      }

      // 1b. hot organizations: every variant, no errors, the hot charges really batched, the ledger reconciles.
      const batch = results.batch!;
      expect(batch.rows.map((r) => r.variant)).toEqual(Object.values(BATCH_VARIANTS));
      for (const row of batch.rows) {
        expect(row.errors, JSON.stringify(row)).toBe(0);
        expect([row.ops, row.opsPerSec, row.p50Ms, row.ratioToSpread].every(positive), JSON.stringify(row)).toBe(true);
      }
      expect(batch.rows.find((r) => r.variant === BATCH_VARIANTS.hotBatched)!.chargesPerCall).toBeGreaterThan(1);
      expect(batch.hotBatchedToSpread).toBe(batch.rows.find((r) => r.variant === BATCH_VARIANTS.hotBatched)!.ratioToSpread);
      expect(batch.verifyLedger).toEqual([]);
      expect(markdown).toContain('Hot organization');

      // 3. stats: the ledger grew to each level, the organization's rollup did not; its history did.
      const stats = results.stats!;
      expect(stats.rows.map((r) => r.ledgerRows)).toEqual(QUICK.statsLevels);
      for (const row of stats.rows) {
        expect(row.errors).toBe(0);
        expect(row.ops).toBe(QUICK.statsCalls);
        expect([row.p50Ms, row.p99Ms, row.p50Ratio].every(positive)).toBe(true);
        expect(row.orgUsageDailyRows).toBe(stats.rows[0]!.orgUsageDailyRows);
      }
      expect(stats.rows[1]!.orgLedgerRows).toBeGreaterThan(stats.rows[0]!.orgLedgerRows);
      expect(stats.rows[1]!.reportedEvents).toBeGreaterThan(stats.rows[0]!.reportedEvents);
      expect(positive(stats.ratioLargestToSmallest)).toBe(true);
      expect(stats.verifyLedger).toEqual([]);

      // Every scratch database was dropped.
      expect(results.meta.scratchDatabases).toHaveLength(5); // deduct/reserve, batch, stream, live, stats
      const client = await connectClient({ connectionString: configuredDatabaseUrl() });
      try {
        const { rows: left } = await client.query(`select datname from pg_database where datname = any($1)`, [results.meta.scratchDatabases]);
        expect(left).toEqual([]);
      } finally {
        await client.end();
      }
    }

    // 2b. Node adapters without the database: every variant at every lane count, no errors.
    const adapters = results.adapters!;
    expect(adapters.rows).toHaveLength(Object.keys(ADAPTER_VARIANTS).length * QUICK.connections.length);
    for (const row of adapters.rows) {
      expect(row.errors, JSON.stringify(row)).toBe(0);
      expect([row.ops, row.opsPerSec, row.p50Ms, row.ratioToInProcess, row.cpuMicrosPerOp, row.cpuRatioToInProcess].every(positive), JSON.stringify(row)).toBe(true);
    }
    expect(markdown).toContain('Node adapters without the database');

    // 2c. A streamed route, guarded vs unguarded: every variant at every lane count, one token charged per guarded request.
    if (serverAvailable) {
      const stream = results.stream!;
      expect(stream.rows).toHaveLength(Object.keys(STREAM_VARIANTS).length * QUICK.connections.length);
      for (const row of stream.rows) {
        expect(row.errors, JSON.stringify(row)).toBe(0);
        expect([row.ops, row.opsPerSec, row.p50Ms, row.ratioToUnguarded].every(positive), JSON.stringify(row)).toBe(true);
      }
      expect(stream.chargedPerRequest).toBe(1);
      expect(markdown).toContain('A streamed AI route, guarded vs unguarded');

      // 2d. Live balances: every change at every subscriber, over one listening connection; the feed's cost measured.
      const live = results.live!;
      expect(live).toMatchObject({ subscribers: QUICK.liveSubscribers, changes: QUICK.liveChanges, listeningConnections: 1 });
      expect(live.received).toBe(QUICK.liveSubscribers * QUICK.liveChanges);
      expect(live.received).toBe(live.expected);
      expect([live.openSeconds, live.p50Ms, live.p99Ms, live.maxMs, live.feedCost.on.opsPerSec, live.feedCost.off.opsPerSec, live.feedCost.onToOff].every(positive), JSON.stringify(live)).toBe(true);
      expect(live.p99Ms).toBeGreaterThanOrEqual(live.p50Ms);
      expect(live.feedCost.on.errors + live.feedCost.off.errors).toBe(0);
      expect(markdown).toContain('Live balances: charge → event');
    }

    // 4. PGlite.
    const p = results.pglite!;
    expect([p.coldStartFreshMs, p.coldStartFromDumpMs, p.dumpBytes, p.deduct.ops, p.deduct.opsPerSec, p.deduct.p50Ms].every(positive), JSON.stringify(p)).toBe(true);
    expect(p.deduct.errors).toBe(0);

    // 5. Bundle: every entry whose module exists is built, and gzip is smaller than minified.
    expect(results.bundle!.external).toEqual(['react', 'react-dom', '@tanstack/react-query']);
    expect(results.bundle!.rows.map((r) => r.name)).toEqual([
      'client core (tokengate/core, all exports)',
      'React bindings (tokengate/react, all exports)',
      'TokenDashboard',
      'UpgradePrompt',
      'useTokenGate',
      'tokengate/stream (all exports)',
      'useGuardedFetch (tokengate/react/stream, for useChat)',
      'TokenGateProvider (live feed loaded on demand)',
      'tokengate/live (all exports)',
      'createSupabaseTransport (tokengate/live/supabase)',
      'useLiveStatus (tokengate/react/live)',
      'member kit with TanStack Query inlined',
      '@tanstack/react-query alone (useQuery+useMutation+QueryClientProvider+QueryClient)',
    ]);
    for (const row of results.bundle!.rows) {
      const module = path.join(REPO_ROOT, row.from.split(' ')[0]!);
      if (existsSync(module)) {
        expect(row.status, `${row.name}: ${row.reason ?? ''}`).toBe('built');
        expect(row.minBytes).toBeGreaterThan(row.gzipBytes);
        expect(row.gzipBytes).toBeGreaterThan(0);
      } else {
        expect(row.status).toBe('not built yet');
      }
    }
    // The provider's live feed loads on demand: measured apart from what it costs up front.
    expect(results.bundle!.rows.find((r) => r.name.startsWith('TokenGateProvider'))!.lazyGzipBytes).toBeGreaterThan(1000);
  });

  it('times npm start, cold and warm (section startup)', { timeout: 240_000 }, async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'tokengate-bench-smoke-'));
    outDirs.push(out);
    const run = await runCli(['--quick', '--only', 'startup', '--out', out]);
    expect(run.code, `exit code; stderr:\n${run.stderr}`).toBe(0);
    const results = JSON.parse(await readFile(path.join(out, 'latest.json'), 'utf8')) as BenchResults;
    expect(results.problems).toEqual([]);
    expect(results.startup!.rows.map((r) => r.kind)).toEqual(['cold', 'warm']);
    for (const row of results.startup!.rows) {
      expect(row.runs).toBe(QUICK.startupRuns);
      expect([row.pageSeconds, row.apiSeconds, row.cpuSeconds].every(positive), JSON.stringify(row)).toBe(true);
    }
    expect(run.stdout).toContain('`npm start`: seconds to ready');
  });
});
