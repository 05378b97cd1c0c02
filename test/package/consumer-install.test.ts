/**
 * The package installed like a user would: `npm pack`, then fresh temporary folders with the
 * tarball unpacked into node_modules that use only its public entry points (`test/package/consumer-apps/`):
 * 1. the installed CLI (`node_modules/.bin/tokengate`): `init`, then `migrate` of a fresh database
 *    on the Postgres server (and `grant`, to seed the Next.js app's organization);
 * 2. a Vite + React app (`tokengate`, `tokengate/react`, `tokengate/components`,
 *    `tokengate/styles.css`) built with `vite build` and served with `tokengate/server`'s handler on
 *    one `node:http` origin, driven in Chromium (test/find-browser.ts) with playwright-core;
 * 3. a Next.js App Router app mounting the handler with `toNextRouteHandlers` and server-rendering
 *    the kit: `next build`, then `next start`, the page and the API route; and the README's
 *    server-rendered balances (app/credits: prefetched through the gate, dehydrated, hydrated):
 *    the balance and cost in the raw HTML and at first paint without JavaScript, then in Chromium
 *    no hydration error and no balances request while the page loads and its live feed connects.
 *
 * Installs: `installFromProject` (./install-from-project.ts) — the tarball's own files, and the
 * app's other packages at the versions this repository installed from package-lock.json. No npm
 * cache and no network are involved, so the test passes with an empty cache too.
 */
import type { ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './build.ts';
import { cleanEnv, ok, run, start, stop } from './child-processes.ts';
import { installFromProject } from './install-from-project.ts';
import { CHROMIUM_FLAGS, findBrowser, requireBrowser } from '../find-browser.ts';
import { configuredDatabaseUrl, connectClient, withDatabase } from '../db.ts';
import { freePort } from '../free-port.ts';

const APPS = path.join(ROOT, 'test', 'package', 'consumer-apps');
/** Without a browser the Vite app's test is skipped locally; under CI it runs and fails (requireBrowser). */
const browserSearch = findBrowser();
const skipBrowser = browserSearch.path === null && process.env.CI !== 'true';

const serverUrl = configuredDatabaseUrl();
const dbName = `tokengate_consumer_${process.pid}_${Date.now()}`;
const dbUrl = withDatabase(configuredDatabaseUrl(), dbName);

let work: string;
let tarball: string;
let admin: pg.Client;
let db: pg.Client;
const children: ChildProcess[] = [];
let browser: Browser | undefined;
const timings: Record<string, number> = {};

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    timings[label] = Math.round(performance.now() - started);
  }
}

/** A fresh folder with the fixture app `name`, the tarball and `packages` installed. */
async function installApp(name: string, packages: string[]): Promise<string> {
  const dir = path.join(work, name);
  await cp(path.join(APPS, name), dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: 'module' }, null, 2));
  await installFromProject(dir, tarball, packages);
  return dir;
}

async function available(orgId: string): Promise<number> {
  const { rows } = await db.query<{ available: string }>(
    `select allowance_remaining + purchased_remaining as available from tokengate.buckets where org_id = $1 and token_type_id = 'quest_generation'`,
    [orgId],
  );
  return Number(rows[0]!.available);
}

beforeAll(async () => {
  await ensureBuilt();
  work = await mkdtemp(path.join(tmpdir(), 'tokengate-consumer-'));
  // Built above; --ignore-scripts skips `prepack` (a second build).
  const packed = await ok('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: ROOT });
  tarball = path.join(work, packed.stdout.trim().split('\n').pop()!);
  admin = await connectClient({ connectionString: serverUrl });
  await admin.query(`create database ${dbName}`);
  db = await connectClient({ connectionString: dbUrl });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const child of children) await stop(child);
  await db?.end();
  await admin?.query(`drop database if exists ${dbName} with (force)`);
  await admin?.end();
  if (work) await rm(work, { recursive: true, force: true });
  console.log(`[consumer] timings (ms): ${JSON.stringify(timings)}`);
}, 60_000);

