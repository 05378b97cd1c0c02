/**
 * `npm run bench`: what Tokengate costs on top of what Postgres itself can do, measured as ratios
 * in one run. See bench/README section in the project README ("Performance") for what each
 * number means.
 *
 *   npm run bench                      # everything, a few minutes
 *   npm run bench -- --quick           # seconds (the smoke test runs this)
 *   npm run bench -- --only deduct,stats --database-url postgres://…
 *
 * Progress goes to stderr; the Markdown tables to stdout; JSON and Markdown to bench/results/.
 */
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { runAdapterSection } from './adapters.ts';
import { runBatchSection } from './batch.ts';
import { runBundleSection } from './bundle.ts';
import { createdDatabases, dropAllDatabases, probeServer, redactUrl } from './database.ts';
import { runServerSections } from './deduct.ts';
import { runLiveSection } from './live.ts';
import { parseArgs, profileFor, USAGE, type BenchOptions } from './options.ts';
import { runPgliteSection } from './pglite.ts';
import { renderMarkdown, writeResults, type BenchResults, type Log } from './report.ts';
import { runStartupSection } from './startup.ts';
import { runOperatorSection } from './operator.ts';
import { runStatsSection } from './stats.ts';
import { runStreamSection } from './stream.ts';

/**
 * Run the benchmark and write its results. Never throws for a failing section: the failure is
 * recorded in `results.problems` (and the other sections still run).
 *
 * @example
 * const { results, files } = await runBench({ ...parseArgs(['--quick']), log: console.error });
 */
