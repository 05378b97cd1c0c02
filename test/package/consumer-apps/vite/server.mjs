// The consumer's server: the built app's files and `tokengate/server`'s handler on one origin
// (node:http), on the Postgres database in $DATABASE_URL (already migrated with `tokengate migrate`).
// Seeds one organization, then prints one JSON line: { url, orgId, userId, token }.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { createHandler, createTokenGate, postgresStore, TokenGateError } from 'tokengate/server';
import { toNodeHandler } from 'tokengate/server/adapters/node';

const orgId = randomUUID();
const userId = randomUUID();
const token = randomUUID();
// Two connections: enough for one browser, and within the test file's share of the shared server.
const store = postgresStore({ connectionString: process.env.DATABASE_URL, max: 2 });
const gate = createTokenGate({ store });
await gate.createAccount({ orgId, planId: 'pro', ownerId: userId });
await gate.grant({ orgId, actorId: null }, 'quest_generation', { amount: 40, idempotencyKey: `seed-${orgId}` });

const api = toNodeHandler(
  createHandler({
    gate,
    // A custom authenticate: the bearer token this server handed out.
    authenticate: async (request) => {
      if (request.headers.get('authorization') === `Bearer ${token}`) return { userId };
      throw new TokenGateError('unauthorized', 'A valid test token is required.');
    },
  }),
);

const DIST = path.resolve('dist');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
const server = createServer(async (req, res) => {
  if (req.url.startsWith('/api/tokengate/')) return api(req, res);
  const pathname = new URL(req.url, 'http://x').pathname;
  const file = path.join(DIST, pathname === '/' ? 'index.html' : pathname);
  if (!file.startsWith(DIST)) return res.writeHead(404).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}`, orgId, userId, token }));
});
process.on('SIGTERM', () => process.exit(0));
