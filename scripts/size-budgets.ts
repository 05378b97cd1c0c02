/**
 * Size budgets for the client entry points of the built package, and how they are measured:
 * each entry file plus every local chunk it imports (transitively, statically) — what a browser
 * bundle of that entry point pulls in from `tokengate` up front — minified with rolldown's minifier (the
 * one Vite 8 uses) and gzipped at level 9 with `node:zlib`. React, react-dom and TanStack Query
 * are external in `dist/` already, so they are not counted. Deterministic for a given `dist/`.
 *
 * Chunks an entry loads on demand (`import()`, e.g. the provider's live feed) are not part of
 * that size: they are measured apart (`lazy…`), with a budget of their own in `LAZY_BUDGETS`.
 *
 * The member-facing kit (client, provider, useTokenGate, TokenDashboard, UpgradePrompt) is also
 * measured as an app ships it: bundled from `dist/` with TanStack Query inlined (React external),
 * within `MEMBER_KIT_BUDGET` (issue 16's goal: 18 KiB).
 *
 * Budgets are ~15% above the sizes measured when they were set; raise one only on purpose.
 * Usage: `tsx scripts/size-budgets.ts` prints the sizes of the current `dist/` (`npm run build` first).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { rolldown } from 'rolldown';
import { minifySync } from 'rolldown/utils';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Client entry point (file under `dist/`) → budget in bytes, minified + gzipped. */
export const SIZE_BUDGETS: Record<string, number> = {
  // Measured 2026-11-26: 2.44 / 4.48 / 10.94 / 2.88 kB.
  // Raised from 2,800 on 2026-12-08 (main measured 2.81 kB after Grants core) for client.grants and
  // the grants keys (~60 B); the burn order is not exported from here.
  'index.js': 2_950,
  // Raised from 5,150 on 2026-12-07 (main measured 5.03 kB) for the provider's live stub (a
  // dynamic import in an effect, ~105 B) and the chunk tokengate/react/live shares with it (~20 B).
  // Raised from 5,300 on 2026-12-08 (main measured 5.18 kB) for useGrants, grantsQueryOptions and the
  // optimistic grants (the kit's burn order), ~770 B; tree-shaken, useTokenGate alone grows ~120 B.
  // Lowered from 6,100 on 2026-12-08 (issue 16: measured 5.58 kB, from 5.93): useTokenGate on
  // useMutation (+90 B), the optimistic grants and the burn order loaded on demand (−440 B).
  // Lowered from 5,900 on 2026-12-08 (issue 16: measured 3.96 kB, from 5.73): useTokenGate's run
  // loads on demand (−0.9 kB, see LAZY_BUDGETS), and readGuardInfo's own file leaves the client
  // (createTokenClient, which tokengate/react never imports) out of this entry's chunks (−0.9 kB).
  'react.js': 4_550,
  // Raised from 12,600 on 2026-12-07 (main measured 12.56 kB) for the provider's live stub (~95 B).
  // Raised from 12,700 on 2026-12-08 (main measured 12.71 kB) for the chart's axes and table toggle,
  // the grants disclosure, the forecast with expiring grants and their strings, ~2.8 kB.
  // Lowered from 15,900 on 2026-12-08 (issue 16: measured 13.14 kB, from 15.54): the dashboard's
  // usage sections and UpgradePrompt's dialog modal load on demand (see LAZY_BUDGETS).
  // Raised from 13,900 on 2026-12-08 (measured 13.91 kB): the entry still counts TokenDashboardView,
  // which it exports, and now also what TokenDashboard shows while it loads the view on demand (the
  // dashboard's frame and skeleton, ~300 B) — an app that uses TokenDashboard loads less (MEMBER_KIT_BUDGET).
  // Lowered from 14,200 on 2026-12-08 (measured 12.02 kB): as react.js, and the default export
  // download loads with the view.
  'components.js': 13_800,
  'styles.css': 3_300,
  // Measured 2026-12-07 (live balances, issue 12): 2.23 / 0.52 / 0.52 kB.
  'live.js': 2_550,
  'live/supabase.js': 600,
  'react/live.js': 600,
  // Measured 2026-12-08 (Suspense hooks, issue 16): 5.21 kB, nearly all of it the chunks it shares
  // with tokengate/react (its own file: 0.31 kB, what an app that uses both pays): react.js's budget + 150 B.
  // Raised with react.js on 2026-12-08 (shares its chunk: 6.00 kB). Lowered with it (5.62 kB), and
  // again (4.01 kB).
  'react/suspense.js': 4_600,
};

