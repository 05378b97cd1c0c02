/**
 * `toNodeHandler` mounted for real: Express 5 and node:http on an ephemeral loopback port, called
 * with `fetch`, in front of the real handler (`createHandler`) and a guarded route, on a real gate
 * over PGlite with real JWTs.
 */
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { createApp, expectProblem, type App } from '../../test/http/fixture.ts';
import { createOrg, type SeededOrg } from '../../test/ledger.ts';
import { supabaseAuth } from '../auth.ts';
import { guard, type GuardedHandler } from '../guard.ts';
import { toNodeHandler } from './node.ts';

const NOW = '2028-01-10T12:00:00Z';

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(check: () => Promise<boolean>, what: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('toNodeHandler [pglite]', () => {
  let db: TestDb;
  let app: App;
  let org: SeededOrg;
  let user: string;
  let base: string;
  let server: Server;
  /** The guarded route's body: set per test. */
  let ai: GuardedHandler = async () => new Response('ai');
  /** What the plain (unguarded) echo route saw. */
  let echoCalls = 0;

  const kinds = async () =>
    (await db.query<{ kind: string }>(`select kind from tokengate.ledger where org_id = $1 and kind <> 'refresh' order by id`, [org.orgId])).map((r) => r.kind);
  const auth = async () => ({ authorization: await app.issuer.bearer(user), 'x-tokengate-org': org.orgId });

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow(NOW);
    app = await createApp(db);
    org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    user = org.members[0]!;

    const guarded = guard(
      { gate: app.gate, authenticate: supabaseAuth(app.issuer.authOptions), tokenType: 'strategy_analysis' },
      (request, ctx) => ai(request, ctx),
    );
    const echo = async (request: Request) => {
      echoCalls++;
      const bytes = new Uint8Array(await request.arrayBuffer());
      return Response.json({
        method: request.method,
        url: request.url,
        length: bytes.byteLength,
        sum: bytes.reduce((a, b) => (a + b) % 65521, 0),
        headers: Object.fromEntries(request.headers),
      });
    };
    const web = express();
    web.use('/api/tokengate', toNodeHandler(app.handler));
    web.post('/api/ai', toNodeHandler(guarded));
    web.all('/echo', toNodeHandler(echo, { maxBodyBytes: 1000 }));
    web.post('/json', toNodeHandler(async (request) => Response.json({ keys: Object.keys((await request.json()) as object).length }), { maxBodyBytes: 1000 }));
    web.post('/parsed/deduct', express.json(), (req, res, next) => {
      // A body parser ran first: the adapter passes req.body on.
      req.url = req.originalUrl = `/api/tokengate/orgs/${org.orgId}/deduct`;
      return toNodeHandler(app.handler)(req, res).catch(next);
    });
    web.get('/cookies', toNodeHandler(async () => {
      const headers = new Headers({ 'content-type': 'text/plain' });
      headers.append('set-cookie', 'a=1; Path=/');
      headers.append('set-cookie', 'b=2; Path=/; HttpOnly');
      return new Response('c', { headers });
    }));
    server = http.createServer(web);
    base = await listen(server);
  });
  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    await db?.close();
  });

  it('serves the REST API under app.use(prefix): the full original URL reaches the handler', async () => {
    const res = await fetch(`${base}/api/tokengate/orgs/${org.orgId}/balances`, { headers: await auth() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body.orgId).toBe(org.orgId);
    expect(body.member.userId).toBe(user);
  });

  it('answers problems as they are (401 with WWW-Authenticate, 405 with Allow)', async () => {
    const unauth = await fetch(`${base}/api/tokengate/orgs/${org.orgId}/balances`);
    expect(unauth.headers.get('www-authenticate')).toBe('Bearer');
    await expectProblem(unauth, 'unauthorized');
    const wrong = await fetch(`${base}/api/tokengate/orgs/${org.orgId}/balances`, { method: 'DELETE', headers: await auth() });
    expect(wrong.headers.get('allow')).toBe('GET');
    await expectProblem(wrong, 'method_not_allowed');
    // A method no Fetch Request can carry (TRACE) is answered by the adapter, not a 500.
    const trace = await rawRequest(base, `TRACE /api/tokengate/orgs/${org.orgId}/balances HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    expect(trace).toMatch(/^HTTP\/1\.1 405 /);
    expect(trace).toMatch(/content-type: application\/problem\+json/i);
    expect(trace).toContain('"type":"https://tokengate.dev/errors/method_not_allowed"');
  });

  it('streams a JSON body in: deduct, exactly once per Idempotency-Key', async () => {
    const post = async () =>
      fetch(`${base}/api/tokengate/orgs/${org.orgId}/deduct`, {
        method: 'POST',
        headers: { ...(await auth()), 'content-type': 'application/json', 'idempotency-key': 'node-deduct-1' },
        body: JSON.stringify({ tokenType: 'goal_generation' }),
      });
    const first = await post();
    expect(first.status).toBe(200);
    expect((await first.json()).charged).toBe(1);
    const again = await post();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await db.query(`select count(*)::int as n from tokengate.ledger where org_id = $1 and kind = 'deduct'`, [org.orgId]))[0]!.n).toBe(1);
  });

  it('passes a body that express.json() already parsed', async () => {
    const res = await fetch(`${base}/parsed/deduct`, {
      method: 'POST',
      headers: { ...(await auth()), 'content-type': 'application/json', 'idempotency-key': 'node-parsed-1' },
      body: JSON.stringify({ tokenType: 'goal_generation', units: 2 }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).charged).toBe(2);
  });

  it('runs a guarded route with a streamed (event-stream) body: charged when the body ends', async () => {
    ai = async (_request, ctx) => {
      ctx.reportUsage(4);
      const encoder = new TextEncoder();
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await sleep(5);
          if (i === 5) return controller.close();
          controller.enqueue(encoder.encode(`chunk ${i++}\n`));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    const before = (await kinds()).length;
    const res = await fetch(`${base}/api/ai`, { method: 'POST', headers: await auth(), body: '{}' });
    expect(res.status).toBe(200);
    // A streamed answer is charged when its body ends: only the reservation is named up front.
    expect(res.headers.get('x-tokengate-charged')).toBeNull();
    expect(res.headers.get('x-tokengate-reservation')).not.toBeNull();
    expect(await res.text()).toBe([0, 1, 2, 3, 4].map((i) => `chunk ${i}\n`).join(''));
    expect((await kinds()).slice(before)).toEqual(['reserve', 'commit']);
  });

  it('answers 402 from the guard without running the handler', async () => {
    let ran = 0;
    ai = async () => (ran++, new Response('ai'));
    const poor = await createOrg(db, { plan: 'starter', anchor: '2028-01-01T00:00:00Z' });
    const res = await fetch(`${base}/api/ai`, {
      method: 'POST',
      headers: { authorization: await app.issuer.bearer(poor.members[0]!), 'x-tokengate-org': poor.orgId },
    });
    await expectProblem(res, 'plan_blocked');
    expect(ran).toBe(0);
  });

  it('converts method, URL and headers, and streams a large body in with back-pressure', async () => {
    const big = new Uint8Array(900).map((_, i) => (i * 7) % 251);
    const res = await fetch(`${base}/echo?x=1&y=%C3%A9`, {
      method: 'PUT',
      headers: { 'x-one': 'a', 'content-type': 'application/octet-stream' },
      body: big,
    });
    const seen = await res.json();
    expect(seen).toMatchObject({ method: 'PUT', url: `${base}/echo?x=1&y=%C3%A9`, length: 900, sum: big.reduce((a, b) => (a + b) % 65521, 0) });
    expect(seen.headers['x-one']).toBe('a');

    // A chunked upload, in many small pieces.
    const pieces = 40;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === pieces) return controller.close();
        await sleep(1);
        controller.enqueue(new Uint8Array(20).fill(sent++ % 200));
      },
    });
    let sent = 0;
    const chunked = await fetch(`${base}/echo`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    const got = await chunked.json();
    expect(got.length).toBe(pieces * 20);
    expect(got.headers['transfer-encoding']).toBe('chunked');
  });

  it('answers 413 to a body above the limit: before the handler by Content-Length, or cut off while streaming', async () => {
    const calls = echoCalls;
    const declared = await fetch(`${base}/echo`, { method: 'POST', body: new Uint8Array(1001) });
    expect((await expectProblem(declared, 'payload_too_large')).facts).toEqual({ maxBytes: 1000 });
    expect(echoCalls).toBe(calls);

    let n = 0;
    const endless = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await sleep(1);
        if (n++ > 200) return controller.close();
        controller.enqueue(new Uint8Array(100));
      },
    });
    const streamed = await fetch(`${base}/echo`, { method: 'POST', body: endless, duplex: 'half' } as RequestInit).catch((e: unknown) => e);
    if (streamed instanceof Response) await expectProblem(streamed, 'payload_too_large');
    else expect(String((streamed as Error).cause ?? streamed)).toMatch(/socket|reset|closed|EPIPE|other side/i);
    // The server still answers on a new connection.
    expect((await fetch(`${base}/echo`, { method: 'POST', body: 'ok' })).status).toBe(200);

    // Read with json(): a chunked body past the limit is answered 413, and the connection closes.
    const big = JSON.stringify({ pad: 'x'.repeat(2000) });
    const chunkedJson = await rawRequest(
      base,
      `POST /json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
    );
    expect(chunkedJson).toMatch(/^HTTP\/1\.1 413 /);
    expect(chunkedJson).toMatch(/connection: close/i);
    expect(chunkedJson).toContain('"code":"payload_too_large"');
  });

  it('keeps several Set-Cookie headers apart', async () => {
    const res = await fetch(`${base}/cookies`);
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(await res.text()).toBe('c');
  });

  it("aborts the request's signal when the client goes away; the guard then refunds", async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let sawAbort = false;
    ai = async (request) => {
      started();
      await new Promise<void>((resolve) => request.signal.addEventListener('abort', () => resolve(), { once: true }));
      sawAbort = true;
      throw new Error('client gone');
    };
    const before = (await kinds()).length;
    const client = new AbortController();
    const pending = fetch(`${base}/api/ai`, { method: 'POST', headers: await auth(), body: '{}', signal: client.signal }).catch((e: unknown) => e);
    await running;
    client.abort();
    expect(await pending).toBeInstanceOf(Error);
    await until(async () => (await kinds()).length === before + 2, 'the refund');
    expect(sawAbort).toBe(true);
    expect((await kinds()).slice(before)).toEqual(['reserve', 'release']);
  });

  it('works as a plain node:http listener, and answers 500 when the handler throws', async () => {
    const plain = http.createServer(
      toNodeHandler(async (request) => {
        if (new URL(request.url).pathname === '/boom') throw new Error('secret stack');
        return app.handler(request);
      }),
    );
    const url = await listen(plain);
    try {
      const res = await fetch(`${url}/api/tokengate/orgs/${org.orgId}/balances`, { headers: await auth() });
      expect((await res.json()).orgId).toBe(org.orgId);
      const head = await fetch(`${url}/api/tokengate/orgs/${org.orgId}/balances`, { method: 'HEAD', headers: await auth() });
      expect(head.status).toBe(405);
      const boom = await fetch(`${url}/boom`);
      const text = await boom.clone().text();
      await expectProblem(boom, 'internal');
      expect(text).not.toMatch(/secret/);
    } finally {
      plain.closeAllConnections();
      plain.close();
    }
  });

  it('builds the URL from the Host header, and from X-Forwarded-* only when trusted', async () => {
    const seen: string[] = [];
    const capture = async (request: Request) => (seen.push(request.url), new Response('ok'));
    const plain = http.createServer(toNodeHandler(capture));
    const proxied = http.createServer(toNodeHandler(capture, { trustProxy: true }));
    const [a, b] = [await listen(plain), await listen(proxied)];
    try {
      const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example.com' };
      await (await fetch(`${a}/p?q=1`, { headers })).text();
      await (await fetch(`${b}/p?q=1`, { headers })).text();
      expect(seen).toEqual([`${a}/p?q=1`, 'https://app.example.com/p?q=1']);
      // A request target that looks like another host stays a path on this one.
      const raw = await rawRequest(a, 'GET //evil.example/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      expect(raw).toMatch(/^HTTP\/1\.1 200/);
      expect(seen.at(-1)).toBe('http://127.0.0.1//evil.example/x');
      const badHost = await rawRequest(a, 'GET / HTTP/1.1\r\nHost: a b/c\r\nConnection: close\r\n\r\n');
      expect(badHost).toMatch(/^HTTP\/1\.1 400/);
    } finally {
      for (const s of [plain, proxied]) {
        s.closeAllConnections();
        s.close();
      }
    }
  });
});

/** Send raw bytes over TCP and return the whole answer. */
async function rawRequest(base: string, text: string): Promise<string> {
  const { connect } = await import('node:net');
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}
