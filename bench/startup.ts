/**
 * Section "startup": how long `npm start` takes until the playground answers, measured with the
 * same probe as scripts/measure-start.ts (`GET /` 200 for the page; the Pro organization's
 * balances 200 for the API). cold = a fresh data folder (as after `rm -rf .tokengate`); warm = the
 * same folder again; first-ever (full runs only) = cold without Vite's dependency cache and the
 * cached migrated PGlite dump, as the first `npm start` of a fresh clone after `npm ci`. Each
 * start also reports the CPU time of its process tree, which a loaded machine inflates less.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { timeStart } from '../scripts/measure-start.ts';
import { median, round } from './measure.ts';
import { REPO_ROOT, type Profile } from './options.ts';
import type { Log } from './report.ts';

/** One kind of start, medians over its runs. */
export interface StartupRow {
  kind: 'first-ever' | 'cold' | 'warm';
  runs: number;
  /** Seconds until `GET /` answered 200. */
  pageSeconds: number;
  /** Seconds until a real API call (balances) answered 200. */
  apiSeconds: number;
  /** CPU seconds of the process tree until both answered. */
  cpuSeconds: number;
}

/** What the section returns. */
export interface StartupResults {
  command: string;
  /** Load average (1 min) before and after. */
  loadBefore: number;
  loadAfter: number;
  rows: StartupRow[];
}

/**
 * Run the startup section (no database server needed: the playground runs on PGlite).
 *
 * @example
 * const startup = await runStartupSection(profile, log);
 */
export async function runStartupSection(profile: Profile, log: Log): Promise<StartupResults> {
  const loadBefore = os.loadavg()[0]!;
  const samples: Record<StartupRow['kind'], { page: number; api: number; cpu: number }[]> = { 'first-ever': [], cold: [], warm: [] };
  const once = async (kind: StartupRow['kind'], dir: string) => {
    const t = await timeStart(dir, false);
    samples[kind].push({ page: t.pageMs / 1000, api: t.apiMs / 1000, cpu: t.cpuSeconds });
    log(`  startup ${kind.padEnd(10)} page ${(t.pageMs / 1000).toFixed(2)} s  API ${(t.apiMs / 1000).toFixed(2)} s  CPU ${t.cpuSeconds.toFixed(2)} s`);
  };
  const kinds: StartupRow['kind'][] = profile.startupFirstEver ? ['first-ever', 'cold', 'warm'] : ['cold', 'warm'];
  for (let i = 0; i < profile.startupRuns; i++) {
    for (const kind of kinds) {
      if (kind === 'warm') continue;
      const dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-bench-start-'));
      try {
        if (kind === 'first-ever') {
          if (i > 0) continue;
          // What a fresh clone lacks after `npm ci`; the start rebuilds both.
          await rm(path.join(REPO_ROOT, 'node_modules', '.vite', 'demo'), { recursive: true, force: true });
          await rm(path.join(REPO_ROOT, 'node_modules', '.cache', 'tokengate-demo'), { recursive: true, force: true });
        }
        await once(kind, dir);
        if (kind === 'cold') await once('warm', dir);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  const rows = kinds.map((kind): StartupRow => {
    const s = samples[kind];
    return {
      kind,
      runs: s.length,
      pageSeconds: round(median(s.map((x) => x.page)), 2),
      apiSeconds: round(median(s.map((x) => x.api)), 2),
      cpuSeconds: round(median(s.map((x) => x.cpu)), 2),
    };
  });
  return { command: 'npm start', loadBefore: round(loadBefore, 2), loadAfter: round(os.loadavg()[0]!, 2), rows };
}
