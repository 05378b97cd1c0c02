/**
 * `npm start` without a browser: `demo/start.mjs` (what `npm start` runs) started as the e2e suite starts it (a fresh data
 * folder, a free loopback port), on embedded PGlite. A new data folder comes from the migrated
 * dump and is seeded in the background: requests that touch the database wait for the seed, so
 * the first answers already see the seeded organizations. Restarts — after a clean stop, and
 * after a SIGKILL right after the seed — keep every committed write and never seed twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_ORGS } from '../../demo/directory.ts';
import { freePort } from '../free-port.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pro = DEMO_ORGS.find((o) => o.slug === 'pro')!;
const proOwner = pro.members.find((m) => m.role === 'owner')!;

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Start the playground on `dir`; resolves once it printed its URL. */
async function start(dir: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, ['demo/start.mjs', '--port', String(port)], {
    cwd: ROOT,
    env: { ...process.env, TOKENGATE_DEMO_DIR: dir, TOKENGATE_DEMO_AI_DELAY_MS: '0', DATABASE_URL: '', PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Tokengate playground: (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the playground exited with ${code}:\n${output}`)));
  });
  return { child, url, output: () => output };
}

async function stop(running: Running, signal: NodeJS.Signals): Promise<number | null> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return running.child.exitCode;
  const exited = once(running.child, 'exit');
  running.child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

/** What the demo's database view says about the Pro organization (waits for the seed). */
async function inspectPro(url: string) {
  const res = await fetch(`${url}/api/demo/inspect?orgId=${pro.id}`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { planId: string; reconciles: boolean; buckets: { tokenType: string; allowanceRemaining: number; purchased: number }[] };
  const quest = body.buckets.find((b) => b.tokenType === 'quest_generation')!;
  return { planId: body.planId, reconciles: body.reconciles, questLeft: quest.allowanceRemaining + quest.purchased };
}

async function deductGoal(url: string, key: string): Promise<number> {
  const session = (await (await fetch(`${url}/api/demo/session?userId=${proOwner.id}`)).json()) as { token: string };
  const res = await fetch(`${url}/api/tokengate/orgs/${pro.id}/deduct`, {
    method: 'POST',
    headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ tokenType: 'goal_generation' }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { balance: { available: number } }).balance.available;
}

describe('npm start (the playground, without a browser)', () => {
  const dirs: string[] = [];
  const running: Running[] = [];
  afterAll(async () => {
    for (const r of running) await stop(r, 'SIGKILL');
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('starts from the migrated dump, seeds in the background, and keeps its data across restarts', { timeout: 180_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-start-test-'));
    dirs.push(dir);

    // Cold: the page and the API answer; the API's first answers already see the seeded data.
    const cold = await start(dir);
    running.push(cold);
    const [page, first] = await Promise.all([fetch(`${cold.url}/`), inspectPro(cold.url)]);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    expect(first).toEqual({ planId: 'pro', reconciles: true, questLeft: 12 });
    expect(cold.output()).toMatch(/First start: creating the database in .* (from the migrated dump|\(migrated once, cached)/);
    expect(cold.output()).toContain('Seeded 3 organizations');
    // The port answers the page before the database work starts; API calls wait for it.
    const coldOut = cold.output();
    expect(coldOut.indexOf('Tokengate playground:')).toBeLessThan(coldOut.indexOf('First start:'));
    expect(coldOut.indexOf('First start:')).toBeLessThan(coldOut.indexOf('API ready in'));
    const afterOne = await deductGoal(cold.url, 'start-test-1');
    expect(await stop(cold, 'SIGTERM')).toBe(0);

    // Warm: nothing is created or seeded again; the deduct is still there.
    const warm = await start(dir);
    running.push(warm);
    expect(await inspectPro(warm.url)).toEqual({ planId: 'pro', reconciles: true, questLeft: 12 });
    expect(await deductGoal(warm.url, 'start-test-1')).toBe(afterOne); // replayed, not charged again
    const afterTwo = await deductGoal(warm.url, 'start-test-2');
    expect(afterTwo).toBe(afterOne - 1);
    expect(warm.output()).not.toContain('First start');
    expect(warm.output()).not.toContain('Seeded');

    // Killed without a chance to close: every committed write survives.
    expect(await stop(warm, 'SIGKILL')).toBe(null);
    const again = await start(dir);
    running.push(again);
    expect(await inspectPro(again.url)).toEqual({ planId: 'pro', reconciles: true, questLeft: 12 });
    expect(await deductGoal(again.url, 'start-test-2')).toBe(afterTwo);
    expect(again.output()).not.toContain('Seeded');
    expect(await readFile(path.join(dir, 'seeded'), 'utf8')).not.toBe('');
    expect(await stop(again, 'SIGTERM')).toBe(0);
  });
});
