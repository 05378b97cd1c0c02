/**
 * `tokengate init --next | --vite` on fresh apps, with the packed package installed as a user
 * would (test/package/fresh-apps.ts: a Next.js TypeScript app with app/, a Next.js JavaScript app
 * with src/app/, a Vite + React TypeScript app):
 * - the installed bin writes the files and prints the install hint, the environment and
 *   `tokengate migrate`; a second run writes nothing (same file hashes) and says so;
 * - each app builds once (`next build`; `tsc -b` and `vite build` once the page is rendered, as
 *   init's hint says); the Vite app's Hono server type-checks and starts with tsx, its routes mounted;
 * - the Next.js TypeScript app runs (`next start`) on a database migrated with the installed
 *   `tokengate migrate`, with an organization registered with `tokengate accounts create`: in
 *   Chromium its /tokengate page shows the balance, the gated button calls the guarded example
 *   route and the dashboard's balance drops by the charge, as it does in Postgres.
 * Installs: `installFromProject` (hard links from this repository's node_modules; no network).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './build.ts';
import { cleanEnv, ok, start, stop } from './child-processes.ts';
import { nextJavaScriptApp, nextTypeScriptApp, viteTypeScriptApp, type AppFiles } from './fresh-apps.ts';
import { installFromProject } from './install-from-project.ts';
import { CHROMIUM_FLAGS, findBrowser, requireBrowser } from '../find-browser.ts';
import { configuredDatabaseUrl, connectClient, withDatabase } from '../db.ts';
import { freePort } from '../free-port.ts';
import { createTestIssuer } from '../jwt.ts';
import type { ChildProcess } from 'node:child_process';

/** Without a browser the Chromium part is skipped locally; under CI it runs and fails (requireBrowser). */
const browserSearch = findBrowser();
const skipBrowser = browserSearch.path === null && process.env.CI !== 'true';

const serverUrl = configuredDatabaseUrl();
const dbName = `tokengate_init_${process.pid}_${Date.now()}`;
const dbUrl = withDatabase(serverUrl, dbName);

let work: string;
let tarball: string;
let admin: pg.Client | undefined;
let browser: Browser | undefined;
const children: ChildProcess[] = [];
const timings: Record<string, number> = {};
const fileStarted = performance.now();

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    timings[label] = Math.round(performance.now() - started);
  }
}

/** Writes the fresh app and installs the packed package and `packages` into it. */
async function freshApp(name: string, files: AppFiles, packages: string[]): Promise<string> {
  const dir = path.join(work, name);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  await timed(`install ${name}`, () => installFromProject(dir, tarball, packages));
  return dir;
}

/** sha256 of every file of the app outside node_modules and build output, by relative path. */
async function hashes(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    const relative = path.relative(dir, file).split(path.sep).join('/');
    if (!entry.isFile() || /^(node_modules|\.next|dist)\//.test(relative)) continue;
    result[relative] = createHash('sha256').update(await readFile(file)).digest('hex');
  }
  return result;
}

/**
 * Runs the installed `tokengate init` twice: the first writes `expected` (and nothing else), the
 * second writes nothing, says so, leaves every file as it was and prints the same next steps.
 * Returns the first run's output.
 */
async function initTwice(dir: string, flag: '--next' | '--vite', expected: string[]): Promise<string> {
  const bin = path.join(dir, 'node_modules', '.bin', 'tokengate');
  const before = await hashes(dir);
  const first = await ok(bin, ['init', flag], { cwd: dir });
  expect(first.stderr).toBe('');
  const after = await hashes(dir);
  expect(Object.keys(after).filter((f) => !(f in before)).sort()).toEqual([...expected].sort());
  for (const file of Object.keys(before)) expect(after[file], file).toBe(before[file]); // nothing of the app touched
  for (const file of expected) expect(first.stdout).toContain(`created   ${file}\n`);

  const second = await ok(bin, ['init', flag], { cwd: dir });
  expect(await hashes(dir)).toEqual(after);
  expect(second.stdout).not.toMatch(/^(created|overwrote|kept)/m);
  for (const file of expected) expect(second.stdout).toContain(`unchanged ${file}\n`);
  expect(second.stdout).toContain(`Nothing to write: all ${expected.length} files are already in place.`);
  const steps = (text: string) => text.slice(text.indexOf('Next steps:'));
  expect(steps(second.stdout)).toBe(steps(first.stdout));
  expect(first.stdout).toContain('DATABASE_URL');
  expect(first.stdout).toContain('npx tokengate migrate');
  return first.stdout;
}

