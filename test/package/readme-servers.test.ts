/**
 * The README's Express and Hono snippets, run as written: each block is saved as `server.ts` of a
 * throwaway app whose `tokengate` is the built package, next to a `lib/tokengate.ts` of the test's
 * own (a real handler and guard on a fresh Postgres database, users named by a header), started
 * with tsx, and driven over loopback HTTP. The app's other route must keep working beside the
 * mounted handler, and the handler must answer its own routes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configuredDatabaseUrl, withDatabase } from '../db.ts';
import { freePort } from '../free-port.ts';
import { ensureBuilt, ROOT } from './build.ts';
import { consumerProject, findBlock, readReadmeBlocks, writeFiles } from './readme-blocks.ts';
import { runCli } from './run-cli.ts';

const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const serverUrl = configuredDatabaseUrl();
const dbName = `tokengate_readme_servers_${process.pid}_${Date.now()}`;
const dbUrl = withDatabase(configuredDatabaseUrl(), dbName);

const ORG = '0d000000-0000-4000-8000-000000000001';
const OWNER = '0d000000-0000-4000-8000-000000000002';

/** The test's stand-in for the README's `lib/tokengate.ts`: the same exports, with test sessions. */
const LIB_TOKENGATE = `import { TokenGateError, createHandler, createTokenGate, guard, postgresStore } from 'tokengate/server';

const gate = createTokenGate({ store: postgresStore({ connectionString: process.env.DATABASE_URL! }) });
const authenticate = async (request: Request) => {
  const userId = request.headers.get('x-test-user');
  if (!userId) throw new TokenGateError('unauthorized');
  return { userId };
};
export const tokengate = createHandler({ gate, authenticate, basePath: process.env.TOKENGATE_BASE_PATH });
export const generateQuest = guard({ gate, authenticate, tokenType: 'quest_generation' }, async (request) => {
  const body = (await request.json()) as { goal: string };
  return Response.json({ quests: [\`Quest for \${body.goal}\`] });
});
`;

let admin: pg.Client;
let project: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  await ensureBuilt();
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const migrated = await runCli(['migrate', '--database-url', dbUrl]);
  expect(migrated.code, migrated.stderr).toBe(0);
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  await db.query("select tokengate.create_account($1, 'pro', $2)", [ORG, OWNER]);
  await db.end();
  project = await consumerProject('tokengate-readme-servers-');
}, 120_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill();
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  if (project) await rm(project, { recursive: true, force: true });
  await admin?.query(`drop database if exists ${dbName} with (force)`);
  await admin?.end();
});

/**
 * Writes `server.ts` (and the test's `lib/tokengate.ts`) into `<project>/<name>/`, starts it with
 * tsx on a free port and resolves its origin once it answers HTTP at all.
 */
