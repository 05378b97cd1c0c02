/**
 * The benchmark's results: their JSON shape, the Markdown tables, and writing both to disk.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AdapterResults } from './adapters.ts';
import type { BatchResults } from './batch.ts';
import type { LiveResults } from './live.ts';
import type { StartupResults } from './startup.ts';
import { formatBytes, type BundleResults } from './bundle.ts';
import { DEDUCT_VARIANTS, LOOPBACK_VARIANTS, type LoadRow, type ServerResults } from './deduct.ts';
import type { Section } from './options.ts';
import type { PgliteResults } from './pglite.ts';
import type { OperatorResults } from './operator.ts';
import type { StatsResults } from './stats.ts';
import type { StreamResults } from './stream.ts';

/** A progress line writer. */
export type Log = (line: string) => void;

/** Everything one run measured (the JSON file). */
export interface BenchResults {
  /** Shape version of this file. */
  version: 1;
  meta: {
    startedAt: string;
    finishedAt: string;
    durationSeconds: number;
    /** How to reproduce: the command line. */
    command: string;
    quick: boolean;
    huge: boolean;
    sections: Section[];
    node: string;
    platform: string;
    cpus: number;
    cpuModel: string;
    /** The server (password redacted) and its version, when a server section ran. */
    databaseUrl: string;
    postgresVersion: string | null;
    /** Scratch databases the run created on the server (all dropped by the end). */
    scratchDatabases: string[];
    /** Measured window and warm-up of each throughput measurement, ms. */
    durationMs: number;
    warmupMs: number;
  };
  deduct?: NonNullable<ServerResults['deduct']> & { spreadOrgs: number };
  reserve?: NonNullable<ServerResults['reserve']> & { spreadOrgs: number };
  batch?: BatchResults;
  adapters?: AdapterResults;
  startup?: StartupResults;
  stream?: StreamResults;
  live?: LiveResults;
  stats?: StatsResults;
  operator?: OperatorResults;
  pglite?: PgliteResults;
  bundle?: BundleResults;
  /** Sections that failed to run, and correctness problems found (our overspend, unreconciled ledger). */
  problems: { section: Section; message: string }[];
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/**
 * The results as Markdown (what the README's Performance section shows).
 *
 * @example
 * console.log(renderMarkdown(results));
 */
export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  const m = r.meta;
  out.push(`## Tokengate benchmark${m.quick ? ' (--quick: sizes and windows too small to quote)' : ''}`);
  out.push('');
  out.push(
    `${m.startedAt.slice(0, 16).replace('T', ' ')} UTC · \`${m.command}\` · Node ${m.node} · ${m.cpus} × ${m.cpuModel}` +
      (m.postgresVersion ? ` · PostgreSQL ${m.postgresVersion} on the same machine` : '') +
      ` · ${m.durationMs} ms per measurement after ${m.warmupMs} ms warm-up`,
  );

  const spreadOrgs = r.deduct?.spreadOrgs ?? r.reserve?.spreadOrgs ?? 0;
  const columns = (rows: LoadRow[]) => {
    const cols: { workload: string; connections: number }[] = [];
    for (const row of rows) if (!cols.some((c) => c.workload === row.workload && c.connections === row.connections)) cols.push(row);
    return cols.map((c) => ({ workload: c.workload, connections: c.connections }));
  };
  const header = (cols: { workload: string; connections: number }[]) =>
    cols.map((c) => `${c.workload} · ${c.connections} conn`).join(' | ');
  const find = (rows: LoadRow[], variant: string, c: { workload: string; connections: number }) =>
    rows.find((row) => row.variant === variant && row.workload === c.workload && row.connections === c.connections);

