/**
 * Builds the publishable package into `dist/`:
 * - ESM bundles (Vite 8 library mode, rolldown) for every entry point in `ENTRIES`, sharing chunks
 *   so classes such as `TokenGateError` exist once; every dependency stays external.
 * - `'use client';` prepended to the React entry points (rolldown drops module directives).
 * - `#!/usr/bin/env node` on the CLI.
 * - Declarations (`dist/types/**`) from TypeScript 7's `tsc -p tsconfig.build.json`, with relative
 *   `.ts`/`.tsx` specifiers rewritten to `.js` (tsc keeps them as written in `.d.ts` output).
 * - `dist/styles.css` (`npm run build:css`).
 * - `dist/templates/`: `tokengate init --next | --vite`'s templates (`cli/templates/`), as plain files.
 *
 * Usage: `npm run build` (or `tsx scripts/build.ts`); `buildPackage()` is also used by the package tests.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'vite';

// A published build is always a production build: Vite treats any other NODE_ENV (Vitest sets
// 'test') as development and would emit jsxDEV calls that crash under production React.
process.env.NODE_ENV = 'production';

const run = promisify(execFile);

/** The package root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The build output folder. */
export const DIST = path.join(ROOT, 'dist');

/** Entry name (output path under dist/, without `.js`) → source file. */
export const ENTRIES: Record<string, string> = {
  index: 'src/core/index.ts',
  stream: 'src/core/stream.ts',
  react: 'src/react/index.ts',
  'react/stream': 'src/react/stream.ts',
  'react/live': 'src/react/live.ts',
  'react/suspense': 'src/react/suspense.ts',
  operator: 'src/operator/index.ts',
  live: 'src/live/index.ts',
  'live/supabase': 'src/live/supabase.ts',
  components: 'src/components/index.ts',
  'server/index': 'server/index.ts',
  'server/adapters/next': 'server/adapters/next.ts',
  'server/adapters/hono': 'server/adapters/hono.ts',
  'server/adapters/node': 'server/adapters/node.ts',
  'server/adapters/supabase-edge': 'server/adapters/supabase-edge.ts',
  'server/stripe': 'server/stripe/index.ts',
  ai: 'server/ai/index.ts',
  cli: 'cli/tokengate.ts',
};

/** Entry points that React Server Components frameworks must treat as client modules. */
export const CLIENT_ENTRIES = ['react', 'react/stream', 'react/live', 'react/suspense', 'components', 'operator'];

/** Never bundled: peers, dependencies and Node built-ins. */
const EXTERNAL = [
  /^react(\/.*)?$/,
  /^react-dom(\/.*)?$/,
  /^@tanstack\/react-query(\/.*)?$/,
  /^pg(\/.*)?$/,
  /^@electric-sql\/pglite(\/.*)?$/,
  /^@supabase\/supabase-js(\/.*)?$/,
  /^jose(\/.*)?$/,
  /^zod(\/.*)?$/,
  /^standardwebhooks(\/.*)?$/,
  /^hono(\/.*)?$/,
  /^srvx(\/.*)?$/,
  /^ai(\/.*)?$/,
  /^stripe(\/.*)?$/,
  /^node:/,
];

/**
 * `server/migrate.ts` finds the shipped migrations at `<its own folder>/../migrations`, so the
 * chunk holding it must sit directly in `dist/` (`dist/migrate.js` → `<package>/migrations`).
 */
const MIGRATE_MODULE = /[\\/]server[\\/]migrate\.ts$/;

/**
 * Modules built as entries of their own (not package exports: chunks under `dist/chunks/`). An app's
 * bundler splits `dist/` by file, so whatever shares a file with code loaded up front loads up front.
 * - Modules the kit loads on demand (`import()`, through the dashboard's usage sections) that an
 *   entry point also exports: in the entry's chunk they would always load with it; in a chunk of
 *   their own, an app's bundler that tree-shakes the unused exports away leaves them out.
 * - What `TokenDashboard` shows while its view loads on demand (`TokenDashboardLoading`), and with it
 *   what the up-front kit shares with that view (the i18n hook, `baseMessages`, the dashboard's
 *   frame and skeleton). Rolldown groups modules by the entries that reach them, and
 *   `tokengate/components` reaches the view (it exports it) just as it reaches these: without this
 *   second entry they would share the view's chunk, and the view would load up front with them.
 */