async function startApp(name: string, serverTs: string, env: Record<string, string> = {}): Promise<string> {
  const dir = path.join(project, name);
  await mkdir(dir);
  await writeFiles(dir, [
    { path: 'server.ts', code: serverTs },
    { path: 'lib/tokengate.ts', code: LIB_TOKENGATE },
  ]);
  const port = await freePort();
  const child = spawn(TSX, ['server.ts'], {
    cwd: dir,
    env: { PATH: process.env.PATH, PORT: String(port), DATABASE_URL: dbUrl, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name}: server.ts exited with ${child.exitCode}:\n${output}`);
    try {
      await fetch(origin);
      return origin;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name}: server.ts did not answer within 60 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const asOwner = { 'x-test-user': OWNER };

async function questAvailable(origin: string, prefix = '/api/tokengate'): Promise<number> {
  const response = await fetch(`${origin}${prefix}/orgs/${ORG}/balances`, { headers: asOwner });
  expect(response.status).toBe(200);
  const balances = (await response.json()) as { tokenTypes: { tokenType: string; available: number }[] };
  return balances.tokenTypes.find((b) => b.tokenType === 'quest_generation')!.available;
}

/** What every README integration must do: the app's own route works, the handler its routes. */
async function expectIntegration(origin: string) {
  const health = await fetch(`${origin}/api/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ ok: true });

  const before = await questAvailable(origin);

  const quest = await fetch(`${origin}/api/generate-quest`, {
    method: 'POST',
    headers: { ...asOwner, 'content-type': 'application/json', 'x-tokengate-org': ORG, 'idempotency-key': randomUUID() },
    body: JSON.stringify({ goal: 'an emergency fund' }),
  });
  expect(quest.status, await quest.clone().text()).toBe(200);
  expect(quest.headers.get('x-tokengate-charged')).toBe('3');
  expect(await quest.json()).toEqual({ quests: ['Quest for an emergency fund'] });

  const deduct = await fetch(`${origin}/api/tokengate/orgs/${ORG}/deduct`, {
    method: 'POST',
    headers: { ...asOwner, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({ tokenType: 'quest_generation', metadata: { via: 'readme' } }),
  });
  expect(deduct.status, await deduct.clone().text()).toBe(200);
  expect(await deduct.json()).toMatchObject({ charged: 3 });
  expect(await questAvailable(origin)).toBe(before - 6);

  const anonymous = await fetch(`${origin}/api/tokengate/orgs/${ORG}/balances`);
  expect(anonymous.status).toBe(401);
  expect(anonymous.headers.get('content-type')).toContain('application/problem+json');

  const unknownRoute = await fetch(`${origin}/api/tokengate/nothing-here`, { headers: asOwner });
  expect(unknownRoute.status).toBe(404);
  expect(unknownRoute.headers.get('content-type')).toContain('application/problem+json');

  // A path outside the mount is the app's, not the handler's: the app's own 404.
  const elsewhere = await fetch(`${origin}/about`);
  expect(elsewhere.status).toBe(404);
  expect(elsewhere.headers.get('content-type') ?? '').not.toContain('application/problem+json');
}

describe("the README's Express snippet", () => {
  it('serves the handler under /api/tokengate and leaves the other routes to the app', async () => {
    const block = findBlock(await readReadmeBlocks(), "from 'express'", 'toNodeHandler(');
    expect(block.code).toContain("app.use('/api/tokengate', toNodeHandler(tokengate))");
    const origin = await startApp('express', block.code);
    await expectIntegration(origin);
  });

  it('works mounted at another path when createHandler gets the same basePath', async () => {
    const server = `import express from 'express';
import { toNodeHandler } from 'tokengate/server/adapters/node';
import { tokengate } from './lib/tokengate';

const app = express();
app.use('/billing/tokens', toNodeHandler(tokengate));
app.get('/api/health', (_req, res) => {
  res.json({ ok: true });
});
app.listen(Number(process.env.PORT));
`;
    const origin = await startApp('express-base-path', server, { TOKENGATE_BASE_PATH: '/billing/tokens' });
    expect(await questAvailable(origin, '/billing/tokens')).toBeGreaterThan(0);
  });

  it('without a mount path, the handler answers every route of the app (what the README warns about)', async () => {
    const server = `import express from 'express';
import { toNodeHandler } from 'tokengate/server/adapters/node';
import { tokengate } from './lib/tokengate';

const app = express();
app.use(toNodeHandler(tokengate));
app.get('/api/health', (_req, res) => {
  res.json({ ok: true });
});
app.listen(Number(process.env.PORT));
`;
    const origin = await startApp('express-unmounted', server);
    const health = await fetch(`${origin}/api/health`);
    expect(health.status).toBe(404);
    expect(health.headers.get('content-type')).toContain('application/problem+json');
  });
});

describe("the README's Hono snippet", () => {
  it('starts on Node with @hono/node-server and serves the handler beside the other routes', async () => {
    const block = findBlock(await readReadmeBlocks(), "from 'hono'", 'tokengateHono(');
    expect(block.code).toContain("from '@hono/node-server'");
    const origin = await startApp('hono', block.code);
    await expectIntegration(origin);
  });

  it('would start nothing on Node with only `export default app`', async () => {
    const block = findBlock(await readReadmeBlocks(), "from 'hono'", 'tokengateHono(');
    const withoutServe = block.code
      .replace(/^import \{ serve \} from '@hono\/node-server';\n/m, '')
      .replace(/^serve\(.*\);\n/m, 'export default app;\n');
    expect(withoutServe).not.toContain('serve(');
    const dir = path.join(project, 'hono-default-export');
    await mkdir(dir);
    await writeFiles(dir, [
      { path: 'server.ts', code: withoutServe },
      { path: 'lib/tokengate.ts', code: LIB_TOKENGATE },
    ]);
    const child = spawn(TSX, ['server.ts'], { cwd: dir, env: { PATH: process.env.PATH, DATABASE_URL: dbUrl }, stdio: 'ignore' });
    children.push(child);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0); // the module ran and the process ended: nothing was listening
  });
});
