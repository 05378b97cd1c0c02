/**
 * `toNodeHandler` fuzzed over a real socket: raw HTTP/1.1 bytes written with `node:net` to a
 * `node:http` server in front of the real handler (`createHandler`) and a guarded route, on a real
 * gate over PGlite. Every method Node's parser knows (TRACE, CONNECT, PROPFIND, …), lowercase and
 * garbage method tokens, odd request targets, huge and malformed headers, bad Content-Length,
 * chunked garbage, pipelined requests and clients that go away early.
 *
 * Properties, per connection: the server never answers 5xx; every error it answers with a body is
 * RFC 9457 problem+json with a stable `type`; the connection ends (each request waits for the
 * server to close it, never for a fixed time). After the run: no uncaught error, and the server
 * still answers a valid request.
 */
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS, ERROR_TYPE_BASE } from '../../src/core/error-codes.ts';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { createApp, type App } from '../../test/http/fixture.ts';
import { createOrg, type SeededOrg } from '../../test/ledger.ts';
import { supabaseAuth } from '../auth.ts';
import { guard } from '../guard.ts';
import { toNodeHandler } from './node.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

/** One parsed response. */
interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What one connection got back: every complete response, and whether bytes were left over. */
interface Exchange {
  responses: RawResponse[];
  rest: string;
}

let port = 0;

/**
 * Open a connection, write `chunks` one after another, then half-close (`end`) — or `destroy`
 * the socket right after the last chunk when `abort` — and resolve with everything the server
 * sent once the socket is closed.
 */
async function exchange(chunks: (string | Buffer)[], abort = false, methods: string[] = []): Promise<Exchange> {
  const socket = net.connect(port, '127.0.0.1');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('error', () => {}); // a reset after a refusal is an answer too
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  for (const chunk of chunks) {
    if (socket.destroyed) break;
    if (!socket.write(chunk)) await Promise.race([once(socket, 'drain'), closed]);
  }
  if (abort) socket.destroy();
  else socket.end();
  await closed;
  return parseResponses(Buffer.concat(received), methods);
}

/**
 * Parse a stream of HTTP/1.1 responses (Content-Length, chunked, or up to the close). `methods`:
 * the requests' methods in order (a response to HEAD has no body).
 */
function parseResponses(data: Buffer, methods: string[]): Exchange {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [statusLine = '', ...lines] = data.subarray(at, end).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!match) break;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      headers[name] = headers[name] === undefined ? line.slice(colon + 1).trim() : `${headers[name]}, ${line.slice(colon + 1).trim()}`;
    }
    const status = Number(match[1]);
    let bodyStart = end + 4;
    let body: Buffer = Buffer.alloc(0);
    const head = status >= 200 && methods[responses.length] === 'HEAD';
    if (status < 200 || status === 204 || status === 304 || head) {
      // no body
    } else if (headers['transfer-encoding']?.includes('chunked')) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', bodyStart);
        if (lineEnd < 0) return { responses, rest: data.subarray(at).toString('latin1') };
        const size = parseInt(data.subarray(bodyStart, lineEnd).toString('latin1'), 16);
        bodyStart = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n', bodyStart);
          bodyStart = trailerEnd < 0 ? data.length : trailerEnd + 2;
          break;
        }
        parts.push(data.subarray(bodyStart, bodyStart + size));
        bodyStart += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = data.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      body = data.subarray(bodyStart);
      bodyStart = data.length;
    }
    if (status >= 200) responses.push({ status, headers, body: body.toString('utf8') });
    at = bodyStart;
  }
  return { responses, rest: data.subarray(at).toString('latin1') };
}

/** The properties every response must have. */
function expectWellFormed(response: RawResponse, request: string): void {
  const where = `${response.status} for ${JSON.stringify(request.slice(0, 300))}:\n${response.body.slice(0, 500)}`;
  expect(response.status, where).toBeLessThan(500);
  if (response.status >= 400 && response.body.length > 0) {
    expect(response.headers['content-type'], where).toBe('application/problem+json');
    const problem = JSON.parse(response.body) as { type: string; status: number; code: keyof typeof ERROR_STATUS };
    expect(problem.type, where).toBe(ERROR_TYPE_BASE + problem.code);
    expect(problem.status, where).toBe(response.status);
    expect(ERROR_STATUS[problem.code], where).toBe(response.status);
  }
}

