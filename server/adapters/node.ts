import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { problemResponse } from '../http/problem-response.ts';

/** A Fetch handler (`(request: Request) => Promise<Response>`), e.g. from `createHandler` or `guard`. */
type FetchHandler = (request: Request) => Promise<Response>;

/** Options of `toNodeHandler`. */
export interface NodeHandlerOptions {
  /**
   * Largest request body passed to the handler, in bytes. A larger `Content-Length` is answered
   * 413 `payload_too_large` without calling the handler; a body that grows past it while streaming
   * is cut off and answered 413 too. Default 1 MiB. (`createHandler` applies its own, smaller limit.)
   */
  maxBodyBytes?: number;
  /**
   * Build the request URL from `X-Forwarded-Proto` / `X-Forwarded-Host` (only behind a proxy you
   * run, which sets them). Default false: the socket's protocol and the `Host` header.
   */
  trustProxy?: boolean;
}

/** What the adapter tracks about one request body. */
interface BodyState {
  /** The body grew past the limit. */
  tooLarge: boolean;
  /** The whole body was read (or there was none). */
  complete: boolean;
  /** Stop reading and discard the rest. */
  stop(): void;
}

const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/**
 * A Node.js request listener for a Fetch handler: usable with `node:http`/`node:https`, Express
 * (4 and 5), Fastify's raw mode, Koa (`ctx.req`, `ctx.res`)… It converts the request (method, full
 * URL — Express's `originalUrl`, so `app.use(prefix, …)` mounting works —, every header), streams
 * the body in with back-pressure and a size limit, streams the response out (with back-pressure,
 * several `Set-Cookie` headers kept apart), and aborts the request's `signal` when the client goes
 * away (the response body is then cancelled).
 *
 * Mount it BEFORE any body parser. If one already consumed the body (Express's `express.json()`),
 * `req.body` is passed on re-serialized (a Buffer or string as is, anything else as JSON).
 * The returned function never rejects: a handler that throws is answered 500 `internal`.
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
    const aborter = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) aborter.abort(new TokenGateError('aborted', 'The client closed the connection.'));
    };
    res.once('close', onClose);
    const body: BodyState = { tooLarge: false, complete: true, stop: () => {} };

    let response: Response;
    try {
      const request = toRequest(req, { signal: aborter.signal, maxBodyBytes, trustProxy, body });
      response = await handler(request);
      if (!(response instanceof Response)) throw new TypeError('toNodeHandler: the handler must resolve to a Response');
    } catch (error) {
      response = problemResponse(error instanceof TokenGateError ? error : new TokenGateError('internal', 'Unexpected error.'));
    }
    if (body.tooLarge && response.status !== 413) {
      await response.body?.cancel().catch(() => {});
      response = problemResponse(payloadTooLarge(maxBodyBytes));
    }
    // A body nobody read to the end: discard the rest and close the connection after answering,
    // so the next request on this socket never starts in the middle of it.
    const unread = !body.complete;
    try {
      await writeResponse(res, response, { head: req.method === 'HEAD', close: unread, signal: aborter.signal });
    } finally {
      if (unread) body.stop();
      res.off('close', onClose);
    }
  };
}

function toRequest(
  req: IncomingMessage,
  options: { signal: AbortSignal; maxBodyBytes: number; trustProxy: boolean; body: BodyState },
): Request {
  const method = (req.method ?? 'GET').toUpperCase();
  const url = requestUrl(req, options.trustProxy);
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.startsWith(':')) continue; // HTTP/2 pseudo-headers
    try {
      headers.append(name, raw[i + 1]!);
    } catch {
      throw new TokenGateError('invalid_request', 'A request header is malformed.', { errors: [{ path: 'headers', message: 'malformed header' }] });
    }
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: options.signal };

  if (method !== 'GET' && method !== 'HEAD') {
    const parsed = (req as { body?: unknown }).body;
    if (req.readableEnded && parsed !== undefined) {
      // A body parser got here first (e.g. express.json()): pass on what it read.
      const bytes = typeof parsed === 'string' || parsed instanceof Uint8Array ? parsed : JSON.stringify(parsed);
      headers.delete('content-length');
      headers.delete('transfer-encoding');
      init.body = typeof bytes === 'string' ? bytes : new Uint8Array(bytes);
    } else if (hasBody(req)) {
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > options.maxBodyBytes) {
        options.body.complete = false;
        options.body.stop = () => discard(req);
        options.body.tooLarge = true;
        throw payloadTooLarge(options.maxBodyBytes);
      }
      init.body = bodyStream(req, options.maxBodyBytes, options.body);
      init.duplex = 'half';
    }
  }
  return new Request(url, init);
}

/** HTTP/1.1: a request has a body only with Content-Length (> 0) or Transfer-Encoding. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function requestUrl(req: IncomingMessage, trustProxy: boolean): string {
  const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim() || undefined;
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  let proto = encrypted ? 'https' : 'http';
  let host = req.headers.host;
  if (trustProxy) {
    const forwardedProto = first(req.headers['x-forwarded-proto'])?.toLowerCase();
    if (forwardedProto === 'http' || forwardedProto === 'https') proto = forwardedProto;
    host = first(req.headers['x-forwarded-host']) ?? host;
  }
  let origin: string;
  try {
    const base = new URL(`${proto}://${host || 'localhost'}`);
    if (base.pathname !== '/' || base.search || base.hash || base.username || base.password) throw new Error('not a host');
    origin = base.origin;
  } catch {
    throw new TokenGateError('invalid_request', 'The Host header is malformed.', { errors: [{ path: 'headers.host', message: 'must be a host name' }] });
  }
  let target = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    // absolute-form request target (from a proxy): keep its path only
    const absolute = new URL(target);
    target = absolute.pathname + absolute.search;
  }
  if (!target.startsWith('/')) target = `/${target}`;
  return origin + target;
}

/** The request body as a web stream: read on demand (back-pressure), cut off past `maxBytes`. */
function bodyStream(req: IncomingMessage, maxBytes: number, state: BodyState): ReadableStream<Uint8Array> {
  let size = 0;
  let settled = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  state.complete = false;

  const detach = () => {
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onPrematureClose);
  };
  const onData = (chunk: Buffer | string) => {
    if (settled) return;
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    size += bytes.byteLength;
    if (size > maxBytes) {
      state.tooLarge = true;
      detach();
      req.pause();
      controller.error(payloadTooLarge(maxBytes));
      return;
    }
    controller.enqueue(bytes);
    if ((controller.desiredSize ?? 0) <= 0) req.pause();
  };
  const onEnd = () => {
    if (settled) return;
    detach();
    state.complete = true;
    controller.close();
  };
  const onError = () => {
    if (settled) return;
    detach();
    controller.error(new TokenGateError('aborted', 'The request body could not be read.'));
  };
  const onPrematureClose = () => {
    if (!settled && !req.complete) onError();
  };
  state.stop = () => {
    if (!settled) detach();
    discard(req);
  };

  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onPrematureClose);
    },
    pull() {
      if (!settled) req.resume();
    },
    cancel() {
      if (!settled) detach();
    },
  });
}