  if (r.deduct) {
    const rows = r.deduct.rows;
    const cols = columns(rows);
    out.push('', `### Deduct throughput: ops/s (× the floor)`, '');
    out.push(`spread = ${int(spreadOrgs)} organizations picked at random; hot = one organization. One token per deduct, a fresh idempotency key each. The floor (a) is the least an atomic, idempotent, audited charge does: one SQL function call that inserts the ledger entry (unique organization + key, \`ON CONFLICT DO NOTHING\`) and, if it is new, runs one guarded \`UPDATE … WHERE available >= cost\`. Rows a–d run on one \`pg\` pool.`, '');
    out.push(`| variant | ${header(cols)} |`, `|---|${cols.map(() => '---:').join('|')}|`);
    for (const variant of Object.values(DEDUCT_VARIANTS)) {
      const cells = cols.map((c) => {
        const row = find(rows, variant, c);
        if (!row) return '–';
        const errors = row.errors > 0 ? ` ⚠ ${row.errors} errors` : '';
        return `${int(row.opsPerSec)} (×${(row.ratioToFloor ?? 0).toFixed(2)})${errors}`;
      });
      out.push(`| ${variant} | ${cells.join(' | ')} |`);
    }
    const pgb = r.deduct.pgbench;
    if (pgb.version === null) {
      out.push('', `### The floor vs tokengate.deduct() with pgbench: not run (pgbench is not installed)`);
    } else {
      out.push('', `### The floor vs \`tokengate.deduct()\` with pgbench, same run: TPS`, '');
      out.push(`${pgb.version}, \`-M prepared\`, as \`service_role\`, ${pgb.window} in the order floor, deduct, deduct with the change feed off, deduct with every organization watched, the same again backwards. spread = the first ${int(pgb.spreadOrgs)} organizations at random; hot = one. No Node.js on the client side: this is the database's own cost. "deduct" = the feed on, nobody watching (no NOTIFY); "live off" = \`tokengate.live = off\`; "all watched" = every organization leased (\`tokengate.watch\`): each charge notifies, and Postgres serialises the commits of notifying transactions.`, '');
      out.push(`| workload · clients | floor TPS | \`tokengate.deduct()\` TPS | deduct ÷ floor | live off TPS | live off ÷ floor | all watched TPS | all watched ÷ floor |`, `|---|---:|---:|---:|---:|---:|---:|---:|`);
      for (const row of pgb.rows) {
        out.push(`| ${row.workload} · ${row.clients} | ${int(row.floorTps)} | ${int(row.deductTps)} | ×${row.ratio.toFixed(2)} | ${int(row.quietTps)} | ×${row.quietRatio.toFixed(2)} | ${int(row.watchedTps)} | ×${row.watchedRatio.toFixed(2)}${row.failed > 0 ? ` ⚠ ${row.failed} failed` : ''} |`);
      }
    }
    const inProcess = DEDUCT_VARIANTS.handler;
    out.push('', `### HTTP over loopback ÷ the same handler in-process (same run; goal ≥ 0.80)`, '');
    out.push(`Same handler, store, pool and lanes. The client is undici's \`Pool\` (keep-alive, one connection per lane) in a child process, on the same cores; "wrk client" rows: ${r.deduct.wrk === null ? 'not run (wrk is not installed: \`apt-get install wrk\`)' : `${r.deduct.wrk.split(' [')[0]}, a C client (one thread, one connection per lane), against the srvx server`}. req/s: loopback ÷ in-process throughput. CPU: in-process CPU per deduct ÷ loopback CPU per deduct, of the benchmark process (the server; not Postgres, not the client) — the server's own cost, which a loaded machine distorts less.`, '');
    out.push(`| Node adapter | ${header(cols)} |`, `|---|${cols.map(() => '---:').join('|')}|`);
    for (const key of LOOPBACK_VARIANTS) {
      const variant = DEDUCT_VARIANTS[key];
      const ratio = (pick: (row: LoadRow) => number | undefined, inverse: boolean) =>
        cols.map((c) => {
          const row = find(rows, variant, c);
          const base = find(rows, inProcess, c);
          const [a, b] = [row && pick(row), base && pick(base)];
          if (!a || !b) return '–';
          return `×${(inverse ? b / a : a / b).toFixed(2)}`;
        });
      const name = variant.replace(/^d\. HTTP handler over loopback \((.*)\)$/, '$1');
      const throughput = ratio((row) => row.opsPerSec, false);
      if (throughput.some((cell) => cell !== '–')) out.push(`| ${name}, req/s | ${throughput.join(' | ')} |`);
      const cpu = ratio((row) => row.cpuMicrosPerOp, true);
      if (cpu.some((cell) => cell !== '–')) out.push(`| ${name}, CPU | ${cpu.join(' | ')} |`);
    }
    out.push('', `### Deduct latency: p50 / p99 ms`, '');
    out.push(`| variant | ${header(cols)} |`, `|---|${cols.map(() => '---:').join('|')}|`);
    for (const variant of Object.values(DEDUCT_VARIANTS)) {
      const cells = cols.map((c) => {
        const row = find(rows, variant, c);
        return row ? `${ms(row.p50Ms)} / ${ms(row.p99Ms)}` : '–';
      });
      out.push(`| ${variant} | ${cells.join(' | ')} |`);
    }
    const o = r.deduct.overspend;
    out.push('', `### Overspend: ${int(o.attempts)} one-token deducts on ${o.connections} connections against a bucket holding ${int(o.allowance)}`, '');
    out.push(`| implementation | succeeded | tokens charged beyond the balance |`, `|---|---:|---:|`);
    out.push(`| tokengate (one SQL call, row lock) | ${int(o.ours.succeeded)} | **${int(o.ours.overspend)}**${o.ours.verifyLedger.length === 0 ? ' (ledger reconciles)' : ' ⚠ ledger does not reconcile'} |`);
    out.push(
      `| naive check → update → log | ${int(o.naive.succeeded)} | **${int(o.naive.overspend)}** (${o.allowance > 0 ? Math.round((o.naive.overspend / o.allowance) * 100) : 0}% over; ${int(o.naive.finalUsed)} used of ${int(o.allowance)}) |`,
    );
  }