// ── generators ────────────────────────────────────────────────────────────────────────────────

/** Every method llhttp (Node's parser) accepts, the forbidden ones included, plus invalid ones. */
const KNOWN_METHODS = [
  'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY',
  'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'PURGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'REPORT', 'MKACTIVITY',
  'CHECKOUT', 'MERGE', 'MKCALENDAR', 'LINK', 'UNLINK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'SOURCE', 'QUERY',
];
const BAD_METHODS = ['get', 'post', 'trace', 'Trace', 'TRACK', 'FOO', 'G\u0000ET', 'GET GET', '(', '', 'ÄÖ', 'A'.repeat(100), 'GE\tT', 'P@ST', '*'];
const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...KNOWN_METHODS) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_METHODS) });

const ORG = '00000000-0000-4000-8000-0000000000aa';
const targets = (orgId: string) =>
  fc.oneof(
    fc.constantFrom(
      '/',
      '*',
      '/api/tokengate',
      `/api/tokengate/orgs/${orgId}/balances`,
      `/api/tokengate/orgs/${orgId}/deduct`,
      `/api/tokengate/orgs/${orgId}/reservations/${ORG}/commit`,
      '/api/tokengate/orgs/not-a-uuid/deduct',
      '/api/tokengate/../../etc/passwd',
      '//evil.example/x',
      '/%',
      '/%zz',
      '/a?b=%',
      '/\u00fc',
      'http://other.example/api/tokengate/orgs/x/balances',
      'no-slash',
      `/api/tokengate/orgs/${orgId}/stats?from=2028-01-01&to=%00`,
      '/ai',
      '/' + 'a'.repeat(10_000),
      `/api/tokengate/orgs/${orgId}/balances?x=` + 'y'.repeat(5_000),
    ),
    fc.string({ maxLength: 40 }).map((s) => `/api/tokengate/${s.replace(/[\s\r\n]/g, '')}`),
  );

const goodHeader = fc.constantFrom(
  'Authorization: Bearer garbage',
  'Authorization: Basic Zm9vOmJhcg==',
  'Authorization: ',
  'Content-Type: application/json',
  'Content-Type: text/plain',
  'Content-Type: application/json; charset=latin1',
  'X-Tokengate-Org: ' + ORG,
  'Idempotency-Key: k1',
  'Idempotency-Key: ' + 'k'.repeat(300),
  'Expect: 100-continue',
  'X-Forwarded-Host: evil.example',
  'X-Forwarded-Proto: gopher',
  'Cookie: a=1; b=2',
  'X-Empty:',
  'X-Bin: \u00ff\u00fe',
  'Accept: */*',
);
/** Headers Node's parser refuses (431 or 400) before any listener runs. */
const badHeader = fc.constantFrom('X-Long: ' + 'v'.repeat(20_000), ' Leading-Space: x', 'No-Colon', 'Bad Name: x');
const header = fc.oneof({ weight: 12, arbitrary: goodHeader }, { weight: 1, arbitrary: badHeader });
const host = fc.constantFrom<string | null>('127.0.0.1', 'localhost:80', '[::1]:8080', 'a b/c', '', 'h'.repeat(300), 'ex\u00e4mple.com', 'x@y', null);

/** How the body is framed and whether the client leaves early. */
const framing = fc.constantFrom(
  'none',
  'json',
  'invalid-json',
  'binary',
  'short', // Content-Length larger than what is sent, then the client half-closes
  'long', // more bytes than Content-Length (the rest is the next "request")
  'cl-negative',
  'cl-garbage',
  'cl-twice',
  'cl-huge',
  'chunked',
  'chunked-garbage',
  'chunked-unterminated',
  'te-and-cl',
  'te-gzip',
  'abort-after-headers',
  'abort-mid-body',
  'pipelined',
);

const CRLF = '\r\n';

