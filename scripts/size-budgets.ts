/**
 * Size budgets for the client entry points of the built package, and how they are measured:
 * each entry file plus every local chunk it imports (transitively, statically) — what a browser
 * bundle of that entry point pulls in from `tokengate` — minified with rolldown's minifier (the
 * one Vite 8 uses) and gzipped at level 9 with `node:zlib`. React, react-dom and TanStack Query
 * are external in `dist/` already, so they are not counted. Deterministic for a given `dist/`.
 *
 * Budgets are ~15% above the sizes measured when they were set; raise one only on purpose.
 * Usage: `tsx scripts/size-budgets.ts` prints the sizes of the current `dist/` (`npm run build` first).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { minifySync } from 'rolldown/utils';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Client entry point (file under `dist/`) → budget in bytes, minified + gzipped. */
export const SIZE_BUDGETS: Record<string, number> = {
  // Measured 2026-11-26: 2.44 / 4.48 / 10.94 / 2.88 kB.
  'index.js': 2_800,
  'react.js': 5_150,
  'components.js': 12_600,
  'styles.css': 3_300,
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
}

const LOCAL_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+\.js)["']/g;

/** The entry file and every local module it imports, transitively, relative to `dist`. */
async function closure(dist: string, entry: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const visit = async (file: string): Promise<void> => {
    if (files.has(file)) return;
    const code = await readFile(path.join(dist, file), 'utf8');
    files.set(file, code);
    if (!file.endsWith('.js')) return;
    for (const match of code.matchAll(LOCAL_IMPORT)) {
      await visit(path.posix.join(path.posix.dirname(file), match[1]!));
    }
  };
  await visit(entry);
  return files;
}

/** Measures every budgeted entry point in `dist`. */
export async function measureSizes(dist = path.join(ROOT, 'dist')): Promise<SizeReport[]> {
  const reports: SizeReport[] = [];
  for (const [entry, budget] of Object.entries(SIZE_BUDGETS)) {
    const files = await closure(dist, entry);
    let raw = 0;
    const minified: string[] = [];
    for (const [file, code] of files) {
      raw += Buffer.byteLength(code);
      if (!file.endsWith('.js')) {
        minified.push(code);
        continue;
      }
      const result = minifySync(file, code, { compress: true, mangle: true });
      if (result.errors.length > 0) throw new Error(`${file}: ${result.errors.map((e) => e.message).join('; ')}`);
      minified.push(result.code);
    }
    const text = minified.join('\n');
    reports.push({
      entry,
      files: [...files.keys()],
      raw,
      minified: Buffer.byteLength(text),
      gzip: gzipSync(text, { level: 9 }).byteLength,
      budget,
    });
  }
  return reports;
}

/** One line per entry point: `components.js  12.3 kB gzip (budget 14.1 kB) …`. */
export function formatSizes(reports: SizeReport[]): string {
  const kb = (n: number) => `${(n / 1000).toFixed(2)} kB`;
  return reports
    .map((r) => `${r.entry.padEnd(14)} ${kb(r.gzip).padStart(9)} min+gzip (budget ${kb(r.budget)}), ${kb(r.minified)} min, ${kb(r.raw)} raw; ${r.files.join(' + ')}`)
    .join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  measureSizes().then(
    (reports) => console.log(formatSizes(reports)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