  if (r.reserve) {
    const rows = r.reserve.rows;
    const cols = columns(rows);
    out.push('', `### Reserve → commit through the gate: cycles/s (× the deduct floor), p50 / p99 ms per cycle (2 SQL calls)`, '');
    out.push(`| | ${header(cols)} |`, `|---|${cols.map(() => '---:').join('|')}|`);
    const variant = rows[0]?.variant ?? '';
    out.push(`| cycles/s | ${cols.map((c) => { const row = find(rows, variant, c); return row ? int(row.opsPerSec) + (row.ratioToFloor ? ` (×${row.ratioToFloor.toFixed(2)})` : '') + (row.errors > 0 ? ` ⚠ ${row.errors} errors` : '') : '–'; }).join(' | ')} |`);
    out.push(`| p50 / p99 ms | ${cols.map((c) => { const row = find(rows, variant, c); return row ? `${ms(row.p50Ms)} / ${ms(row.p99Ms)}` : '–'; }).join(' | ')} |`);
  }

  if (r.batch) {
    const b = r.batch;
    out.push('', `### Hot organization: ${b.lanes} users charging one bucket vs ${b.lanes} lanes over ${int(b.spreadOrgs)} organizations, through the gate (same pool, same run)`, '');
    out.push(`**hot · batched ÷ spread = ×${b.hotBatchedToSpread.toFixed(2)}** (goal ≥ ×0.5)${b.verifyLedger.length === 0 ? '; the ledger reconciles' : ' ⚠ the ledger does not reconcile'}.`, '');
    out.push(`| variant | ops/s | × spread | p50 / p99 ms | charges per call |`, `|---|---:|---:|---:|---:|`);
    for (const row of b.rows) {
      out.push(`| ${row.variant} | ${int(row.opsPerSec)}${row.errors > 0 ? ` ⚠ ${row.errors} errors` : ''} | ×${row.ratioToSpread.toFixed(2)} | ${ms(row.p50Ms)} / ${ms(row.p99Ms)} | ${row.chargesPerCall ?? '1'} |`);
    }
  }

  if (r.adapters) {
    const a = r.adapters;
    const lanes = [...new Set(a.rows.map((row) => row.lanes))];
    out.push('', `### Node adapters without the database: req/s (× in-process), same run`, '');
    out.push(`\`${a.request}\` → ${a.status}: JWT verification, routing, JSON body, zod and a problem+json answer; no ledger call. Client: undici \`Pool\` (keep-alive, one connection per lane) in a child process, on the same cores (the last row: \`node:http\` on the server's thread).`, '');
    out.push(`| handler called | ${lanes.map((n) => `${n} lane${n === 1 ? '' : 's'}`).join(' | ')} | CPU µs per request (${lanes.map(String).join(' / ')} lanes) |`, `|---|${lanes.map(() => '---:').join('|')}|---:|`);
    for (const variant of [...new Set(a.rows.map((row) => row.variant))]) {
      const cells = lanes.map((n) => {
        const row = a.rows.find((x) => x.variant === variant && x.lanes === n);
        return row ? `${int(row.opsPerSec)} (×${row.ratioToInProcess.toFixed(2)})${row.errors > 0 ? ` ⚠ ${row.errors} errors` : ''}` : '–';
      });
      const cpu = lanes.map((n) => {
        const row = a.rows.find((x) => x.variant === variant && x.lanes === n);
        return row?.cpuMicrosPerOp ? `${int(row.cpuMicrosPerOp)} (×${row.cpuRatioToInProcess.toFixed(2)})` : '–';
      });
      out.push(`| ${variant} | ${cells.join(' | ')} | ${cpu.join(' / ')} |`);
    }
    out.push('', `req/s × = loopback ÷ in-process throughput; CPU × = in-process CPU per request ÷ this row's (the benchmark process only: the server, not the client process).`);
  }