beforeAll(async () => {
  await timed('ensureBuilt', () => ensureBuilt());
  work = await mkdtemp(path.join(tmpdir(), 'tokengate-init-'));
  const packed = await ok('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: ROOT });
  tarball = path.join(work, packed.stdout.trim().split('\n').pop()!);
  admin = await connectClient({ connectionString: serverUrl });
  await admin.query(`create database ${dbName}`);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const child of children) await stop(child);
  await admin?.query(`drop database if exists ${dbName} with (force)`);
  await admin?.end();
  if (work) await rm(work, { recursive: true, force: true });
  timings.file = Math.round(performance.now() - fileStarted);
  console.log(`[init-scaffold] timings (ms): ${JSON.stringify(timings)}`);
}, 60_000);

const NEXT_TS_FILES = [
  'lib/tokengate.ts',
  'app/api/tokengate/[...path]/route.ts',
  'app/api/generate-quest/route.ts',
  'app/tokengate/providers.tsx',
  'app/tokengate/example.tsx',
  'app/tokengate/page.tsx',
];

describe.sequential('tokengate init on fresh apps', () => {
  let nextTs: string;

  it('Next.js, TypeScript, app/: writes the files, a second run changes nothing, `next build` passes', async () => {
    nextTs = await freshApp('next-ts', nextTypeScriptApp(), ['next', 'react', 'react-dom', '@tanstack/react-query', 'pg', 'typescript', '@types/react', '@types/react-dom', '@types/node']);
    const output = await initTwice(nextTs, '--next', NEXT_TS_FILES);
    expect(output).toContain('Next.js App Router app (TypeScript, app/)');
    expect(output).not.toContain('Install what the files import'); // package.json lists them all
    expect(output).toContain('open http://localhost:3000/tokengate');

    const build = await timed('next build (ts)', () => ok(path.join(nextTs, 'node_modules', '.bin', 'next'), ['build'], { cwd: nextTs }));
    // Type-checked with the app's strict tsconfig, and every scaffolded route is in the build.
    expect(build.stdout).toContain('Finished TypeScript');
    for (const route of ['/api/tokengate/[...path]', '/api/generate-quest', '/tokengate']) expect(build.stdout).toContain(route);
  }, 240_000);

  it('Next.js, JavaScript, src/app/: writes the .js/.jsx files under src/, lists the packages to install, `next build` passes', async () => {
    const dir = await freshApp('next-js', nextJavaScriptApp(), ['next', 'react', 'react-dom', '@tanstack/react-query', 'pg']);
    const output = await initTwice(dir, '--next', [
      'src/lib/tokengate.js',
      'src/app/api/tokengate/[...path]/route.js',
      'src/app/api/generate-quest/route.js',
      'src/app/tokengate/providers.jsx',
      'src/app/tokengate/example.jsx',
      'src/app/tokengate/page.jsx',
    ]);
    expect(output).toContain('Next.js App Router app (JavaScript, src/app/)');
    expect(output).toContain('npm install @tanstack/react-query pg');

    const build = await timed('next build (js)', () => ok(path.join(dir, 'node_modules', '.bin', 'next'), ['build'], { cwd: dir }));
    for (const route of ['/api/tokengate/[...path]', '/api/generate-quest', '/tokengate']) expect(build.stdout).toContain(route);
  }, 240_000);

  it('Vite + React, TypeScript: writes the Hono server and the client files, a second run changes nothing; with the page rendered `tsc -b` and `vite build` pass; the server runs', async () => {
    const dir = await freshApp('vite-ts', viteTypeScriptApp(), ['vite', 'react', 'react-dom', '@tanstack/react-query', 'pg', 'hono', '@hono/node-server', 'tsx', 'typescript', '@types/react', '@types/react-dom', '@types/node']);
    const output = await initTwice(dir, '--vite', ['server/tokengate.ts', 'server/index.ts', 'src/tokengate/providers.tsx', 'src/tokengate/example.tsx', 'src/tokengate/page.tsx']);
    expect(output).toContain('Vite + React app (TypeScript, src/)');
    expect(output).toContain("server: { proxy: { '/api': 'http://localhost:3001' } }");
    expect(output).toContain('Render <TokenGatePage /> (from src/tokengate/page.tsx)');
    expect(await readFile(path.join(dir, 'vite.config.ts'), 'utf8')).not.toContain('proxy'); // printed, not edited

    // What the hint says to do: render the page.
    await writeFile(
      path.join(dir, 'src', 'App.tsx'),
      `import { TokenGatePage } from './tokengate/page'\n\nfunction App() {\n  return <TokenGatePage />\n}\n\nexport default App\n`,
    );
    await timed('tsc -b (vite)', () => ok(path.join(dir, 'node_modules', '.bin', 'tsc'), ['-b'], { cwd: dir }));
    const build = await timed('vite build', () => ok(path.join(dir, 'node_modules', '.bin', 'vite'), ['build'], { cwd: dir }));
    expect(build.stdout).toContain('built in');
    const assets = await readdir(path.join(dir, 'dist', 'assets'));
    expect(assets.some((f) => f.endsWith('.css'))).toBe(true);
    const js = (await Promise.all(assets.filter((f) => f.endsWith('.js')).map((f) => readFile(path.join(dir, 'dist', 'assets', f), 'utf8')))).join('\n');
    expect(js).toContain('/api/generate-quest');

    // The API server: type-checked as Node runs it (create-vite's tsconfigs leave server/ out), then
    // started as init's hint says, with the kit's API and the guarded route mounted and refusing
    // callers without a verified user.
    await timed('tsc server (vite)', () =>
      ok(path.join(dir, 'node_modules', '.bin', 'tsc'), ['--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', 'server/index.ts'], { cwd: dir }),
    );
    const port = await freePort();
    const { child } = await timed('hono server start', () =>
      start(path.join(dir, 'node_modules', '.bin', 'tsx'), ['server/index.ts'], dir, cleanEnv({ PORT: String(port), DATABASE_URL: dbUrl }), /API on http:\/\/localhost:\d+/),
    );
    children.push(child);
    const orgId = randomUUID();
    const balances = await fetch(`http://127.0.0.1:${port}/api/tokengate/orgs/${orgId}/balances`);
    expect(balances.status).toBe(401);
    expect(balances.headers.get('content-type')).toContain('application/problem+json');
    const guarded = await fetch(`http://127.0.0.1:${port}/api/generate-quest`, { method: 'POST', headers: { 'x-tokengate-org': orgId }, body: '{}' });
    expect(guarded.status).toBe(401);
    expect(((await guarded.json()) as { detail: string }).detail).toMatch(/Set SUPABASE_URL/);
    await stop(child);
  }, 240_000);

  it.skipIf(skipBrowser)(`the Next.js app in Chromium: on a migrated database, the gated button charges through the guarded route and the dashboard's balance drops${skipBrowser ? ` (skipped: ${browserSearch.reason})` : ''}`, async () => {
    const bin = path.join(nextTs, 'node_modules', '.bin', 'tokengate');
    await timed('tokengate migrate', () => ok(bin, ['migrate'], { cwd: nextTs, env: cleanEnv({ DATABASE_URL: dbUrl }) }));
    const orgId = randomUUID();
    const userId = randomUUID();
    await ok(bin, ['accounts', 'create', '--org', orgId, '--plan', 'pro', '--owner', userId, '--database-url', dbUrl], { cwd: nextTs });

    // A fake Supabase project: the server module verifies its HS256 access tokens (no network).
    const supabaseUrl = 'http://127.0.0.1:9';
    const project = await createTestIssuer({ issuer: `${supabaseUrl}/auth/v1` });
    const token = await project.sign({ sub: userId }, { alg: 'HS256' });
    const port = await freePort();
    const env = cleanEnv({ DATABASE_URL: dbUrl, SUPABASE_URL: supabaseUrl, SUPABASE_JWT_SECRET: project.secret, NODE_ENV: 'production' });
    const { child } = await timed('next start', () =>
      start(path.join(nextTs, 'node_modules', '.bin', 'next'), ['start', '--hostname', '127.0.0.1', '--port', String(port)], nextTs, env, /Ready in/),
    );
    children.push(child);
    const base = `http://127.0.0.1:${port}`;

    // The mounted API and the guarded route refuse a request without a verified user, and run nothing.
    const anonymous = await fetch(`${base}/api/tokengate/orgs/${orgId}/balances`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toContain('application/problem+json');
    expect((await fetch(`${base}/api/generate-quest`, { method: 'POST', headers: { 'x-tokengate-org': orgId }, body: '{}' })).status).toBe(401);

    browser = await timed('chromium launch', () => chromium.launch({ executablePath: requireBrowser(), args: [...CHROMIUM_FLAGS], headless: true }));
    const context = await browser.newContext();
    // Where the scaffolded provider reads the user's token and organization until the app wires its auth.
    await context.addInitScript(
      ([t, o]) => {
        localStorage.setItem('tokengate.accessToken', t!);
        localStorage.setItem('tokengate.orgId', o!);
      },
      [token, orgId],
    );
    const page = await context.newPage();
    const reports: string[] = [];
    page.on('pageerror', (err) => reports.push(`pageerror: ${err.message}`));
    page.on('console', (message) => {
      // A failed request is reported below with its URL.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) reports.push(`console: ${message.text()}`);
    });
    page.on('response', (response) => {
      // The fresh app has no favicon (create-next-app's is a binary file this test does not write).
      if (response.status() >= 400 && new URL(response.url()).pathname !== '/favicon.ico') reports.push(`${response.status()} ${response.url()}`);
    });
    await timed('page: balance, click, charge', async () => {
      await page.goto(`${base}/tokengate`);
      const left = page.locator('[data-slot="token-balance"][data-token-type="quest_generation"] [data-slot="token-balance-available"]');
      await expect.poll(() => left.textContent(), { timeout: 30_000 }).toMatch(/\b60\b/); // Pro's allowance
      // styles.css is applied.
      expect(await page.locator('[data-slot="token-dashboard"]').evaluate((el) => getComputedStyle(el).display)).not.toBe('inline');

      const button = page.getByTestId('tokengate-example-button');
      await expect.poll(() => button.getAttribute('data-state'), { timeout: 30_000 }).toBe('ready');
      expect(await button.textContent()).toContain('3 tokens');
      await button.click();
      await expect.poll(() => page.getByTestId('tokengate-example-result').textContent(), { timeout: 30_000 }).toContain('Save for a house');
      await expect.poll(() => left.textContent(), { timeout: 30_000 }).toMatch(/\b57\b/);
    });
    const db = await connectClient({ connectionString: dbUrl });
    try {
      const { rows } = await db.query<{ available: string }>(
        `select allowance_remaining + purchased_remaining as available from tokengate.buckets where org_id = $1 and token_type_id = 'quest_generation'`,
        [orgId],
      );
      expect(Number(rows[0]!.available)).toBe(57);
    } finally {
      await db.end();
    }
    expect(reports).toEqual([]);
    await context.close();
    await stop(child);
  }, 240_000);
});