/**
 * Client entry point → budget in bytes of the chunks it loads on demand (measured like the
 * entry, apart from it). Measured 2026-12-07: react.js's live feed (the provider's `live`) 3.43 kB.
 * 2026-12-08 (issue 16): react.js 3.98 kB (+ the optimistic grants and the burn order);
 * components.js 6.97 kB (+ the usage sections: chart and its table, members, forecast, export; and
 * UpgradePrompt's dialog modal). Raised on 2026-12-08 (issue 16's 18 KiB kit): react.js 4.79 kB
 * (+ useTokenGate's run); components.js 7.98 kB (+ TokenDashboard's view: balances, grants
 * disclosure, the dashboard's strings, the export download; + the run).
 */
export const LAZY_BUDGETS: Record<string, number> = {
  'react.js': 5_500,
  'components.js': 9_200,
};

export interface SizeReport {
  entry: string;
  /** The files counted (the entry and its local chunks), relative to `dist/`. */
  files: string[];
  /** Bytes as built. */
  raw: number;
  /** Bytes minified (CSS is minified by the build already). */
  minified: number;
  /** Bytes minified + gzipped (level 9): the budgeted number. */
  gzip: number;
  budget: number;
  /** The chunks loaded on demand (`import()`) and not already counted, relative to `dist/`. */
  lazyFiles: string[];
  /** Their bytes minified + gzipped (0 when none). */
  lazyGzip: number;
  /** Their budget (`LAZY_BUDGETS`), or null when the entry has none. */
  lazyBudget: number | null;
}

const STATIC_IMPORT = /(?:\bfrom\s*|\bimport\s*)["'](\.{1,2}\/[^"']+\.js)["']/g;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+\.js)["']\s*\)/g;

/**
 * The entry files and every local module they import statically, transitively, relative to
 * `dist`, minus those in `skip`; `dynamic` collects what they load on demand.
 */
async function closure(dist: string, entries: string[], skip = new Set<string>(), dynamic = new Set<string>()): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const visit = async (file: string): Promise<void> => {
    if (files.has(file) || skip.has(file)) return;
    const code = await readFile(path.join(dist, file), 'utf8');
    files.set(file, code);
    if (!file.endsWith('.js')) return;
    const local = (specifier: string) => path.posix.join(path.posix.dirname(file), specifier);
    for (const match of code.matchAll(DYNAMIC_IMPORT)) dynamic.add(local(match[1]!));
    for (const match of code.matchAll(STATIC_IMPORT)) await visit(local(match[1]!));
  };
  for (const entry of entries) await visit(entry);
  return files;
}

/** Minified (JS) and gzipped bytes of files, as one text. */
function compress(files: Map<string, string>): { minified: number; gzip: number } {
  const minified: string[] = [];
  for (const [file, code] of files) {
    if (!file.endsWith('.js')) {
      minified.push(code);
      continue;
    }
    const result = minifySync(file, code, { compress: true, mangle: true });
    if (result.errors.length > 0) throw new Error(`${file}: ${result.errors.map((e) => e.message).join('; ')}`);
    minified.push(result.code);
  }
  const text = minified.join('\n');
  return { minified: Buffer.byteLength(text), gzip: gzipSync(text, { level: 9 }).byteLength };
}

/** Measures every budgeted entry point in `dist`. */
export async function measureSizes(dist = path.join(ROOT, 'dist')): Promise<SizeReport[]> {
  const reports: SizeReport[] = [];
  for (const [entry, budget] of Object.entries(SIZE_BUDGETS)) {
    const dynamic = new Set<string>();
    const files = await closure(dist, [entry], undefined, dynamic);
    const lazy = await closure(dist, [...dynamic], new Set(files.keys()));
    let raw = 0;
    for (const code of files.values()) raw += Buffer.byteLength(code);
    reports.push({
      entry,
      files: [...files.keys()],
      raw,
      ...compress(files),
      budget,
      lazyFiles: [...lazy.keys()],
      lazyGzip: lazy.size > 0 ? compress(lazy).gzip : 0,
      lazyBudget: LAZY_BUDGETS[entry] ?? null,
    });
  }
  return reports;
}

/** One line per entry point: `components.js  12.3 kB gzip (budget 14.1 kB) …`. */
export function formatSizes(reports: SizeReport[]): string {
  const kb = (n: number) => `${(n / 1000).toFixed(2)} kB`;
  return reports
    .map((r) => {
      const line = `${r.entry.padEnd(16)} ${kb(r.gzip).padStart(9)} min+gzip (budget ${kb(r.budget)}), ${kb(r.minified)} min, ${kb(r.raw)} raw; ${r.files.join(' + ')}`;
      if (r.lazyFiles.length === 0) return line;
      const budget = r.lazyBudget === null ? 'no budget' : `budget ${kb(r.lazyBudget)}`;
      return `${line}\n${''.padEnd(16)} + ${kb(r.lazyGzip)} min+gzip on demand (${budget}): ${r.lazyFiles.join(' + ')}`;
    })
    .join('\n');
}