  if (r.stream) {
    const s = r.stream;
    const lanes = [...new Set(s.rows.map((row) => row.lanes))];
    out.push('', `### A streamed AI route, guarded vs unguarded: req/s (× unguarded), same run`, '');
    out.push(`The route streams ${s.answer}; guarded, it holds before and charges when the body ends (2 ledger calls on the server). In-process, no JWT. Charged per guarded request: ${s.chargedPerRequest}.`, '');
    out.push(`| route | ${lanes.map((n) => `${n} lane${n === 1 ? '' : 's'}`).join(' | ')} | added per request (1 lane) |`, `|---|${lanes.map(() => '---:').join('|')}|---:|`);
    for (const variant of [...new Set(s.rows.map((row) => row.variant))]) {
      const cells = lanes.map((n) => {
        const row = s.rows.find((x) => x.variant === variant && x.lanes === n);
        return row ? `${int(row.opsPerSec)} (×${row.ratioToUnguarded.toFixed(3)})${row.errors > 0 ? ` ⚠ ${row.errors} errors` : ''}` : '–';
      });
      const one = s.rows.find((x) => x.variant === variant && x.lanes === lanes[0]);
      out.push(`| ${variant} | ${cells.join(' | ')} | ${one && one.addedMicros > 0 ? `${int(one.addedMicros)} µs` : '–'} |`);
    }
  }

  if (r.live) {
    const l = r.live;
    out.push('', `### Live balances: charge → event at ${int(l.subscribers)} subscribers of one organization, over loopback`, '');
    out.push(`${int(l.subscribers)} streams of \`GET /orgs/:orgId/events\` held open by one process (\`toNodeHandler\`, real JWTs; the clients share its cores) on **${l.listeningConnections} listening database connection${l.listeningConnections === 1 ? '' : 's'}**; opened in ${l.openSeconds} s, ~${formatBytes(l.heapBytesPerSubscriber)} of heap each. ${int(l.changes)} charges, one after another, through another connection; a sample is the time from just before a charge's call to its event at one subscriber (the charge, its commit, NOTIFY, the fan-out and the socket).`, '');
    out.push(`| events received | p50 ms | p99 ms | max ms |`, `|---:|---:|---:|---:|`);
    out.push(`| ${int(l.received)} of ${int(l.expected)} | ${ms(l.p50Ms)} | ${ms(l.p99Ms)} | ${ms(l.maxMs)} |`);
    const f = l.feedCost;
    out.push('', `Deduct through the gate, ${f.lanes} lanes over 100 organizations, every one watched (each charge notifies; nobody listening): feed on ${int(f.on.opsPerSec)} ops/s (p99 ${ms(f.on.p99Ms)} ms) vs \`tokengate.live = off\` ${int(f.off.opsPerSec)} ops/s (p99 ${ms(f.off.p99Ms)} ms): **×${f.onToOff.toFixed(2)}**. Postgres serialises the commits of transactions that notified.`);
  }

  if (r.stats) {
    out.push('', `### Stats latency for one organization as the ledger grows (30-day range, one connection)`, '');
    out.push(`Grown by bulk SQL: ${r.stats.grown}. \`stats()\` reads the rollup, never the ledger.`, '');
    out.push(`| ledger rows | the org's ledger rows | the org's rollup rows | all rollup rows | p50 ms | p99 ms | p50 × smallest |`, `|---:|---:|---:|---:|---:|---:|---:|`);
    for (const row of r.stats.rows) {
      out.push(`| ${int(row.ledgerRows)} | ${int(row.orgLedgerRows)} | ${int(row.orgUsageDailyRows)} | ${int(row.usageDailyRows)} | ${ms(row.p50Ms)} | ${ms(row.p99Ms)} | ×${row.p50Ratio.toFixed(2)} |`);
    }
  }