const OWN_CHUNKS: Record<string, string> = {
  'chunks/forecast-with-grants': 'src/components/token-dashboard/forecast-with-grants.ts',
  'chunks/burn-order': 'src/core/burn-order.ts',
  'chunks/token-dashboard-loading': 'src/components/token-dashboard/token-dashboard-loading.tsx',
};

async function bundle(): Promise<void> {
  await build({
    configFile: false,
    root: ROOT,
    logLevel: 'warn',
    publicDir: false,
    build: {
      outDir: DIST,
      emptyOutDir: false,
      target: 'es2022',
      minify: false,
      sourcemap: false,
      copyPublicDir: false,
      reportCompressedSize: false,
      lib: {
        entry: Object.fromEntries(Object.entries({ ...ENTRIES, ...OWN_CHUNKS }).map(([name, file]) => [name, path.join(ROOT, file)])),
        formats: ['es'],
        fileName: (_format, name) => `${name}.js`,
      },
      rolldownOptions: {
        external: EXTERNAL,
        // rolldown drops module-level 'use client'; it is prepended to the client entry points below.
        onLog(level, log, handler) {
          if (log.code === 'MODULE_LEVEL_DIRECTIVE' && log.message.includes('use client')) return;
          handler(level, log);
        },
        output: {
          manualChunks: (id: string) => (MIGRATE_MODULE.test(id) ? 'migrate' : undefined),
          chunkFileNames: (chunk: { name: string }) => (chunk.name === 'migrate' ? 'migrate.js' : 'chunks/[name]-[hash].js'),
        },
      },
    },
  });
}

/** Prepend `line` to `file` unless it already starts with it. */
async function prepend(file: string, line: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const body = text.startsWith('#!') ? text.slice(text.indexOf('\n') + 1) : text;
  if (line.startsWith('#!')) await writeFile(file, `${line}\n${body}`);
  else if (!text.startsWith(line)) await writeFile(file, `${line}\n${text}`);
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else yield full;
  }
}

async function declarations(): Promise<void> {
  const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
  await run(tsc, ['-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT });
  const specifier = /((?:from\s+|import\s*\(\s*)['"]\.{1,2}\/[^'"]*?)\.tsx?(['"])/g;
  for await (const file of walk(path.join(DIST, 'types'))) {
    if (!file.endsWith('.d.ts')) continue;
    const text = await readFile(file, 'utf8');
    const rewritten = text.replace(specifier, '$1.js$2');
    if (rewritten !== text) await writeFile(file, rewritten);
  }
}

/** Runs the whole build; returns the elapsed milliseconds. */
export async function buildPackage(): Promise<number> {
  const started = performance.now();
  await rm(DIST, { recursive: true, force: true });
  await bundle();
  await Promise.all([
    declarations(),
    run('npm', ['run', '--silent', 'build:css'], { cwd: ROOT }),
    ...CLIENT_ENTRIES.map((name) => prepend(path.join(DIST, `${name}.js`), "'use client';")),
    prepend(path.join(DIST, 'cli.js'), '#!/usr/bin/env node').then(() => chmod(path.join(DIST, 'cli.js'), 0o755)),
    cp(path.join(ROOT, 'cli', 'templates'), path.join(DIST, 'templates'), { recursive: true }),
  ]);
  // The shipped migrations must be where the built server module looks for them.
  const server = pathToFileURL(path.join(DIST, 'server', 'index.js')).href;
  const { MIGRATIONS_DIR } = (await import(server)) as { MIGRATIONS_DIR: string };
  if (path.resolve(MIGRATIONS_DIR) !== path.join(ROOT, 'migrations') || !existsSync(MIGRATIONS_DIR)) {
    throw new Error(`dist/migrate.js resolves the migrations to ${MIGRATIONS_DIR}, not ${path.join(ROOT, 'migrations')}`);
  }
  return performance.now() - started;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildPackage().then(
    (ms) => console.log(`built dist/ in ${(ms / 1000).toFixed(1)} s`),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