/**
 * Issue 16's budget for the member-facing kit with TanStack Query inlined: 18 KiB (18,432 B) min +
 * gzip up front. Measured 18,336 B on 2026-12-08 (from 22,160 B on 2026-12-07): TokenDashboard's view,
 * the dashboard's strings and useTokenGate's run load on demand.
 */
export const MEMBER_KIT_BUDGET = 18 * 1024;

/** What the member-facing kit costs an app up front, and what it loads on demand (`import()`). */
export interface MemberKitReport {
  /** Bytes minified + gzipped of the entry chunk and what it imports statically. */
  gzip: number;
  minified: number;
  /** Bytes minified + gzipped of the chunks loaded on demand (0 when none). */
  lazyGzip: number;
  /** The modules bundled up front, relative to the repository (the kit's and TanStack Query's). */
  modules: string[];
  /**
   * The kit's source modules in the files of `dist/` bundled up front (rolldown marks each with a
   * `// src/…` line), e.g. `src/components/token-dashboard/token-dashboard.tsx`: an app's bundler
   * splits `dist/` by file, so these are what loads up front, tree-shaken.
   */
  sources: string[];
}

/**
 * Bundle the member-facing kit from `dist` as an app's production build would — rolldown (Vite 8's
 * bundler), tree-shaken, TanStack Query inlined, React external — then minify and gzip (level 9)
 * what loads up front, and apart from it what loads on demand.
 *
 * @example
 * const kit = await measureMemberKit(); // kit.gzip <= MEMBER_KIT_BUDGET
 */
export async function measureMemberKit(dist = path.join(ROOT, 'dist')): Promise<MemberKitReport> {
  const entry = [
    `export { createTokenClient } from ${JSON.stringify(path.join(dist, 'index.js'))};`,
    `export { TokenGateProvider, useTokenGate } from ${JSON.stringify(path.join(dist, 'react.js'))};`,
    `export { TokenDashboard, UpgradePrompt } from ${JSON.stringify(path.join(dist, 'components.js'))};`,
    `export { QueryClient, QueryClientProvider } from '@tanstack/react-query';`,
  ].join('\n');
  const bundle = await rolldown({
    input: 'member-kit',
    cwd: ROOT,
    platform: 'browser',
    logLevel: 'silent',
    external: (id) => /^react(-dom)?(\/|$)/.test(id),
    transform: { define: { 'process.env.NODE_ENV': '"production"' } },
    plugins: [
      {
        name: 'member-kit-entry',
        resolveId(id, importer) {
          if (id === 'member-kit') return id;
          // The entry's own imports resolve as if it were a file of the repository.
          return importer === 'member-kit' ? this.resolve(id, path.join(ROOT, 'member-kit.js'), { skipSelf: true }) : null;
        },
        load: (id) => (id === 'member-kit' ? entry : null),
      },
    ],
  });
  const { output } = await bundle.generate({ format: 'es' });
  await bundle.close();
  const chunks = output.filter((o) => o.type === 'chunk');
  const upfront = new Set<string>();
  const visit = (name: string): void => {
    const chunk = chunks.find((c) => c.fileName === name);
    if (!chunk || upfront.has(name)) return;
    upfront.add(name);
    chunk.imports.forEach(visit);
  };
  chunks.filter((c) => c.isEntry).forEach((c) => visit(c.fileName));
  const measure = (files: typeof chunks) => compress(new Map(files.map((c) => [c.fileName, c.code])));
  const main = measure(chunks.filter((c) => upfront.has(c.fileName)));
  const lazy = chunks.filter((c) => !upfront.has(c.fileName));
  const ids = chunks.filter((c) => upfront.has(c.fileName)).flatMap((c) => c.moduleIds);
  const sources: string[] = [];
  for (const id of ids.filter((i) => i.startsWith(dist + path.sep))) {
    for (const match of (await readFile(id, 'utf8')).matchAll(/^\/\/ ((?:src|server)\/\S+)$/gm)) sources.push(match[1]!);
  }
  return { gzip: main.gzip, minified: main.minified, lazyGzip: lazy.length > 0 ? measure(lazy).gzip : 0, modules: ids.map((id) => path.relative(ROOT, id)), sources };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  measureSizes().then(
    async (reports) => {
      console.log(formatSizes(reports));
      const kit = await measureMemberKit();
      const kb = (n: number) => `${(n / 1000).toFixed(2)} kB`;
      console.log(`member kit (TanStack Query inlined) ${kb(kit.gzip)} min+gzip (budget ${kb(MEMBER_KIT_BUDGET)}, issue 16's 18 KiB), ${kb(kit.minified)} min; + ${kb(kit.lazyGzip)} min+gzip on demand`);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