describe.sequential('the packed package, installed in fresh projects', () => {
  let viteApp: string;

  it('installs with its peers and runs `tokengate init` and `tokengate migrate` from node_modules/.bin', async () => {
    viteApp = await timed('install vite app', () => installApp('vite', ['react', 'react-dom', '@tanstack/react-query', 'pg', 'srvx', 'vite']));
    const bin = path.join(viteApp, 'node_modules', '.bin', 'tokengate');

    const init = await ok(bin, ['init'], { cwd: viteApp });
    const shipped = (await readdir(path.join(viteApp, 'node_modules', 'tokengate', 'migrations'))).filter((f) => f.endsWith('.sql')).sort();
    expect(shipped.length).toBeGreaterThan(0);
    expect((await readdir(path.join(viteApp, 'supabase', 'migrations'))).sort()).toEqual(shipped);
    expect(init.stdout).toContain(`${shipped.length} migration(s) copied`);

    const migrate = await timed('tokengate migrate', () => ok(bin, ['migrate', '--database-url', dbUrl], { cwd: viteApp }));
    expect(migrate.stderr).not.toMatch(/\n\s+at /);
    const { rows } = await db.query<{ count: string }>('select count(*) from tokengate_meta.migrations');
    expect(Number(rows[0]!.count)).toBe(shipped.length + 1); // + the compatibility script
    const again = await ok(bin, ['migrate', '--database-url', dbUrl], { cwd: viteApp });
    expect(again.stdout + again.stderr).not.toMatch(/error/i);
    expect((await db.query<{ count: string }>('select count(*) from tokengate_meta.migrations')).rows[0]!.count).toBe(rows[0]!.count);
  });

  it.skipIf(skipBrowser)(`Vite + React: builds, renders TokenDashboard and a gated button in Chromium, and a click is charged in Postgres${skipBrowser ? ` (skipped: ${browserSearch.reason})` : ''}`, async () => {
    const build = await timed('vite build', () => ok(path.join(viteApp, 'node_modules', '.bin', 'vite'), ['build'], { cwd: viteApp }));
    expect(build.stdout).toContain('built in');
    const assets = await readdir(path.join(viteApp, 'dist', 'assets'));
    expect(assets.some((f) => f.endsWith('.css'))).toBe(true);
    for (const file of assets.filter((f) => f.endsWith('.js'))) {
      // A production bundle: React's dev JSX runtime would be undefined here.
      expect(await readFile(path.join(viteApp, 'dist', 'assets', file), 'utf8')).not.toContain('jsxDEV)(');
    }

    const { child, match } = await start(process.execPath, ['server.mjs'], viteApp, cleanEnv({ DATABASE_URL: dbUrl, NODE_ENV: 'production' }), /^(\{.*\})$/m);
    children.push(child);
    const server = JSON.parse(match[1]!) as { url: string; orgId: string; userId: string; token: string };
    expect(await available(server.orgId)).toBe(100); // Pro's 60 + 40 granted

    // Mounted and authenticated: the kit's API without a token is refused.
    expect((await fetch(`${server.url}/api/tokengate/orgs/${server.orgId}/balances`)).status).toBe(401);

    browser = await timed('chromium launch', () => chromium.launch({ executablePath: requireBrowser(), args: [...CHROMIUM_FLAGS], headless: true }));
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await timed('page: dashboard + click', async () => {
      await page.goto(`${server.url}/?org=${server.orgId}&token=${server.token}`);
      const left = page.locator('[data-slot="token-balance"][data-token-type="quest_generation"] [data-slot="token-balance-available"]');
      await expect.poll(() => left.textContent(), { timeout: 20_000 }).toMatch(/\b100\b/);
      // styles.css is applied: the dashboard's root has the kit's styles.
      const dashboard = page.locator('[data-slot="token-dashboard"]');
      expect(await dashboard.evaluate((el) => getComputedStyle(el).display)).not.toBe('inline');

      const button = page.getByTestId('gated');
      await expect.poll(() => button.isEnabled(), { timeout: 20_000 }).toBe(true);
      expect(await button.textContent()).toContain('3 tokens');
      await button.click();
      await expect.poll(() => button.getAttribute('data-status'), { timeout: 20_000 }).toBe('success');
      await expect.poll(() => left.textContent(), { timeout: 20_000 }).toMatch(/\b97\b/);
    });
    expect(await available(server.orgId)).toBe(97);
    expect(errors).toEqual([]);
    await page.close();
    await stop(child);
  });

  it('Next.js App Router: `next build` passes; `next start` serves the server-rendered kit, server-rendered balances that hydrate with no balances request, and the mounted handler', async () => {
    const nextApp = await timed('install next app', () => installApp('next', ['react', 'react-dom', '@tanstack/react-query', 'pg', 'next']));
    const orgId = randomUUID();
    const userId = randomUUID();
    const token = randomUUID();
    await db.query(`select tokengate.create_account($1, 'pro', $2)`, [orgId, userId]);
    const grant = await ok(path.join(nextApp, 'node_modules', '.bin', 'tokengate'), ['grant', '--org', orgId, '--type', 'quest_generation', '--amount', '15', '--database-url', dbUrl], { cwd: nextApp });
    expect(grant.stdout).toContain('75');

    const env = cleanEnv({ DATABASE_URL: dbUrl, CONSUMER_ORG_ID: orgId, CONSUMER_USER_ID: userId, CONSUMER_TOKEN: token });
    const nextBin = path.join(nextApp, 'node_modules', '.bin', 'next');
    const build = await timed('next build', () => ok(nextBin, ['build'], { cwd: nextApp, env }));
    expect(build.stdout).toMatch(/\/api\/tokengate\/\[\.\.\.path\]/);

    const port = await freePort();
    const { child } = await timed('next start', () =>
      start(nextBin, ['start', '--hostname', '127.0.0.1', '--port', String(port)], nextApp, { ...env, NODE_ENV: 'production' }, /Ready in/),
    );
    children.push(child);
    const base = `http://127.0.0.1:${port}`;

    const html = await (await fetch(`${base}/`)).text();
    expect(html).toContain('data-slot="token-dashboard"');
    expect(html).toMatch(/data-slot="token-balance"[^>]*data-token-type="quest_generation"/);
    expect(html).toMatch(/data-slot="token-balance-available"[^>]*>[^<]*\b75\b/);
    expect(html).toContain('data-slot="upgrade-prompt-title"');

    // Server-rendered balances (app/credits): the gate's balances for the user the page verified
    // (its cookie) are in the HTML, with the gated button's cost; nobody else's request gets them.
    const credits = await (await fetch(`${base}/credits`, { headers: { cookie: `tg_token=${token}` } })).text();
    expect(credits).toMatch(/data-testid="credits-left"[^>]*>75 quest tokens left</);
    expect(credits).toMatch(/data-testid="credits-gated"[^>]*>[^]*?Generate New Quest[^]*?\(3 tokens\)/);
    for (const cookie of ['', `tg_token=${randomUUID()}`]) {
      const anonymous = await (await fetch(`${base}/credits`, { headers: { cookie } })).text();
      expect(anonymous).toContain('Loading balance…');
      // Neither in the HTML nor in the RSC payload (the dehydrated state would carry these fields).
      expect(anonymous).not.toMatch(/quest tokens left|allowanceRemaining/);
    }

    const url = `${base}/api/tokengate/orgs/${orgId}/balances`;
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toContain('application/problem+json');
    const authed = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(authed.status).toBe(200);
    const body = (await authed.json()) as { tokenTypes: { tokenType: string; available: number }[] };
    expect(body.tokenTypes.find((t) => t.tokenType === 'quest_generation')?.available).toBe(75);

    const charge = async () => {
      const deduct = await fetch(`${base}/api/tokengate/orgs/${orgId}/deduct`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: JSON.stringify({ tokenType: 'quest_generation' }),
      });
      expect(deduct.status).toBe(200);
    };
    if (skipBrowser) await charge();
    else {
      browser ??= await chromium.launch({ executablePath: requireBrowser(), args: [...CHROMIUM_FLAGS], headless: true });
      await timed('page: server-rendered credits', async () => {
        // Without JavaScript: the first paint already shows the balance and the cost.
        const noJs = await browser!.newContext({ javaScriptEnabled: false });
        await noJs.addCookies([{ name: 'tg_token', value: token, url: base }]);
        const still = await noJs.newPage();
        await still.goto(`${base}/credits`);
        expect(await still.getByTestId('credits-left').textContent()).toBe('75 quest tokens left');
        expect(await still.getByTestId('credits-gated').textContent()).toContain('(3 tokens)');
        await noJs.close();

        const context = await browser!.newContext();
        await context.addCookies([{ name: 'tg_token', value: token, url: base }]);
        const page = await context.newPage();
        const reports: string[] = [];
        const requests: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error' || (message.type() === 'warning' && /hydrat/i.test(message.text()))) reports.push(`${message.type()}: ${message.text()}`);
        });
        page.on('pageerror', (err) => reports.push(`pageerror: ${err.message}`));
        page.on('request', (request) => requests.push(new URL(request.url()).pathname));
        await page.goto(`${base}/credits`);
        const section = page.getByTestId('credits');
        await expect.poll(() => section.getAttribute('data-hydrated'), { timeout: 30_000 }).toBe('true');
        // The provider's live feed connected after hydration (an events stream, not a balances request).
        await expect.poll(() => section.getAttribute('data-live'), { timeout: 30_000 }).toBe('live');
        expect(await page.getByTestId('credits-gated').textContent()).toContain('(3 tokens)');
        // A charge elsewhere reaches the page through the feed: everything it did so far is in.
        await charge();
        await expect.poll(() => page.getByTestId('credits-left').textContent(), { timeout: 30_000 }).toBe('72 quest tokens left');
        expect(requests.filter((p) => p.endsWith('/events'))).toContain(`/api/tokengate/orgs/${orgId}/events`);
        expect(requests.filter((p) => p.endsWith('/balances'))).toEqual([]);
        expect(reports).toEqual([]);
        await context.close();
      });
    }
    expect(await available(orgId)).toBe(72);
    await stop(child);
    // `next build` alone takes ~40 s on an idle 2-core machine: far more than the project's 60 s default under load.
  }, 300_000);
});