/** The raw bytes of one generated exchange, and whether the client aborts. */
function build(spec: { method: string; target: string; host: string | null; headers: string[]; framing: string; version: string }) {
  const head = [`${spec.method} ${spec.target} ${spec.version}`];
  if (spec.host !== null) head.push(`Host: ${spec.host}`);
  head.push(...spec.headers);
  const json = '{"tokenType":"goal_generation"}';
  let body = '';
  let abort = false;
  let tail = '';
  switch (spec.framing) {
    case 'json':
      head.push(`Content-Length: ${Buffer.byteLength(json)}`);
      body = json;
      break;
    case 'invalid-json':
      head.push('Content-Length: 9');
      body = '{"a":1,,}';
      break;
    case 'binary':
      head.push('Content-Length: 4');
      body = '\u0000\u00ff\u00fe\u0001';
      break;
    case 'short':
      head.push('Content-Length: 100');
      body = json;
      break;
    case 'long':
      head.push('Content-Length: 5');
      body = json;
      break;
    case 'cl-negative':
      head.push('Content-Length: -1');
      break;
    case 'cl-garbage':
      head.push('Content-Length: abc');
      body = 'abc';
      break;
    case 'cl-twice':
      head.push('Content-Length: 2', 'Content-Length: 3');
      body = 'abc';
      break;
    case 'cl-huge':
      head.push('Content-Length: 99999999999');
      body = 'x'.repeat(1000);
      break;
    case 'chunked':
      head.push('Transfer-Encoding: chunked');
      body = `${Buffer.byteLength(json).toString(16)}${CRLF}${json}${CRLF}0${CRLF}${CRLF}`;
      break;
    case 'chunked-garbage':
      head.push('Transfer-Encoding: chunked');
      body = `zz${CRLF}hello${CRLF}0${CRLF}${CRLF}`;
      break;
    case 'chunked-unterminated':
      head.push('Transfer-Encoding: chunked');
      body = `5${CRLF}hello${CRLF}`;
      break;
    case 'te-and-cl':
      head.push('Transfer-Encoding: chunked', 'Content-Length: 3');
      body = `3${CRLF}abc${CRLF}0${CRLF}${CRLF}`;
      break;
    case 'te-gzip':
      head.push('Transfer-Encoding: gzip');
      body = 'abc';
      break;
    case 'abort-after-headers':
      head.push('Content-Length: 10');
      abort = true;
      break;
    case 'abort-mid-body':
      head.push('Content-Length: 1000');
      body = 'x'.repeat(10);
      abort = true;
      break;
    case 'pipelined':
      tail = `GET /api/tokengate/orgs/${ORG}/balances HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Connection: close${CRLF}${CRLF}`;
      break;
  }
  if (spec.framing !== 'pipelined') head.push('Connection: close');
  const request = head.join(CRLF) + CRLF + CRLF + body + tail;
  const methods = spec.framing === 'pipelined' ? [spec.method, 'GET'] : [spec.method];
  return { chunks: [Buffer.from(request, 'latin1')], abort, request, methods };
}

