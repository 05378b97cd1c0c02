/**
 * The playground end to end: `demo/start.mjs` started as `npm start` does (fresh data dir, free
 * loopback port, fast fake model), driven in Chromium (found by test/find-browser.ts) with
 * playwright-core. Every page state is checked with axe-core and screenshotted to
 * test-results/screenshots/ (git-ignored).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ORGS } from '../../demo/directory.ts';
import { STRATEGY_ANSWER, strategyUsage } from '../../demo/fake-model-stream.ts';
import { CHROMIUM_FLAGS, requireBrowser } from '../find-browser.ts';
import { freePort } from '../free-port.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = path.join(ROOT, 'test-results', 'screenshots');
/**
 * How long a step may wait for the page to reach the state it expects (every wait is for a
 * condition: an element, a text, a count). Generous, for a loaded 2-core machine; only a broken
 * page ever waits this long.
 */
const WAIT_MS = 30_000;
const AXE_SOURCE = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const org = (slug: string) => DEMO_ORGS.find((o) => o.slug === slug)!;
const owner = (slug: string) => org(slug).members.find((m) => m.role === 'owner')!;

let child: ChildProcess;
let dataDir: string;
let baseUrl: string;
let browser: Browser;
let context: BrowserContext;


/** Start the demo like `npm start` and resolve with its printed URL. */
async function startDemo(): Promise<string> {
  const port = await freePort();
  const started = Date.now();
  child = spawn(process.execPath, ['demo/start.mjs', '--port', String(port)], {
    cwd: ROOT,
    env: { ...process.env, TOKENGATE_DEMO_DIR: dataDir, TOKENGATE_DEMO_AI_DELAY_MS: '50', DATABASE_URL: '', PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    // Only a deadline for a demo that never comes up; how fast it starts is logged, not asserted.
    const timer = setTimeout(() => reject(new Error(`demo not ready after 150 s:\n${output}`)), 150_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Tokengate playground: (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        console.log(`[e2e] the demo was ready after ${Date.now() - started} ms`);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo exited with ${code}:\n${output}`));
    });
  });
}

/** The stored buckets of an organization, read with SQL by the demo's server, and whether its ledger reconciles. */
async function stored(slug: string) {
  const res = await fetch(`${baseUrl}/api/demo/inspect?orgId=${org(slug).id}`);
  const body = (await res.json()) as {
    planId: string;
    reconciles: boolean;
    problems: unknown[];
    buckets: { tokenType: string; allowanceRemaining: number; purchased: number; held: number; used: number }[];
  };
  const quest = body.buckets.find((b) => b.tokenType === 'quest_generation');
  const strategy = body.buckets.find((b) => b.tokenType === 'strategy_analysis');
  return {
    ...body,
    quest,
    questLeft: quest ? quest.allowanceRemaining + quest.purchased : null,
    strategy: strategy && { left: strategy.allowanceRemaining + strategy.purchased, held: strategy.held, used: strategy.used },
  };
}

async function open(slug: string, userId = owner(slug).id, page?: Page): Promise<Page> {
  const p = page ?? (await context.newPage());
  await p.goto(`${baseUrl}/?org=${slug}&user=${userId}`);
  await p.getByTestId('quest-balance').filter({ hasNotText: 'Loading' }).waitFor();
  // The dashboard's chart and forecast, too (the full page state).
  await p.locator('[data-slot="token-dashboard"]').first().waitFor();
  return p;
}

const questButton = (page: Page) => page.getByRole('button', { name: /Generate New Quest/ });

/** Every request the page sends to an admin route of the API (the plan must never change that way). */
function adminRequests(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (request) => {
    if (/\/api\/tokengate\/orgs\/[^/]+\/admin\//.test(new URL(request.url()).pathname)) seen.push(`${request.method()} ${new URL(request.url()).pathname}`);
  });
  return seen;
}

/** Pay at the playground's simulated checkout, and wait until the app is back with the receipt. */
async function payAtCheckout(page: Page, price: string) {
  await page.getByRole('heading', { name: 'Checkout (simulated)' }).waitFor();
  await expect(page.getByRole('note').textContent()).resolves.toContain('no payment is taken');
  await page.getByRole('button', { name: `Pay ${price} (simulated)` }).click();
  await page.getByTestId('checkout-done').waitFor();
}

/** The quest balance as the page shows it ("12 quest tokens left"). */
async function shownQuestLeft(page: Page): Promise<number> {
  const text = await page.getByTestId('quest-balance').textContent();
  const match = /^(\d+) quest tokens left$/.exec(text ?? '');
  if (!match) throw new Error(`unexpected balance text: ${text}`);
  return Number(match[1]);
}

async function expectShown(page: Page, left: number) {
  await expect.poll(() => shownQuestLeft(page).catch(() => -1), { timeout: WAIT_MS }).toBe(left);
}

/** Click "Generate New Quest" and wait until the run has finished. */
async function generateQuest(page: Page) {
  await questButton(page).click();
  await page.getByRole('button', { name: 'Generating…' }).waitFor({ state: 'detached' });
}

/** Every metered row of the dashboard ("7 left") equals what the database holds for that token type. */
async function expectDashboardMatchesDb(page: Page, slug: string) {
  const read = async () => {
    const db = await stored(slug);
    const shown = await page.locator('[data-slot="token-balance"]').evaluateAll((rows) =>
      rows.map((row) => [row.getAttribute('data-token-type'), row.querySelector('[data-slot="token-balance-available"]')?.textContent ?? null]),
    );
    return {
      shown: Object.fromEntries(shown.map(([type, text]) => [type, text == null ? null : Number(/^([\d,]+) left$/.exec(text)?.[1]?.replace(/,/g, '') ?? 'NaN')])),
      db: Object.fromEntries(db.buckets.map((b) => [b.tokenType, b.allowanceRemaining + b.purchased])),
    };
  };
  await expect.poll(async () => {
    const { shown, db } = await read();
    return Object.keys(shown).length === 5 && Object.entries(shown).every(([type, n]) => n === db[type!]) ? 'match' : JSON.stringify({ shown, db });
  }, { timeout: WAIT_MS }).toBe('match');
}

/** The demo's breakpoint for the streamed answer: the next one pauses after `words` words until the client goes away. */
async function pauseNextStreamAfter(words: number) {
  const res = await fetch(`${baseUrl}/api/demo/model`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pauseAfterWords: words }) });
  expect(res.status).toBe(200);
}

/** Let a streamed answer paused at the breakpoint go on. */
async function resumeStream() {
  const res = await fetch(`${baseUrl}/api/demo/model`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resume":true}' });
  expect(res.status).toBe(200);
}

/** Whether a streamed answer is paused at the breakpoint now (false once the client went away or it resumed). */
async function streamPaused(): Promise<boolean> {
  const res = await fetch(`${baseUrl}/api/demo/model`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  return ((await res.json()) as { pausedAt: number | null }).pausedAt !== null;
}

const strategyButton = (page: Page) => page.getByTestId('strategy-button');
const strategyWords = async (page: Page) => Number(await page.getByTestId('strategy-answer').getAttribute('data-words'));
const strategyStatus = (page: Page) => page.getByTestId('strategy-status');

async function checkA11y(page: Page, state: string) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: await AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: { id: string; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')})`);
  });
  expect(violations, `axe violations in state "${state}"`).toEqual([]);
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true, animations: 'disabled' });
}

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-demo-e2e-'));
  baseUrl = await startDemo();
  browser = await chromium.launch({ executablePath: requireBrowser(), args: [...CHROMIUM_FLAGS], headless: true });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'UTC', reducedMotion: 'reduce', acceptDownloads: true });
  context.setDefaultTimeout(WAIT_MS);
});

