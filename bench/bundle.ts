/**
 * Section 5: what the client kit adds to an app's bundle. Each entry is built by Vite's own
 * build API (`build.lib`, ES module, production mode, tree-shaken, `write: false`) with React,
 * react-dom and @tanstack/react-query external (the app has them anyway). Vite leaves whitespace
 * in ES library output on purpose (to keep pure annotations for the app's bundler), so the chunk
 * is then minified fully with Vite's `minify` (Rolldown's Oxc minifier, as an app build would),
 * and gzipped with node:zlib at level 9. What an entry loads on demand (`import()`: the provider's
 * live feed) is measured apart (`lazy…`), since an app does not load it up front.
 *
 * Two rows inline TanStack Query (React and react-dom still external): the member-facing kit an app
 * ships (budget: 18 KiB gzip, checked by test/package/size.test.ts on the built package), and
 * TanStack Query alone with what the kit uses of it, for comparison.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO_ROOT } from './options.ts';
import type { Log } from './report.ts';

/** One row of the bundle table. */
export interface BundleRow {
  /** What an app imports. */
  name: string;
  /** The module it comes from, relative to the repository. */
  from: string;
  status: 'built' | 'not built yet';
  /** Minified bytes (0 when not built). */
  minBytes: number;
  /** Minified + gzipped bytes (0 when not built). */
  gzipBytes: number;
  /** Minified + gzipped bytes of the chunks it loads on demand (0 when none). */
  lazyGzipBytes: number;
  /** Why it could not be built. */
  reason?: string;
}

/** What section 5 returns. */
export interface BundleResults {
  external: string[];
  rows: BundleRow[];
}

const EXTERNAL = ['react', 'react-dom', '@tanstack/react-query'];
const isExternal = (id: string) => EXTERNAL.some((name) => id === name || id.startsWith(`${name}/`));
const isReact = (id: string) => /^react(-dom)?(\/|$)/.test(id);

/** What an app using the member-facing kit imports (the size test builds the same from `dist/`). */
const MEMBER_KIT = `export { createTokenClient } from './src/core/index.ts';
export { TokenGateProvider, useTokenGate } from './src/react/index.ts';
export { TokenDashboard, UpgradePrompt } from './src/components/index.ts';
export { QueryClient, QueryClientProvider } from '@tanstack/react-query';
`;

/**
 * The entries measured: a whole module, one named export of it (tree-shaken), or `code` (an entry
 * module's text, resolved from the repository); `inline`: TanStack Query is bundled, not external.
 */
const ENTRIES: { name: string; from: string; exportName?: string; code?: string; inline?: boolean }[] = [
  { name: 'client core (tokengate/core, all exports)', from: 'src/core/index.ts' },
  { name: 'React bindings (tokengate/react, all exports)', from: 'src/react/index.ts' },
  { name: 'TokenDashboard', from: 'src/components/index.ts', exportName: 'TokenDashboard' },
  { name: 'UpgradePrompt', from: 'src/components/index.ts', exportName: 'UpgradePrompt' },
  { name: 'useTokenGate', from: 'src/react/index.ts', exportName: 'useTokenGate' },
  // Streamed answers (issue 11): separate entry points, only in apps that import them.
  { name: 'tokengate/stream (all exports)', from: 'src/core/stream.ts' },
  { name: 'useGuardedFetch (tokengate/react/stream, for useChat)', from: 'src/react/stream.ts', exportName: 'useGuardedFetch' },
  // Live balances (issue 12): the provider loads its feed on demand; transports and the status hook are entry points of their own.
  { name: 'TokenGateProvider (live feed loaded on demand)', from: 'src/react/index.ts', exportName: 'TokenGateProvider' },
  { name: 'tokengate/live (all exports)', from: 'src/live/index.ts' },
  { name: 'createSupabaseTransport (tokengate/live/supabase)', from: 'src/live/supabase.ts', exportName: 'createSupabaseTransport' },
  { name: 'useLiveStatus (tokengate/react/live)', from: 'src/react/live.ts', exportName: 'useLiveStatus' },
  // Issue 16: what the member-facing kit weighs in an app, TanStack Query included.
  { name: 'member kit with TanStack Query inlined', from: 'src/components/index.ts + src/react + src/core', code: MEMBER_KIT, inline: true },
  {
    name: '@tanstack/react-query alone (useQuery+useMutation+QueryClientProvider+QueryClient)',
    from: 'node_modules/@tanstack/react-query',
    code: `export { QueryClient, QueryClientProvider, useMutation, useQuery } from '@tanstack/react-query';\n`,
    inline: true,
  },
];

/**
 * Build every entry and measure it. A missing or unbuildable entry is reported as "not built yet".
 *
 * @example
 * const bundle = await runBundleSection(log);
 */