export async function runBench(options: BenchOptions & { log?: Log; command?: string }): Promise<{ results: BenchResults; files: { json: string; markdown: string } }> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const profile = profileFor(options);
  const started = new Date();
  const sections = options.only;
  const results: BenchResults = {
    version: 1,
    meta: {
      startedAt: started.toISOString(),
      finishedAt: '',
      durationSeconds: 0,
      command: options.command ?? `npm run bench${options.quick ? ' -- --quick' : ''}`,
      quick: options.quick,
      huge: options.huge,
      sections,
      node: process.versions.node,
      platform: `${os.platform()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
      databaseUrl: redactUrl(options.databaseUrl),
      postgresVersion: null,
      scratchDatabases: createdDatabases,
      durationMs: profile.durationMs,
      warmupMs: profile.warmupMs,
    },
    problems: [],
  };
  const fail = (section: BenchOptions['only'][number], error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    results.problems.push({ section, message });
    log(`  ✗ ${section}: ${message}`);
  };

  const wantsServer = sections.some((s) => s === 'deduct' || s === 'reserve' || s === 'batch' || s === 'stream' || s === 'live' || s === 'stats' || s === 'operator');
  let serverOk = false;
  if (wantsServer) {
    try {
      results.meta.postgresVersion = (await probeServer(options.databaseUrl)).version;
      serverOk = true;
      log(`Postgres ${results.meta.postgresVersion} at ${redactUrl(options.databaseUrl)}`);
    } catch (error) {
      for (const s of sections.filter((x) => x === 'deduct' || x === 'reserve' || x === 'batch' || x === 'stream' || x === 'live' || x === 'stats' || x === 'operator')) fail(s, error);
    }
  }

  if (serverOk && (sections.includes('deduct') || sections.includes('reserve'))) {
    log(`\n[1/2] deduct and reserve → commit on the Postgres server`);
    try {
      const server = await runServerSections({ deduct: sections.includes('deduct'), reserve: sections.includes('reserve') }, profile, options.databaseUrl, log);
      if (server.deduct) {
        results.deduct = { ...server.deduct, spreadOrgs: server.spreadOrgs };
        const o = server.deduct.overspend;
        if (o.ours.overspend !== 0) results.problems.push({ section: 'deduct', message: `tokengate overspent by ${o.ours.overspend} tokens` });
        if (o.ours.verifyLedger.length !== 0) results.problems.push({ section: 'deduct', message: `verify_ledger: ${JSON.stringify(o.ours.verifyLedger)}` });
        for (const row of server.deduct.pgbench.rows.filter((r) => r.failed > 0)) results.problems.push({ section: 'deduct', message: `pgbench ${row.workload}, ${row.clients} clients: ${row.failed} failed transactions` });
        const errors = server.deduct.rows.filter((row) => row.errors > 0);
        for (const row of errors) results.problems.push({ section: 'deduct', message: `${row.variant} (${row.workload}, ${row.connections} conn): ${row.errors} errors, first: ${row.firstError}` });
      }
      if (server.reserve) {
        results.reserve = { ...server.reserve, spreadOrgs: server.spreadOrgs };
        for (const row of server.reserve.rows.filter((r) => r.errors > 0)) {
          results.problems.push({ section: 'reserve', message: `${row.workload}, ${row.connections} conn: ${row.errors} errors, first: ${row.firstError}` });
        }
      }
    } catch (error) {
      fail(sections.includes('deduct') ? 'deduct' : 'reserve', error);
    }
  }

  if (serverOk && sections.includes('batch')) {
    log(`\n[1b] hot organizations: one bucket, unbatched and through batchingStore, vs spread`);
    try {
      results.batch = await runBatchSection(profile, options.databaseUrl, log);
      log(`  hot · batched ÷ spread = ×${results.batch.hotBatchedToSpread.toFixed(2)} (goal ≥ ×0.5)`);
      if (results.batch.verifyLedger.length !== 0) results.problems.push({ section: 'batch', message: `verify_ledger: ${JSON.stringify(results.batch.verifyLedger).slice(0, 300)}` });
      for (const row of results.batch.rows.filter((r) => r.errors > 0)) results.problems.push({ section: 'batch', message: `${row.variant}: ${row.errors} errors, first: ${row.firstError}` });
    } catch (error) {
      fail('batch', error);
    }
  }

  if (sections.includes('adapters')) {
    log(`\n[2b] Node adapters: the handler over loopback vs in-process, without the database`);
    try {
      results.adapters = await runAdapterSection(profile, log);
      for (const row of results.adapters.rows.filter((r) => r.errors > 0)) results.problems.push({ section: 'adapters', message: `${row.variant}, ${row.lanes} lanes: ${row.errors} errors, first: ${row.firstError}` });
    } catch (error) {
      fail('adapters', error);
    }
  }

  if (serverOk && sections.includes('stream')) {
    log(`\n[2c] a streamed AI route, guarded vs unguarded (Postgres server)`);
    try {
      results.stream = await runStreamSection(profile, options.databaseUrl, log);
      for (const row of results.stream.rows.filter((r) => r.errors > 0)) results.problems.push({ section: 'stream', message: `${row.variant}, ${row.lanes} lanes: ${row.errors} errors, first: ${row.firstError}` });
      if (results.stream.chargedPerRequest !== 1) results.problems.push({ section: 'stream', message: `charged ${results.stream.chargedPerRequest} tokens per guarded request, expected 1` });
    } catch (error) {
      fail('stream', error);
    }
  }

  if (serverOk && sections.includes('live')) {
    log(`\n[2d] live balances: charge → event at N subscribers over loopback, and the feed's cost on charges`);
    try {
      results.live = await runLiveSection(profile, options.databaseUrl, log);
      const l = results.live;
      if (l.received !== l.expected) results.problems.push({ section: 'live', message: `${l.expected - l.received} of ${l.expected} events never arrived` });
      if (l.listeningConnections !== 1) results.problems.push({ section: 'live', message: `${l.listeningConnections} listening connections, expected 1` });
      for (const [variant, m] of [['on', l.feedCost.on], ['off', l.feedCost.off]] as const) {
        if (m.errors > 0) results.problems.push({ section: 'live', message: `deduct with the feed ${variant}: ${m.errors} errors, first: ${m.firstError}` });
      }
    } catch (error) {
      fail('live', error);
    }
  }

  if (serverOk && sections.includes('stats')) {
    log(`\n[3] stats latency as the ledger grows`);
    try {
      results.stats = await runStatsSection(profile, options.databaseUrl, log);
      if (results.stats.verifyLedger.length !== 0) results.problems.push({ section: 'stats', message: `grown ledger does not reconcile: ${JSON.stringify(results.stats.verifyLedger).slice(0, 300)}` });
      for (const row of results.stats.rows.filter((r) => r.errors > 0)) results.problems.push({ section: 'stats', message: `${row.errors} errors, first: ${row.firstError}` });
    } catch (error) {
      fail('stats', error);
    }
  }

  if (serverOk && sections.includes('operator')) {
    log(`\n[7] operator's view at scale`);
    try {
      results.operator = await runOperatorSection(profile, options.databaseUrl, log);
      for (const row of results.operator.rows.filter((r) => r.errors > 0)) results.problems.push({ section: 'operator', message: `${row.query}: ${row.errors} errors, first: ${row.firstError}` });
    } catch (error) {
      fail('operator', error);
    }
  }

  if (sections.includes('pglite')) {
    log(`\n[4] PGlite`);
    try {
      results.pglite = await runPgliteSection(profile, log);
      if (results.pglite.deduct.errors > 0) results.problems.push({ section: 'pglite', message: `${results.pglite.deduct.errors} errors, first: ${results.pglite.deduct.firstError}` });
    } catch (error) {
      fail('pglite', error);
    }
  }

  if (sections.includes('bundle')) {
    log(`\n[5] client bundle`);
    try {
      results.bundle = await runBundleSection(log);
    } catch (error) {
      fail('bundle', error);
    }
  }

  if (sections.includes('startup')) {
    log(`\n[6] npm start: time to the page and to the API, cold and warm`);
    try {
      results.startup = await runStartupSection(profile, log);
    } catch (error) {
      fail('startup', error);
    }
  }

  const finished = new Date();
  results.meta.finishedAt = finished.toISOString();
  results.meta.durationSeconds = Math.round((finished.getTime() - started.getTime()) / 100) / 10;
  const files = await writeResults(results, options.outDir);
  log(`\nfinished in ${results.meta.durationSeconds} s; wrote ${files.json} and ${files.markdown}`);
  return { results, files };
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${signal}: dropping the scratch databases…\n`);
    void dropAllDatabases().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const args = process.argv.slice(2).map((a) => (/^--database-url(=|$)/.test(a) ? a.replace(/=.*/, '=…') : a));
  const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`.replace(/(--database-url) \S+/, '$1 …');
  const { results } = await runBench({ ...options, command });
  process.stdout.write(`\n${renderMarkdown(results)}`);
  if (results.problems.length > 0) process.exitCode = 1;
  // Pools, servers and PGlite are closed; anything left (keep-alive sockets) must not keep us up.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