/** Read and drop whatever is left of a request body. */
function discard(req: IncomingMessage): void {
  if (!req.readableEnded && !req.destroyed) req.resume();
}

async function writeResponse(
  res: ServerResponse,
  response: Response,
  options: { head: boolean; close: boolean; signal: AbortSignal },
): Promise<void> {
  const body = response.body;
  if (res.headersSent || res.destroyed || res.writableEnded) {
    await body?.cancel().catch(() => {});
    return;
  }
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  for (const [name, value] of response.headers) if (name !== 'set-cookie') res.setHeader(name, value);
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (options.close) res.setHeader('connection', 'close');

  if (body === null || options.head) {
    await body?.cancel().catch(() => {});
    res.end();
    return;
  }
  const reader = body.getReader();
  const cancel = () => void reader.cancel(options.signal.reason).catch(() => {});
  if (options.signal.aborted) cancel();
  options.signal.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) await drained(res);
    }
    if (res.destroyed) await reader.cancel().catch(() => {});
    else res.end();
  } catch {
    // The body failed midway: cut the connection, so the client sees a truncated answer, not a complete one.
    res.destroy();
  } finally {
    options.signal.removeEventListener('abort', cancel);
    try {
      reader.releaseLock();
    } catch {
      // a read still pending after a cancel: nothing left to release
    }
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function payloadTooLarge(maxBytes: number): TokenGateError {
  return new TokenGateError('payload_too_large', `The body must be at most ${maxBytes} bytes.`, { facts: { maxBytes } });
}
