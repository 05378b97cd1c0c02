import type { IncomingMessage, ServerResponse } from 'node:http';
import { NodeRequest, sendNodeResponse } from 'srvx/node';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { problemResponse } from '../http/problem-response.ts';

/** A Fetch handler (`(request: Request) => Promise<Response>`), e.g. from `createHandler` or `guard`. */
type FetchHandler = (request: Request) => Promise<Response>;

/** Options of `toNodeHandler`. */
export interface NodeHandlerOptions {
  /**
   * Largest request body passed to the handler, in bytes. A larger `Content-Length` is answered
   * 413 `payload_too_large` without calling the handler; a body that grows past it while it is
   * read fails to read (answered 413 when the connection still allows an answer, else the
   * connection is closed). Default 1 MiB. (`createHandler` applies its own, smaller limit.)
   */
  maxBodyBytes?: number;
  /**
   * Build the request URL from `X-Forwarded-Proto` / `X-Forwarded-Host` (only behind a proxy you
   * run, which sets them). Default false: the socket's protocol and the `Host` header.
   */
  trustProxy?: boolean;
}

const DEFAULT_MAX_BODY_BYTES = 1_048_576;
/** An RFC 9110 method token. */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Methods the Fetch standard forbids: `new Request` throws for them, so no Fetch handler can receive them. */
const FORBIDDEN_METHOD = /^(connect|trace|track)$/i;
/** A `Host` value: a name, IPv4 or [IPv6] literal, with an optional port. */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(:\d{1,5})?$/;
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A Node.js request listener for a Fetch handler: usable with `node:http`/`node:https`, Express
 * (4 and 5), Fastify's raw mode, Koa (`ctx.req`, `ctx.res`)… The conversion is
 * [srvx](https://srvx.h3.dev)'s (an optional peer dependency: `npm i srvx`): the `Request` is
 * built lazily from the Node request (method, full URL — Express's `originalUrl`, so
 * `app.use(prefix, …)` mounting works —, every header, the body streamed on demand), the
 * `Response` is streamed out with back-pressure (several `Set-Cookie` headers kept apart), and the
 * request's `signal` aborts when the client goes away (the response body is then cancelled).
 *
 * Mount it BEFORE any body parser. If one already consumed the body (Express's `express.json()`),
 * `req.body` is passed on re-serialized (a Buffer or string as is, anything else as JSON).
 * The returned function never rejects, and every error is RFC 9457 problem+json: a handler that
 * throws is answered 500 `internal`; a method no Fetch `Request` can carry (`TRACE`, `CONNECT`,
 * `TRACK`) is answered 405 `method_not_allowed` without calling the handler; a malformed `Host`
 * 400 `invalid_request`.
 *
 * @example
 * // Express
 * const app = express();
 * app.use('/api/tokengate', toNodeHandler(createHandler({ gate, authenticate })));
 * app.post('/api/generate-quests', toNodeHandler(guard({ gate, authenticate, tokenType: 'quest_generation' }, generate)));
 *
 * @example
 * // node:http
 * http.createServer(toNodeHandler(handler)).listen(3000);
 */
export function toNodeHandler(
  handler: FetchHandler,
  options: NodeHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  if (typeof handler !== 'function') throw new TypeError('toNodeHandler: a handler function is required');
  const { maxBodyBytes = DEFAULT_MAX_BODY_BYTES, trustProxy = false } = options;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) throw new TypeError('toNodeHandler: maxBodyBytes must be a whole number of bytes');

  return async (req, res) => {
    const url = req.url;
    let response: Response;
    try {
      const refused = refuse(req, maxBodyBytes);
      if (refused) throw refused;
      // srvx reads `req.url` lazily: give it the full path (Express strips the mount prefix from
      // `req.url`) in origin-form (an absolute-form target from a proxy keeps its path only).
      req.url = requestTarget(req);
      passParsedBody(req);
      response = await handler(new NodeRequest({ req, res, maxRequestBodySize: maxBodyBytes, trustProxy }) as Request);
      if (!(response instanceof Response)) throw new TypeError('toNodeHandler: the handler must resolve to a Response');
    } catch (error) {
      response = problemResponse(toTokenGateError(error, maxBodyBytes));
    }
    try {
      // A body left unread after a refusal: close the connection after answering, so the next
      // request on this socket never waits behind it.
      if (response.status === 413 && !req.complete && !res.headersSent) res.setHeader('connection', 'close');
      await sendNodeResponse(res, keepCookiesApart(res, response)).catch(() => res.destroy());
    } finally {
      req.url = url;
    }
  };
}

/**
 * Several `Set-Cookie` headers, set on `res` directly: when `res` already has headers (Express's
 * `X-Powered-By`), Node merges the ones srvx passes to `writeHead` with `setHeader`, and only the
 * last cookie would survive.
 */
function keepCookiesApart(res: ServerResponse, response: Response): Response {
  const cookies = response.headers.getSetCookie();
  if (cookies.length < 2 || res.headersSent) return response;
  res.setHeader('set-cookie', cookies);
  const headers = new Headers(response.headers);
  headers.delete('set-cookie');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** Why the request cannot reach the handler, or null when it can. */
function refuse(req: IncomingMessage, maxBodyBytes: number): TokenGateError | null {
  const method = req.method ?? 'GET';
  if (!METHOD_TOKEN.test(method) || FORBIDDEN_METHOD.test(method)) {
    return new TokenGateError('method_not_allowed', 'This method is not supported.', { facts: { method: METHOD_TOKEN.test(method) ? method : null } });
  }
  // (A malformed X-Forwarded-Host is ignored by srvx: the Host header is used instead.)
  const host = req.headers.host;
  if (host !== undefined && !HOST.test(host)) {
    return new TokenGateError('invalid_request', 'The Host header is malformed.', { errors: [{ path: 'headers.host', message: 'must be a host name' }] });
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBodyBytes) return payloadTooLarge(maxBodyBytes);
  return null;
}

/** The request target in origin-form, with the path Express stripped (`originalUrl`). */
function requestTarget(req: IncomingMessage): string {
  let target = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  if (ABSOLUTE_FORM.test(target)) {
    try {
      const absolute = new URL(target);
      target = absolute.pathname + absolute.search;
    } catch {
      target = '/';
    }
  }
  return target.startsWith('/') ? target : `/${target}`;
}

/** A body parser (e.g. `express.json()`) consumed the stream: hand srvx what it read as `rawBody`. */
function passParsedBody(req: IncomingMessage): void {
  const parsed = (req as { body?: unknown }).body;
  if (!req.readableEnded || parsed === undefined || 'rawBody' in req) return;
  const bytes = typeof parsed === 'string' || parsed instanceof Uint8Array ? parsed : JSON.stringify(parsed);
  (req as { rawBody?: Buffer }).rawBody = typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toTokenGateError(error: unknown, maxBodyBytes: number): TokenGateError {
  if (error instanceof TokenGateError) return error;
  // srvx's body limit (`HTTPError` with status 413), rethrown by the handler.
  if ((error as { status?: unknown } | null)?.status === 413) return payloadTooLarge(maxBodyBytes);
  return new TokenGateError('internal', 'Unexpected error.');
}

function payloadTooLarge(maxBytes: number): TokenGateError {
  return new TokenGateError('payload_too_large', `The body must be at most ${maxBytes} bytes.`, { facts: { maxBytes } });
}