describe('toNodeHandler over raw sockets [pglite]', () => {
  let db: TestDb;
  let app: App;
  let org: SeededOrg;
  let server: Server;
  let requests = 0;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  beforeAll(async () => {
    db = await freshPglite();
    app = await createApp(db);
    org = await createOrg(db, { plan: 'pro' });
    const guarded = guard({ gate: app.gate, authenticate: supabaseAuth(app.issuer.authOptions), tokenType: 'goal_generation' }, async (request) =>
      Response.json({ got: (await request.text()).length }),
    );
    const handler = async (request: Request) => (new URL(request.url).pathname === '/ai' ? guarded(request) : app.handler(request));
    server = http.createServer(toNodeHandler(handler, { maxBodyBytes: 4096 }));
    server.on('request', () => requests++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    server?.closeAllConnections();
    server?.close();
    await db?.close();
  });

  it('answers methods no Fetch Request can carry with 405 problem+json, never 500', async () => {
    for (const m of ['TRACE', 'TRACK']) {
      for (const target of ['/', `/api/tokengate/orgs/${org.orgId}/balances`, '/ai']) {
        const { responses } = await exchange([`${m} ${target} HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Connection: close${CRLF}${CRLF}`]);
        if (m === 'TRACK' && responses.length === 0) continue; // not a method Node's parser knows: refused at the socket
        expect(responses.map((r) => r.status), `${m} ${target}`).toEqual([m === 'TRACK' ? 400 : 405]);
        if (m === 'TRACE') {
          expect(responses[0]!.headers['content-type']).toBe('application/problem+json');
          expect(JSON.parse(responses[0]!.body)).toMatchObject({ type: `${ERROR_TYPE_BASE}method_not_allowed`, status: 405, code: 'method_not_allowed' });
        }
      }
    }
    // A TRACE with a body, and a TRACE pipelined before a valid request on the same connection.
    const withBody = await exchange([`TRACE / HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Content-Length: 3${CRLF}Connection: close${CRLF}${CRLF}abc`]);
    expect(withBody.responses.map((r) => r.status)).toEqual([405]);
    const pipelined = await exchange([
      `TRACE / HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}${CRLF}GET /api/tokengate/orgs/${org.orgId}/balances HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Connection: close${CRLF}${CRLF}`,
    ]);
    expect(pipelined.responses.map((r) => r.status)).toEqual([405, 401]);
    // CONNECT never reaches a request listener: Node closes the socket without an answer.
    const connect = await exchange([`CONNECT 127.0.0.1:443 HTTP/1.1${CRLF}Host: 127.0.0.1:443${CRLF}${CRLF}`]);
    for (const response of connect.responses) expectWellFormed(response, 'CONNECT');
  });

  it(`survives ${RUNS} generated raw requests: no 5xx, problem+json errors, every connection ends`, async () => {
    const spec = fc.record({
      method,
      target: targets(org.orgId),
      host,
      headers: fc.array(header, { maxLength: 4 }),
      framing,
      version: fc.oneof({ weight: 10, arbitrary: fc.constantFrom('HTTP/1.1', 'HTTP/1.0') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.x', 'HTTP/1.1 extra') }),
    });
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const { chunks, abort, request, methods } = build(s);
        const { responses } = await exchange(chunks, abort, methods);
        for (const response of responses) {
          expectWellFormed(response, request);
          seen.add(response.status);
        }
      }),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) },
    );

    // Huge header blocks (Node's limit is 16 KiB: 431), many headers, a request in tiny pieces.
    const huge = await exchange([`GET / HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}X-A: ${'a'.repeat(100_000)}${CRLF}Connection: close${CRLF}${CRLF}`]);
    for (const response of huge.responses) expectWellFormed(response, 'huge header');
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${i}`).join(CRLF);
    const manyHeaders = await exchange([`GET / HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}${many}${CRLF}Connection: close${CRLF}${CRLF}`]);
    for (const response of manyHeaders.responses) expectWellFormed(response, 'many headers');
    const text = `POST /api/tokengate/orgs/${org.orgId}/deduct HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Content-Type: application/json${CRLF}Content-Length: 31${CRLF}Connection: close${CRLF}${CRLF}{"tokenType":"goal_generation"}`;
    const pieces = await exchange([...text].map((c) => c));
    expect(pieces.responses.map((r) => r.status)).toEqual([401]);
    // A body over the adapter's limit, declared: 413 before the handler, and the connection closes.
    const declared = await exchange([`POST /ai HTTP/1.1${CRLF}Host: 127.0.0.1${CRLF}Content-Length: 5000${CRLF}${CRLF}${'x'.repeat(100)}`]);
    expect(declared.responses.map((r) => r.status)).toEqual([413]);
    expect(declared.responses[0]!.headers.connection).toBe('close');

    expect(uncaught).toEqual([]);
    // The handler's answers (401, 404, 405) and refusals (400) were all reached.
    expect([...seen]).toEqual(expect.arrayContaining([400, 401, 404, 405]));
    // Most generated requests got past Node's parser: the adapter, not only the parser, was fuzzed.
    expect(requests).toBeGreaterThan(RUNS / 3);
    // The server still answers a valid request.
    const ok = await fetch(`http://127.0.0.1:${port}/api/tokengate/orgs/${org.orgId}/balances`, {
      headers: { authorization: await app.issuer.bearer(org.members[0]!), 'x-tokengate-org': org.orgId },
    });
    expect(ok.status).toBe(200);
  });
});