afterAll(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the playground (npm start)', () => {
  it('starts on a fresh data dir, seeded, with a reconciled ledger', async () => {
    for (const slug of ['starter', 'pro', 'enterprise']) expect((await stored(slug)).reconciles).toBe(true);
    expect((await stored('pro')).questLeft).toBe(12);
  });

  it('Pro generates quests until exhausted, sees the UpgradePrompt, tops up and continues', async () => {
    const page = await open('pro');
    await expectShown(page, 12);
    await expectDashboardMatchesDb(page, 'pro');
    await checkA11y(page, 'pro start');

    for (const left of [9, 6]) {
      await generateQuest(page);
      await expectShown(page, left);
      expect((await stored('pro')).questLeft).toBe(left);
    }
    await expect.poll(() => page.getByRole('list', { name: 'Generated quests' }).getByRole('listitem').count(), { timeout: WAIT_MS }).toBe(2);
    await checkA11y(page, 'pro with quests');
    await shot(page, 'pro-quests');
    // The README's screenshot: refreshed on demand (`npm run demo:screenshot`), or when missing.
    const docsShot = path.join(ROOT, 'docs', 'playground.png');
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1' || !existsSync(docsShot)) await copyFile(path.join(SHOTS, 'pro-quests.png'), docsShot);

    for (const left of [3, 0]) {
      await generateQuest(page);
      await expectShown(page, left);
    }
    const prompt = page.locator('[data-slot="upgrade-prompt"][data-reason="insufficient_tokens"]').first();
    await prompt.waitFor();
    // The button stays (focusable), aria-disabled: a keyboard user's focus is not dropped.
    await expect.poll(() => questButton(page).getAttribute('aria-disabled'), { timeout: WAIT_MS }).toBe('true');
    const db = await stored('pro');
    expect(db.questLeft).toBe(0);
    expect(db.quest!.held).toBe(0);
    await expectDashboardMatchesDb(page, 'pro');
    await checkA11y(page, 'pro exhausted');
    await shot(page, 'pro-exhausted');

    // The top-up goes through the (simulated) checkout; the server's billing webhook adds the tokens.
    const admin = adminRequests(page);
    await prompt.getByRole('button', { name: 'Buy 30 quest tokens — $5' }).click();
    await payAtCheckout(page, '$5');
    await expectShown(page, 30);
    expect(admin).toEqual([]);
    expect((await stored('pro')).questLeft).toBe(30);
    await generateQuest(page);
    await expectShown(page, 27);
    await expectDashboardMatchesDb(page, 'pro');
    const after = await stored('pro');
    expect(after.questLeft).toBe(27);
    expect(after.reconciles).toBe(true);
    await page.close();
  });

  it('a failing generation refunds the 3 tokens', async () => {
    const page = await open('pro');
    await expectShown(page, 27);
    await page.getByRole('checkbox', { name: 'Make the next call fail' }).check();
    await generateQuest(page);
    await page.getByTestId('quest-refunded').waitFor();
    await expect(page.getByTestId('quest-refunded').textContent()).resolves.toContain('3 tokens were refunded');
    expect(await page.getByRole('checkbox', { name: 'Make the next call fail' }).isChecked()).toBe(false);
    await expectShown(page, 27);
    await expectDashboardMatchesDb(page, 'pro');
    const db = await stored('pro');
    expect(db.questLeft).toBe(27);
    expect(db.quest!.held).toBe(0);
    expect(db.reconciles).toBe(true);
    await checkA11y(page, 'pro refunded');
    await shot(page, 'pro-refunded');

    // The next call works again.
    await generateQuest(page);
    await expectShown(page, 24);
    await page.close();
  });

  it('two tabs clicking at once never overspend', async () => {
    // Leave exactly one quest's worth (3 tokens) with the admin panel's adjustment.
    const admin = await open('pro');
    const form = admin.getByRole('form', { name: 'Adjust balance' });
    await form.getByLabel('Amount (±)').fill('-21');
    await form.getByRole('button', { name: 'Adjust' }).click();
    await expectShown(admin, 3);
    await checkA11y(admin, 'pro admin adjusted');
    await admin.close();

    const [a, b] = [await open('pro'), await open('pro')];
    await expectShown(a, 3);
    await expectShown(b, 3);
    // Forced: with live balances, the first charge can reach the other tab and make its button
    // aria-disabled before that click lands; Playwright would then wait for it to be enabled forever.
    // A click on a disabled gate runs nothing — the point is that neither tab can overspend.
    await Promise.all([questButton(a).click({ force: true }), questButton(b).click({ force: true })]);
    for (const page of [a, b]) await page.getByRole('button', { name: 'Generating…' }).waitFor({ state: 'detached' });

    const quests = async (page: Page) => page.getByRole('list', { name: 'Generated quests' }).getByRole('listitem').count();
    expect((await quests(a)) + (await quests(b))).toBe(1);
    const db = await stored('pro');
    expect(db.questLeft).toBe(0);
    expect(db.quest!.held).toBe(0);
    expect(db.reconciles).toBe(true);
    // Both tabs end up showing what the database holds.
    await a.reload();
    await b.reload();
    for (const page of [a, b]) {
      await page.locator('[data-slot="upgrade-prompt"][data-reason="insufficient_tokens"]').first().waitFor();
      await expect(page.getByTestId('quest-balance').textContent()).resolves.toBe('0 quest tokens left');
      await expectDashboardMatchesDb(page, 'pro');
    }
    await a.close();
    await b.close();
  });

  it('live: a second member’s page shows the first page’s changes without reloading, and the alert webhooks reach the Events panel', async () => {
    // Where the previous test left Pro: quests used up. Exhausting them crossed the low threshold
    // and reached 0: the outbox's alerts went out as signed webhooks to the playground's receiver.
    const a = await open('pro');
    const events = a.getByRole('list', { name: 'Alert webhooks received' });
    await expect.poll(async () => (await events.textContent().catch(() => '')) ?? '', { timeout: WAIT_MS }).toMatch(/quest generation — Used up: 0 left/);
    expect(await events.textContent()).toMatch(/quest generation — Running low: \d+ left \(below 12\)/);

    const member = org('pro').members.find((m) => m.role === 'member')!;
    const b = await open('pro', member.id);
    await expectShown(b, 0);
    const balanceRequests: string[] = [];
    b.on('request', (request) => {
      if (/\/balances$/.test(new URL(request.url()).pathname)) balanceRequests.push(request.url());
    });
    // An operator's grant on page A (the server's credential)…
    const form = a.getByRole('form', { name: 'Grant tokens' });
    await form.getByLabel('Amount').fill('30');
    await form.getByRole('button', { name: 'Grant tokens' }).click();
    // …appears on page B without a reload and without B asking for its balances: the change feed.
    await expectShown(b, 30);
    expect(balanceRequests).toEqual([]);
    // A charge on page A, too.
    await generateQuest(a);
    await expectShown(b, 27);
    expect(balanceRequests).toEqual([]);
    await expectDashboardMatchesDb(b, 'pro');
    await a.close();
    await b.close();
  });

  it('the streamed strategy analysis appears word by word, stays running until the end, and Stop stops the model', async () => {
    const page = await open('pro');
    // Paused at word 15 (the demo's breakpoint): the page shows a partial answer while the run is still running.
    await pauseNextStreamAfter(15);
    await strategyButton(page).click();
    await expect.poll(() => strategyWords(page), { timeout: WAIT_MS }).toBe(15);
    await expect(strategyButton(page).textContent()).resolves.toContain('Analyzing…');
    await strategyStatus(page).getByText('Streaming… 15 words so far.').waitFor();
    expect(await page.getByTestId('strategy-answer').textContent()).toBe(STRATEGY_ANSWER.split(' ').slice(0, 15).join(' '));
    await checkA11y(page, 'strategy streaming');
    await shot(page, 'strategy-streaming');

    // Stop cancels the fetch: the server sees the disconnect (its paused model is released).
    await page.getByRole('button', { name: 'Stop' }).click();
    await strategyStatus(page).getByText('Stopped after 15 words', { exact: false }).waitFor();
    await expect.poll(streamPaused, { timeout: WAIT_MS }).toBe(false);
    await expect.poll(async () => (await stored('pro')).strategy!.held, { timeout: WAIT_MS }).toBe(0);
    expect(await page.getByRole('button', { name: 'Stop' }).getAttribute('aria-disabled')).toBe('true');

    // A whole answer, to its end.
    await strategyButton(page).click();
    await expect.poll(() => strategyWords(page), { timeout: WAIT_MS }).toBe(40);
    await expect.poll(() => strategyButton(page).getAttribute('data-state'), { timeout: WAIT_MS }).toBe('ready');
    expect(await page.getByTestId('strategy-answer').textContent()).toBe(STRATEGY_ANSWER);
    expect((await stored('pro')).reconciles).toBe(true);
    await page.close();
  });

  it('the streamed strategy analysis is charged the usage the model reported: in full, after Stop, and after a mid-stream failure', async () => {
    const page = await open('pro');
    await expectDashboardMatchesDb(page, 'pro');
    let before = (await stored('pro')).strategy!;

    // To the end: the model reports 8 tokens for 40 words; the guard charges 8 (it held 10).
    await strategyButton(page).click();
    await strategyStatus(page).getByText(`Charged ${strategyUsage(40)} tokens`, { exact: false }).waitFor();
    let now = (await stored('pro')).strategy!;
    expect(now).toEqual({ left: before.left - strategyUsage(40), held: 0, used: before.used + strategyUsage(40) });
    await expectDashboardMatchesDb(page, 'pro');
    await expect(page.getByTestId('strategy-balance').textContent()).resolves.toContain(`${now.left} strategy tokens left`);
    await shot(page, 'strategy-charged');

    // Stop after 15 words: charged the 3 tokens reported so far; the rest of the hold is refunded.
    before = now;
    await pauseNextStreamAfter(15);
    await strategyButton(page).click();
    await expect.poll(() => strategyWords(page), { timeout: WAIT_MS }).toBe(15);
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(async () => (await stored('pro')).strategy, { timeout: WAIT_MS }).toEqual({
      left: before.left - strategyUsage(15),
      held: 0,
      used: before.used + strategyUsage(15),
    });
    // The page learns it from its refetches (a stopped stream carries no charge event).
    await expectDashboardMatchesDb(page, 'pro');
    await checkA11y(page, 'strategy stopped');
    await shot(page, 'strategy-stopped');

    // A mid-stream failure (after 20 words): charged the 4 tokens reported; the answer stays partial.
    // (Paused at word 20 until the page shows them: a browser drops unread bytes of a broken stream.)
    before = (await stored('pro')).strategy!;
    await pauseNextStreamAfter(20);
    await page.getByRole('combobox', { name: 'Make the next analysis fail' }).selectOption('mid-stream');
    await strategyButton(page).click();
    await expect.poll(() => strategyWords(page), { timeout: WAIT_MS }).toBe(20);
    await resumeStream();
    await strategyStatus(page).getByText('The answer broke off after 20 words', { exact: false }).waitFor();
    expect(await page.getByRole('combobox', { name: 'Make the next analysis fail' }).inputValue()).toBe('none');
    now = (await stored('pro')).strategy!;
    expect(now).toEqual({ left: before.left - strategyUsage(20), held: 0, used: before.used + strategyUsage(20) });
    await expectDashboardMatchesDb(page, 'pro');

    // A failure before answering: refunded in full.
    before = now;
    await page.getByRole('combobox', { name: 'Make the next analysis fail' }).selectOption('before');
    await strategyButton(page).click();
    await strategyStatus(page).getByText('your 10 tokens were refunded', { exact: false }).waitFor();
    expect((await stored('pro')).strategy).toEqual(before);
    await expectDashboardMatchesDb(page, 'pro');
    expect((await stored('pro')).reconciles).toBe(true);
    await page.close();
  });

  it('Starter is blocked from the start, and the guard refuses the route itself', async () => {
    const page = await open('starter');
    await page.locator('[data-slot="upgrade-prompt"][data-reason="plan_blocked"]').first().waitFor();
    expect(await questButton(page).getAttribute('aria-disabled')).toBe('true');
    await expect(page.getByTestId('quest-balance').textContent()).resolves.toBe('Quests are not included in this plan');
    for (const name of [/Suggest goals/, /Find leads/, /Forecast revenue/, /Analyze strategy/]) {
      expect(await page.getByRole('button', { name }).isDisabled()).toBe(true);
    }
    // The client is UX; the guard is the lock: a direct call is refused with 403 plan_blocked.
    const status = await page.evaluate(async (userId) => {
      const { token } = await (await fetch(`/api/demo/session?userId=${userId}`)).json();
      const params = new URLSearchParams(location.search);
      const res = await fetch('/api/ai/quest_generation', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-tokengate-org': params.get('org') === 'starter' ? '00000000-0000-4000-8000-000000000100' : '' },
        body: '{}',
      });
      return [res.status, (await res.json()).code];
    }, owner('starter').id);
    expect(status).toEqual([403, 'plan_blocked']);
    const db = await stored('starter');
    expect(db.buckets.every((b) => b.used === 0)).toBe(true);
    await checkA11y(page, 'starter blocked');
    await shot(page, 'starter-blocked');

    // A blocked feature stays focusable; pressing it explains why in the kit's UpgradePrompt, the
    // platform's modal <dialog>: real keys, real top layer, real inertness.
    const findLeads = page.getByRole('button', { name: /Find leads/ });
    await findLeads.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Lead generation isn’t included in your plan' });
    await dialog.waitFor();
    const modal = await dialog.evaluate((d, leadsSelector) => {
      const opener = document.querySelector<HTMLElement>(leadsSelector)!;
      opener.focus(); // inert: ignored
      const box = document.querySelector('header select')!.getBoundingClientRect();
      return {
        tag: d.tagName,
        modal: d.matches(':modal'),
        focusInside: d.contains(document.activeElement),
        pointerHitsBackdrop: document.elementFromPoint(box.left + 5, box.top + 5) === d,
        scrollLocked: getComputedStyle(document.documentElement).overflow === 'hidden',
      };
    }, '[data-slot="token-gate-button"][aria-describedby="lead_generation-reason"]');
    expect(modal).toEqual({ tag: 'DIALOG', modal: true, focusInside: true, pointerHitsBackdrop: true, scrollLocked: true });
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Close');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.closest('dialog') !== null)).resolves.toBe(true);
    await checkA11y(page, 'starter upgrade dialog');
    await shot(page, 'starter-upgrade-dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await expect(page.evaluate(() => document.activeElement?.getAttribute('aria-describedby'))).resolves.toBe('lead_generation-reason');
    await expect(page.evaluate(() => getComputedStyle(document.documentElement).overflow)).resolves.not.toBe('hidden');

    // The prompt's upgrade goes to the (simulated) checkout; the plan changes on the SERVER, from
    // the playground's billing webhook — the page never calls the admin plan route.
    const admin = adminRequests(page);
    await page.locator('[data-slot="upgrade-prompt"]').first().getByRole('button', { name: 'Upgrade to Pro — $20/month' }).click();
    expect((await stored('starter')).planId).toBe('starter');
    await checkA11y(page, 'checkout');
    await shot(page, 'checkout');
    await payAtCheckout(page, '$20/month');
    await expectShown(page, 60);
    expect((await stored('starter')).planId).toBe('pro');
    expect(admin).toEqual([]);
    await expect(page.getByTestId('checkout-done').textContent()).resolves.toContain('moved Northwind Bakery to the Pro plan');
    await generateQuest(page);
    await expectShown(page, 57);
    await expectDashboardMatchesDb(page, 'starter');
    await page.close();
  });

  it('grants: the Pro organization sees its seeded lead grants in burn order, and the operator\'s view lists the promo expiring soon', async () => {
    const page = await open('pro');
    const dashboard = page.locator('[data-slot="token-dashboard"]');
    const grantsButton = dashboard.getByRole('button', { name: /Grants of Lead generation/ });
    await grantsButton.click();
    await expect.poll(() => grantsButton.getAttribute('aria-expanded')).toBe('true');
    // The promo (expires in 5 days, priority 10) is spent before the pack (expires in 355 days).
    const rows = dashboard.getByRole('table', { name: /Lead generation/ }).getByRole('row');
    await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBe(3);
    expect(await rows.nth(1).textContent()).toMatch(/Promotion/);
    expect(await rows.nth(2).textContent()).toMatch(/Purchase/);

    await page.getByText("Operator's view (the app's staff, every organization)").click();
    const expiring = page.getByRole('region', { name: 'Grants expiring within 14 days' });
    await expect.poll(() => expiring.getByRole('row').count(), { timeout: WAIT_MS }).toBe(2);
    const promo = await expiring.getByRole('row').nth(1).textContent();
    expect(promo).toContain(org('pro').id);
    expect(promo).toMatch(/lead_generation.*promo/);
    await page.getByRole('heading', { name: /Top organizations/ }).waitFor();
    await checkA11y(page, 'pro grants and operator view');
    await page.close();
  });

  it('Enterprise shows Unlimited and keeps working, usage still recorded', async () => {
    const page = await open('enterprise', org('enterprise').members[2]!.id);
    await expect(page.getByTestId('quest-balance').textContent()).resolves.toBe('Unlimited quest tokens');
    await page.locator('[data-slot="token-dashboard"]').getByText('Unlimited').first().waitFor();
    const before = (await stored('enterprise')).quest!.used;
    for (let i = 0; i < 3; i++) await generateQuest(page);
    await expect.poll(() => page.getByRole('list', { name: 'Generated quests' }).getByRole('listitem').count(), { timeout: WAIT_MS }).toBe(3);
    const db = await stored('enterprise');
    expect(db.quest!.used - before).toBe(9);
    expect(db.reconciles).toBe(true);
    await page.getByRole('button', { name: /Forecast revenue/ }).click();
    await page.getByText(/Revenue forecast: Next quarter/).waitFor();
    // The dashboard's export downloads the ledger, charges of this test included.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const csv = await readFile((await download.path())!, 'utf8');
    expect(csv.split('\n')[0]).toMatch(/token_?type/i);
    expect(csv).toContain('quest_generation');
    await checkA11y(page, 'enterprise');
    await shot(page, 'enterprise-unlimited');
    await page.close();
  });

  it('keyboard: Tab to Generate New Quest, Enter, and focus is still on it after the run', async () => {
    const page = await open('enterprise', org('enterprise').members[2]!.id);
    const quests = () => page.getByRole('list', { name: 'Generated quests' }).getByRole('listitem').count();
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName);
    for (let i = 0; i < 10 && (await focused()) !== 'quest-button'; i++) await page.keyboard.press('Tab');
    expect(await focused()).toBe('quest-button');
    await page.keyboard.press('Enter');
    await expect.poll(quests).toBe(1);
    await expect.poll(() => questButton(page).getAttribute('data-state')).toBe('ready');
    expect(await focused()).toBe('quest-button');
    // And again, from where the focus was left.
    await page.keyboard.press('Enter');
    await expect.poll(quests).toBe(2);
    await expect.poll(() => questButton(page).getAttribute('data-state')).toBe('ready');
    expect(await focused()).toBe('quest-button');
    await page.close();
  });

  it('an admin sets a member quota, and the member is stopped at it', async () => {
    const milton = org('enterprise').members.find((m) => m.name === 'Milton Waddams')!;
    const { token } = (await (await fetch(`${baseUrl}/api/demo/session?userId=${milton.id}`)).json()) as { token: string };

    const admin = await open('enterprise');
    const form = admin.getByRole('form', { name: 'Member quota' });
    await form.getByLabel('Member').selectOption({ label: 'Milton Waddams' });
    await form.getByLabel('Token type').selectOption('lead_generation');
    await form.getByLabel('Monthly quota (empty: none)').fill('0');
    await form.getByRole('button', { name: 'Set quota' }).click();
    await admin.getByRole('status').filter({ hasText: 'Quota set to 0 tokens a month.' }).waitFor();
    await admin.close();

    // A quota of 0 stops him before the click; lifting it lets him run again.
    const page = await open('enterprise', milton.id);
    const button = page.getByRole('button', { name: /Find leads/ });
    await page.getByText('Your quota is used up').waitFor();
    await expect.poll(() => button.isDisabled(), { timeout: WAIT_MS }).toBe(true);
    const refused = await page.evaluate(async ({ token, orgId }) => {
      const res = await fetch('/api/ai/lead_generation', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-tokengate-org': orgId }, body: '{}' });
      return [res.status, (await res.json()).code];
    }, { token, orgId: org('enterprise').id });
    expect(refused).toEqual([402, 'member_quota_exceeded']);
    await checkA11y(page, 'enterprise member quota');

    const again = await open('enterprise');
    const form2 = again.getByRole('form', { name: 'Member quota' });
    await form2.getByLabel('Member').selectOption({ label: 'Milton Waddams' });
    await form2.getByLabel('Token type').selectOption('lead_generation');
    await form2.getByLabel('Monthly quota (empty: none)').fill('');
    await form2.getByRole('button', { name: 'Set quota' }).click();
    await again.getByRole('status').filter({ hasText: 'Quota removed.' }).waitFor();
    await again.close();
    await open('enterprise', milton.id, page);
    await button.click();
    await page.getByText(/New leads:/).waitFor();
    expect((await stored('enterprise')).reconciles).toBe(true);
    await page.close();
  });
});
