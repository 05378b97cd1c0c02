/**
 * `npm start`: the Tokengate playground. ONE Node process serves the demo's Vite app and the real
 * API on the same origin:
 *
 * - `/api/tokengate/*` — the real REST handler (`createHandler`),
 * - `/api/ai/<tokenType>` — the app's own AI routes behind `guard(...)` (a fake, deterministic model;
 *   `strategy_analysis` streams its answer as server-sent events and reports its usage as it goes),
 * - `/api/demo/operator-view/operator/*` — the operator routes, open to anyone (playground only: a real
 *   app serves them from its admin backend with the server credential),
 * - `/api/demo/*` — demo-only helpers (the user switcher's sign-in, a directory, a raw SQL view, and
 *   the billing webhook the simulated checkout plays: a plan change, or a signed Stripe
 *   `checkout.session.completed` event through the real `createStripeTopUps` handler),
 *
 * over embedded PGlite persisted in `.tokengate/` (or `TOKENGATE_DEMO_DIR`), migrated and seeded on
 * first start. `DATABASE_URL=postgres://…` uses that database instead (see README).
 *
 * Flags: `--port <n>` (or `PORT`, default 5173), `--host <h>` (default 127.0.0.1), `--reset`
 * (wipe the local data and reseed). Env: `TOKENGATE_DEMO_DIR`, `DATABASE_URL`, `TOKENGATE_SUPABASE=1`
 * (the database is Supabase: skip the compatibility script), `TOKENGATE_DEMO_AI_DELAY_MS` (default 1000;
 * the streamed answer's pace is a tenth of it per word).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DemoApi } from './create-demo-api.ts';
import { isPgliteStarted, startDatabase } from './start-database.ts';

const DEMO_ROOT = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.dirname(DEMO_ROOT);
/** Options of `startDemo`. */
export interface DemoOptions {
  /** Port to listen on; 0 picks a free one. Default 5173. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1 (the demo signs tokens for anyone who asks). */
  host?: string;
  /** Folder of the local data (PGlite database, signing secret). Default `.tokengate/` in the repository. */
  dir?: string;
  /** Wipe the local data first and reseed. */
  reset?: boolean;
  /** A Postgres/Supabase connection string to use instead of PGlite. */
  databaseUrl?: string;
  /** The database is Supabase: do not run the compatibility script. */
  supabase?: boolean;
  /** Delay of the fake AI model, in ms. Default 1000. The streamed answer takes a tenth of it per word. */
  aiDelayMs?: number;
  /** Progress lines. Default console.log. */
  log?: (line: string) => void;
}

/** A running playground. */
export interface RunningDemo {
  url: string;
  close(): Promise<void>;
}

/**
 * Start the playground: database, seed, API and Vite app on one port.
 *
 * @example
 * const demo = await startDemo({ port: 0, dir: await mkdtemp(...), aiDelayMs: 50 });
 * console.log(demo.url); await demo.close();
 */