  if (r.operator) {
    const o = r.operator;
    out.push('', `### Operator's view at ${int(o.ledgerRows)} ledger rows (one connection, service_role)`, '');
    out.push(`${int(o.organizations)} organizations, ${int(o.usageDailyRows)} rollup rows, ${int(o.buckets)} buckets, ${int(o.grants)} grants. The functions read these, never the ledger.`, '');
    out.push(`| call | rows answered | p50 ms | p99 ms |`, `|---|---:|---:|---:|`);
    for (const row of o.rows) out.push(`| \`${row.query}\` | ${int(row.answered)} | ${ms(row.p50Ms)} | ${ms(row.p99Ms)} |`);
  }

  if (r.pglite) {
    const p = r.pglite;
    out.push('', `### PGlite (embedded, one connection)`, '');
    out.push(`| measure | result |`, `|---|---:|`);
    out.push(`| cold start: \`PGlite.create()\` + compat + migrations (median of ${p.coldStarts}) | ${int(p.coldStartFreshMs)} ms |`);
    out.push(`| cold start: \`PGlite.create({ loadDataDir })\` from the migrated dump (${formatBytes(p.dumpBytes)}) | ${int(p.coldStartFromDumpMs)} ms |`);
    out.push(`| sequential deduct through the gate | ${int(p.deduct.opsPerSec)} ops/s, p50 ${ms(p.deduct.p50Ms)} ms, p99 ${ms(p.deduct.p99Ms)} ms |`);
  }

  if (r.bundle) {
    out.push('', `### Client bundle (Vite build, minified; ${r.bundle.external.join(', ')} external)`, '');
    out.push(`| import | from | minified | gzip | + gzip on demand |`, `|---|---|---:|---:|---:|`);
    for (const row of r.bundle.rows) {
      const lazy = row.lazyGzipBytes ? formatBytes(row.lazyGzipBytes) : '–';
      out.push(
        row.status === 'built'
          ? `| ${row.name} | \`${row.from}\` | ${formatBytes(row.minBytes)} | ${formatBytes(row.gzipBytes)} | ${lazy} |`
          : `| ${row.name} | \`${row.from}\` | not built yet | not built yet | – |`,
      );
    }
  }

  if (r.startup) {
    const st = r.startup;
    out.push('', `### \`npm start\`: seconds to ready (goal: warm ≤ 2 s, cold ≤ 5 s on a quiet 2-core machine)`, '');
    out.push(`page = \`GET /\` answers 200; API = the Pro organization's balances answer 200; CPU = the process tree's CPU time until both. Load average ${st.loadBefore} before, ${st.loadAfter} after.`, '');
    out.push(`| start | runs | page s | API s | CPU s |`, `|---|---:|---:|---:|---:|`);
    for (const row of st.rows) out.push(`| ${row.kind} | ${row.runs} | ${row.pageSeconds.toFixed(2)} | ${row.apiSeconds.toFixed(2)} | ${row.cpuSeconds.toFixed(2)} |`);
  }

  if (r.problems.length > 0) {
    out.push('', `### Problems`, '');
    for (const p of r.problems) out.push(`- **${p.section}**: ${p.message}`);
  }
  return out.join('\n') + '\n';
}

/**
 * Write `bench-<timestamp>.json` and `.md` into `dir`, and the same as `latest.json` / `latest.md`.
 *
 * @example
 * const { json, markdown } = await writeResults(results, 'bench/results');
 */
export async function writeResults(results: BenchResults, dir: string): Promise<{ json: string; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const stamp = results.meta.startedAt.replace(/[:.]/g, '-');
  const json = JSON.stringify(results, null, 2) + '\n';
  const markdown = renderMarkdown(results);
  const paths = { json: path.join(dir, `bench-${stamp}.json`), markdown: path.join(dir, `bench-${stamp}.md`) };
  await writeFile(paths.json, json);
  await writeFile(paths.markdown, markdown);
  await writeFile(path.join(dir, 'latest.json'), json);
  await writeFile(path.join(dir, 'latest.md'), markdown);
  return paths;
}
