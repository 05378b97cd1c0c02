/**
 * Command-line options of `npm run bench` and the sizes each mode runs with.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The sections `--only` can pick. */
export const SECTIONS = ['deduct', 'reserve', 'batch', 'adapters', 'stream', 'live', 'stats', 'operator', 'pglite', 'bundle', 'startup'] as const;
/** One benchmark section. */
export type Section = (typeof SECTIONS)[number];

/** The server used when neither `--database-url` nor `DATABASE_URL` is given. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The repository root (the parent of `bench/`). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where results are written unless `--out` says otherwise (git-ignored). */
export const DEFAULT_OUT_DIR = path.join(REPO_ROOT, 'bench', 'results');

/** Parsed options. */
export interface BenchOptions {
  /** Seconds instead of minutes: smaller sizes, shorter windows (the smoke test). */
  quick: boolean;
  /** Grow the stats ledger to 10M rows too. */
  huge: boolean;
  /** Sections to run (all by default). */
  only: Section[];
  /** The Postgres server; each section creates its own database there and drops it. */
  databaseUrl: string;
  /** Directory for the JSON and Markdown results. */
  outDir: string;
}

/** Sizes and durations of a run. */
export interface Profile {
  /** Concurrent connections (lanes) for deduct and reserve. */
  connections: number[];
  /** Measured window per measurement, ms. */
  durationMs: number;
  /** Uncounted warm-up before each measurement, ms. */
  warmupMs: number;
  /** Organizations of the spread workload. */
  spreadOrgs: number;
  /** Connections racing in the overspend check. */
  overspendConnections: number;
  /** Tokens the overspend bucket holds (attempts: twice as many). */
  overspendAllowance: number;
  /** Ledger sizes the stats latency is measured at. */
  statsLevels: number[];
  /** Sequential stats calls per level. */
  statsCalls: number;
  /** PGlite cold starts per kind (median reported). */
  pgliteColdStarts: number;
  /** PGlite sequential deducts: measured window, ms. */
  pgliteDurationMs: number;
  /** pgbench: transactions per client per half (`-t`), or null for `-T` of the measured window. */
  pgbenchTransactions: number | null;
  /** `npm start` cold + warm pairs (median reported). */
  startupRuns: number;
  /** Also one first-ever start (without Vite's cache and the cached PGlite dump, as a fresh clone). */
  startupFirstEver: boolean;
  /** Live event streams held open on one organization. */
  liveSubscribers: number;
  /** Charges fanned out to them, one after another. */
  liveChanges: number;
  /** Operator section: ledger rows of the seeded history, organizations, sequential calls per function. */
  operatorLedgerRows: number;
  operatorOrgs: number;
  operatorCalls: number;
}

/**
 * The profile for `--quick` (a few seconds per section, used by the smoke test) or a full run
 * (a few minutes on 2 cores).
 *
 * @example
 * const profile = profileFor({ quick: true, huge: false });
 */
export function profileFor(options: Pick<BenchOptions, 'quick' | 'huge'>): Profile {
  if (options.quick) {
    return {
      connections: [1, 8],
      durationMs: 250,
      warmupMs: 100,
      spreadOrgs: 500,
      overspendConnections: 8,
      overspendAllowance: 100,
      statsLevels: [5_000, 20_000],
      statsCalls: 20,
      pgliteColdStarts: 1,
      pgliteDurationMs: 300,
      pgbenchTransactions: 25,
      startupRuns: 1,
      startupFirstEver: false,
      liveSubscribers: 50,
      liveChanges: 10,
      operatorLedgerRows: 20_000,
      operatorOrgs: 50,
      operatorCalls: 10,
    };
  }
  return {
    connections: [1, 8, 32],
    durationMs: 2_500,
    warmupMs: 400,
    spreadOrgs: 10_000,
    overspendConnections: 32,
    overspendAllowance: 1_000,
    statsLevels: options.huge ? [10_000, 100_000, 1_000_000, 10_000_000] : [10_000, 100_000, 1_000_000],
    statsCalls: 200,
    pgliteColdStarts: 3,
    pgliteDurationMs: 3_000,
    pgbenchTransactions: null,
    startupRuns: 3,
    startupFirstEver: true,
    liveSubscribers: 500,
    liveChanges: 100,
    operatorLedgerRows: 1_000_000,
    operatorOrgs: 1_000,
    operatorCalls: 50,
  };
}

/** Usage text. */
export const USAGE = `Usage: npm run bench -- [options]

  --quick                 seconds instead of minutes (small sizes, short windows)
  --only <sections>       ${SECTIONS.join('|')} (repeatable or comma-separated; default: all)
  --database-url <url>    Postgres server (default: $DATABASE_URL or ${DEFAULT_DATABASE_URL});
                          each section creates a uniquely named database there and drops it
  --huge                  grow the stats ledger to 10M rows too (slow)
  --out <dir>             where to write results (default: bench/results)
  --help                  this text`;

/**
 * Parse `process.argv.slice(2)`. Throws on unknown options.
 *
 * @example
 * parseArgs(['--quick', '--only', 'deduct,stats']);
 */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions & { help: boolean } {
  const only: Section[] = [];
  let quick = false;
  let huge = false;
  let help = false;
  let databaseUrl = env.DATABASE_URL || DEFAULT_DATABASE_URL;
  let outDir = DEFAULT_OUT_DIR;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--huge':
        huge = true;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--only':
        for (const name of value().split(',').map((s) => s.trim()).filter(Boolean)) {
          if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: unknown section "${name}" (expected ${SECTIONS.join(', ')})`);
          if (!only.includes(name as Section)) only.push(name as Section);
        }
        break;
      case '--database-url':
        databaseUrl = value();
        break;
      case '--out':
        outDir = path.resolve(value());
        break;
      default:
        throw new Error(`unknown option ${arg}\n\n${USAGE}`);
    }
  }
  return { quick, huge, help, only: only.length > 0 ? only : [...SECTIONS], databaseUrl, outDir };
}