export async function startDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => console.log(line));
  const dir = path.resolve(options.dir ?? path.join(REPO_ROOT, '.tokengate'));
  const aiDelayMs = options.aiDelayMs ?? 1000;
  const wordMs = Math.round(aiDelayMs / 10);
  // One playground per data folder: PGlite is single-process, and --reset must not pull the data
  // from under a running instance.
  const lockFile = path.join(dir, 'playground.pid');
  const other = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
  if (Number.isInteger(other) && other > 0 && other !== process.pid && isAlive(other)) {
    throw new Error(`Another playground (pid ${other}) is using ${dir}: stop it first.`);
  }
  if (options.reset) {
    if (options.databaseUrl) throw new Error('--reset only wipes the local PGlite data; the ledger in DATABASE_URL is append-only by design.');
    log('Resetting ' + dir + '…');
    await rm(dir, { recursive: true, force: true });
  }

  await mkdir(dir, { recursive: true });
  await writeFile(lockFile, String(process.pid));
  const server = http.createServer();
  // The port answers from the start: the page needs only Vite. A first start (the dump to extract,
  // the seed to write: PGlite's work is synchronous and would hold Vite up on this one event loop)
  // opens the database after Vite; a later one opens it alongside (~0.4 s of PGlite start-up that
  // overlaps Vite's). API requests that arrive meanwhile wait for the database (and the background
  // seed, demo/start-database.ts), and a start-up failure answers 503.
  const viteStarting = startVite(server);
  // The API's modules (the server module, zod, Stripe, jose…) load while Vite starts.
  const apiModule = import('./create-demo-api.ts');
  const openDatabase = () => startDatabase({ dir, databaseUrl: options.databaseUrl, supabase: options.supabase, log });
  const dbStarting = isPgliteStarted(dir, options.databaseUrl) ? openDatabase() : viteStarting.then(openDatabase);
  let routeApi: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  let apiReady!: (route: typeof routeApi) => void;
  let apiFailed!: (error: unknown) => void;
  const apiStarting = new Promise<NonNullable<typeof routeApi>>((resolve, reject) => {
    apiReady = (route) => resolve((routeApi = route)!);
    apiFailed = reject;
  });
  for (const starting of [viteStarting, dbStarting, apiStarting, apiModule]) starting.catch(() => {});
  const unavailable = (res: http.ServerResponse) => {
    if (!res.headersSent) res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"the playground failed to start; see its log"}');
  };
  server.on('request', (req, res) => {
    const pathname = (req.url ?? '/').split('?')[0]!;
    if (pathname.startsWith('/api/')) {
      if (routeApi) return void routeApi(req, res);
      return void apiStarting.then((route) => route(req, res), () => unavailable(res));
    }
    viteStarting.then(
      (vite) => vite.middlewares(req, res, () => res.writeHead(404).end()),
      () => unavailable(res),
    );
  });
  const port = options.port ?? 5173;
  const host = options.host ?? '127.0.0.1';
  const abandon = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await viteStarting.then((vite) => vite.close(), () => {});
    await dbStarting.then((db) => db.close(), () => {});
    await rm(lockFile, { force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    await viteStarting.then((vite) => vite.close(), () => {});
    await dbStarting.then((db) => db.close(), () => {});
    await rm(lockFile, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`Port ${port} is in use: try \`npm start -- --port ${port + 1}\` (or PORT=${port + 1}).`);
    }
    throw error;
  }
  const address = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  let vite: Awaited<typeof viteStarting>;
  let db: Awaited<typeof dbStarting>;
  let demoApi: DemoApi;
  try {
    vite = await viteStarting;
    log(`Tokengate playground: ${url}  (page ready in ${((performance.now() - started) / 1000).toFixed(1)} s; ${options.databaseUrl ? 'DATABASE_URL' : `PGlite in ${path.relative(process.cwd(), dir) || '.'}`})`);
    db = await dbStarting;
    const { createDemoApi } = await apiModule;
    demoApi = await createDemoApi({ db, dir, url, aiDelayMs, wordMs, log });
  } catch (error) {
    apiFailed(error);
    await abandon();
    throw error;
  }
  apiReady(demoApi.route);
  log(`API ready in ${((performance.now() - started) / 1000).toFixed(1)} s.`);

  return {
    url,
    async close() {
      await demoApi.close();
      server.closeAllConnections();
      await Promise.all([vite.close(), new Promise<void>((resolve) => server.close(() => resolve()))]);
      await db.close();
      await rm(lockFile, { force: true });
    },
  };
}

/** The demo app's Vite dev server in middleware mode, with HMR on `server`. */
async function startVite(server: http.Server) {
  const { createServer: createViteServer } = await import('vite');
  const { default: tailwindcss } = await import('@tailwindcss/vite');
  return createViteServer({
    configFile: false,
    root: DEMO_ROOT,
    appType: 'spa',
    logLevel: 'warn',
    cacheDir: path.join(REPO_ROOT, 'node_modules', '.vite', 'demo'),
    plugins: [tailwindcss()],
    server: { middlewareMode: true, hmr: { server }, fs: { allow: [REPO_ROOT] } },
    // Pre-bundled at start, so the first page load never triggers a re-optimization and reload.
    optimizeDeps: {
      entries: ['index.html'],
      include: ['react', 'react/jsx-runtime', 'react/jsx-dev-runtime', 'react-dom', 'react-dom/client', '@tanstack/react-query'],
    },
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The command line: parse the flags and environment, start the playground, stop it on SIGINT/SIGTERM.
 * A start-up failure prints its message and exits 1.
 *
 * @example
 * await main(); // node demo/start.mjs --port 5174
 */
export async function main(): Promise<void> {
  try {
    await run();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}

async function run() {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, host: { type: 'string' }, reset: { type: 'boolean', default: false } },
    allowPositionals: false,
  });
  const port = Number(values.port ?? process.env.PORT ?? 5173);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${values.port ?? process.env.PORT}`);
  const delay = process.env.TOKENGATE_DEMO_AI_DELAY_MS;
  const demo = await startDemo({
    port,
    host: values.host,
    reset: values.reset,
    dir: process.env.TOKENGATE_DEMO_DIR || undefined,
    databaseUrl: process.env.DATABASE_URL || undefined,
    supabase: process.env.TOKENGATE_SUPABASE === '1',
    aiDelayMs: delay === undefined || delay === '' ? undefined : Number(delay),
  });
  const stop = () => void demo.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

// Run directly (`node --import tsx demo/server.ts`, `tsx demo/server.ts`); `npm start` goes through demo/start.mjs.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void main();