export async function runBundleSection(log: Log): Promise<BundleResults> {
  const { build, minify } = await import('vite');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'tokengate-bench-bundle-'));
  const rows: BundleRow[] = [];
  try {
    for (const [i, entry] of ENTRIES.entries()) {
      const source = path.join(REPO_ROOT, entry.from.split(' ')[0]!);
      const base = { name: entry.name, from: entry.from + (entry.exportName ? ` → { ${entry.exportName} }` : '') };
      if (!existsSync(source)) {
        rows.push({ ...base, status: 'not built yet', minBytes: 0, gzipBytes: 0, lazyGzipBytes: 0, reason: `${entry.from} does not exist` });
        log(`  bundle ${entry.name}: not built yet (${entry.from} does not exist)`);
        continue;
      }
      let input = source;
      if (entry.code) {
        // In the repository, so that its imports resolve from there.
        input = path.join(REPO_ROOT, `.bench-entry-${i}.ts`);
        await writeFile(input, entry.code);
      } else if (entry.exportName) {
        input = path.join(tmp, `entry-${i}.ts`);
        await writeFile(input, `export { ${entry.exportName} } from ${JSON.stringify(source)};\n`);
      }
      try {
        const output = await build({
          configFile: false,
          envFile: false,
          logLevel: 'silent',
          root: REPO_ROOT,
          mode: 'production',
          publicDir: false,
          define: { 'process.env.NODE_ENV': JSON.stringify('production') },
          build: {
            write: false,
            minify: true,
            sourcemap: false,
            reportCompressedSize: false,
            copyPublicDir: false,
            lib: { entry: input, formats: ['es'], fileName: 'entry' },
            rolldownOptions: { external: entry.inline ? isReact : isExternal },
          },
        });
        const outputs = Array.isArray(output) ? output : [output];
        // The entry chunk and what it imports statically load up front; the rest on demand.
        const chunks = new Map<string, { code: string; imports: string[]; isEntry: boolean }>();
        for (const out of outputs) {
          if (!('output' in out)) throw new Error('unexpected watcher output');
          for (const file of out.output) {
            if (file.type === 'chunk') chunks.set(file.fileName, { code: file.code, imports: file.imports, isEntry: file.isEntry });
            else chunks.set(file.fileName, { code: typeof file.source === 'string' ? file.source : Buffer.from(file.source).toString('utf8'), imports: [], isEntry: true });
          }
        }
        const upfront = new Set<string>();
        const visit = (name: string): void => {
          if (upfront.has(name) || !chunks.has(name)) return;
          upfront.add(name);
          for (const imported of chunks.get(name)!.imports) visit(imported);
        };
        for (const [name, chunk] of chunks) if (chunk.isEntry) visit(name);
        const measure = async (names: string[]) => {
          if (names.length === 0) return { min: 0, gzip: 0 };
          // Each chunk on its own (chunks are modules: their exports may share names), then gzipped as one text.
          const codes: string[] = [];
          for (const name of names) {
            const minified = await minify(name, chunks.get(name)!.code, { module: true, compress: true, mangle: true });
            if (minified.errors.length > 0) throw new Error(`minify: ${minified.errors[0]!.message}`);
            codes.push(minified.code);
          }
          const bytes = Buffer.from(codes.join('\n'), 'utf8');
          return { min: bytes.byteLength, gzip: gzipSync(bytes, { level: 9 }).byteLength };
        };
        const main = await measure([...upfront]);
        const lazy = await measure([...chunks.keys()].filter((n) => !upfront.has(n)));
        const row: BundleRow = { ...base, status: 'built', minBytes: main.min, gzipBytes: main.gzip, lazyGzipBytes: lazy.gzip };
        rows.push(row);
        const onDemand = row.lazyGzipBytes > 0 ? ` (+ ${formatBytes(row.lazyGzipBytes)} gzip on demand)` : '';
        log(`  bundle ${entry.name}: ${formatBytes(row.minBytes)} min, ${formatBytes(row.gzipBytes)} gzip${onDemand}`);
      } catch (error) {
        const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300);
        rows.push({ ...base, status: 'not built yet', minBytes: 0, gzipBytes: 0, lazyGzipBytes: 0, reason });
        log(`  bundle ${entry.name}: not built yet (${reason})`);
      } finally {
        if (entry.code) await rm(input, { force: true });
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { external: EXTERNAL, rows };
}

/** `12.3 kB` (1 kB = 1000 bytes, like bundlers report), `41.3 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  return bytes < 1_000_000 ? `${(bytes / 1000).toFixed(1)} kB` : `${(bytes / 1_000_000).toFixed(1)} MB`;
}
