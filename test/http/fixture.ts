/**
 * The HTTP API under test: the real handler, the real gate and the real ledger on a test database
 * (PGlite via `pgliteStore`), real JWTs from a fake Supabase project (`test/jwt.ts`), and a store
 * wrapper that counts calls per ledger function (to see which requests reached the database).
 */
import { expect } from 'vitest';
import { ERROR_STATUS, ERROR_TYPE_BASE, isErrorCode } from '../../src/core/error-codes.ts';
import type { ProblemDetails } from '../../src/core/token-gate-error.ts';
import { bearerSecret, supabaseAuth } from '../../server/auth.ts';
import { createTokenGate } from '../../server/gate.ts';
import { createHandler, type HandlerOptions } from '../../server/http/handler.ts';
import type { LedgerFunction } from '../../server/ledger-call.ts';
import type { TokenStore } from '../../server/store.ts';
import { pgliteStore } from '../../server/stores/pglite-store.ts';
import type { TestDb } from '../db.ts';
import { createTestIssuer, type SignOptions, type TestIssuer } from '../jwt.ts';

/**
 * The service secret `authenticateServer` accepts in tests.
 *
 * @example
 * await app.request('/admin/accounts', { server: true, json }); // sends `Bearer ${SERVICE_SECRET}`
 */
export const SERVICE_SECRET = 'test-service-secret-0123456789abcdef';
/**
 * The base URL requests are built on.
 *
 * @example
 * await app.handler(new Request(`${BASE}/orgs/${orgId}/balances`));
 */
export const BASE = 'http://localhost/api/tokengate';

/**
 * Every call a store received: function, and whether it succeeded.
 *
 * @example
 * expect(app.calls.filter((c: StoreCall) => c.ok)).toHaveLength(0);
 */
export interface StoreCall {
  fn: LedgerFunction;
  ok: boolean;
}

/**
 * A store that forwards to `inner` and records each call (and lets a test run code around it).
 *
 * @example
 * const { store, calls } = countingStore(pgliteStore(db));
 */
export function countingStore(
  inner: TokenStore,
  hooks: { before?: (fn: LedgerFunction) => Promise<void>; after?: (fn: LedgerFunction, ok: boolean) => Promise<void> } = {},
) {
  const calls: StoreCall[] = [];
  const store: TokenStore = {
    async rpc(fn, args, options) {
      await hooks.before?.(fn);
      try {
        const result = await inner.rpc<never>(fn, args, options);
        calls.push({ fn, ok: true });
        await hooks.after?.(fn, true);
        return result;
      } catch (error) {
        calls.push({ fn, ok: false });
        await hooks.after?.(fn, false);
        throw error;
      }
    },
  };
  return { store, calls };
}

/**
 * A TestDb as the store `pgliteStore` builds on it.
 *
 * @example
 * const gate = createTokenGate({ store: storeFor(await freshPglite()) });
 */
export function storeFor(db: TestDb): TokenStore {
  return pgliteStore({ query: async <T,>(sql: string, params?: unknown[]) => ({ rows: (await db.query(sql, params)) as T[] }) });
}

/**
 * Options of `createApp`.
 *
 * @example
 * await createApp(db, { exportPageSize: 100, hooks: { before: async (fn) => console.log(fn) } });
 */
export interface AppOptions extends Partial<Omit<HandlerOptions, 'gate' | 'authenticate'>> {
  issuer?: TestIssuer;
  hooks?: Parameters<typeof countingStore>[1];
}

/**
 * Request options of `App.request`.
 *
 * @example
 * await app.request(path, { user, json: { tokenType: 'goal_generation' }, idempotencyKey: 'k1' });
 */
export interface RequestOptions {
  method?: string;
  /** A user id: sends `Authorization: Bearer <ES256 token for it>`. */
  user?: string;
  /** How to sign the user's token. */
  sign?: SignOptions;
  /** Send the service secret instead of a user token. */
  server?: boolean;
  /** A JSON body (sent with `Content-Type: application/json`). */
  json?: unknown;
  /** A raw body (no content type unless given in headers). */
  body?: BodyInit;
  headers?: Record<string, string>;
  idempotencyKey?: string;
}

/**
 * The app: handler + gate + store counter + a fake Supabase project.
 *
 * @example
 * const app = await createApp(db());
 * const res = await app.request('/orgs/' + org.orgId + '/balances', { user: org.owner });
 */
export async function createApp(db: TestDb, options: AppOptions = {}) {
  const issuer = options.issuer ?? (await createTestIssuer());
  const { store, calls } = countingStore(storeFor(db), options.hooks);
  const gate = createTokenGate({ store });
  const { issuer: _issuer, hooks: _hooks, ...handlerOptions } = options;
  const handler = createHandler({
    gate,
    authenticate: supabaseAuth(issuer.authOptions),
    authenticateServer: bearerSecret(SERVICE_SECRET),
    ...handlerOptions,
  });

  /** Build a Request for `path` (relative to the base path). */
  async function build(path: string, opts: RequestOptions = {}): Promise<Request> {
    const headers = new Headers();
    if (opts.user) headers.set('authorization', await issuer.bearer(opts.user, opts.sign));
    if (opts.server) headers.set('authorization', `Bearer ${SERVICE_SECRET}`);
    if (opts.idempotencyKey !== undefined) headers.set('idempotency-key', opts.idempotencyKey);
    let body: BodyInit | undefined = opts.body;
    if (opts.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(opts.json);
    }
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers.set(k, v);
    const method = opts.method ?? (body === undefined ? 'GET' : 'POST');
    return new Request(BASE + path, { method, headers, body });
  }

  return {
    handler,
    gate,
    issuer,
    calls,
    build,
    /** Send a request through the handler. */
    async request(path: string, opts: RequestOptions = {}): Promise<Response> {
      return handler(await build(path, opts));
    },
  };
}

/**
 * The app `createApp` returns.
 *
 * @example
 * let app: App; beforeAll(async () => { app = await createApp(db) });
 */
export type App = Awaited<ReturnType<typeof createApp>>;

/**
 * Assert a response is a valid problem+json of `code` (and its status) and return the problem.
 *
 * @example
 * const problem = await expectProblem(res, 'insufficient_tokens');
 */
export async function expectProblem(response: Response, code: keyof typeof ERROR_STATUS): Promise<ProblemDetails> {
  const problem = await problemOf(response);
  expect({ status: response.status, code: problem.code }).toEqual({ status: ERROR_STATUS[code], code });
  return problem;
}

/**
 * Check that a 4xx/5xx response is well-formed problem+json (content type, no-store, type URI,
 * status, known code) and return it; throws with a description otherwise.
 *
 * @example
 * const problem = await problemOf(res); // throws if it is not a valid problem
 */
export async function problemOf(response: Response): Promise<ProblemDetails> {
  const text = await response.text();
  const where = `${response.status} ${text.slice(0, 300)}`;
  if (response.headers.get('content-type') !== 'application/problem+json') throw new Error(`not problem+json: ${where}`);
  if (response.headers.get('cache-control') !== 'no-store') throw new Error(`cacheable problem: ${where}`);
  const problem = JSON.parse(text) as ProblemDetails;
  if (!isErrorCode(problem.code)) throw new Error(`unknown code: ${where}`);
  if (problem.type !== ERROR_TYPE_BASE + problem.code) throw new Error(`wrong type URI: ${where}`);
  if (problem.status !== response.status || ERROR_STATUS[problem.code] !== response.status) throw new Error(`status mismatch: ${where}`);
  if (typeof problem.title !== 'string' || typeof problem.detail !== 'string') throw new Error(`missing title/detail: ${where}`);
  if (response.status === 401 && response.headers.get('www-authenticate') !== 'Bearer') throw new Error(`401 without WWW-Authenticate: ${where}`);
  return problem;
}

/**
 * Read a JSON success response, asserting its status, content type and cache-control.
 *
 * @example
 * const r = await jsonOf(await app.request(path, opts), 201);
 */
export async function jsonOf<T = any>(response: Response, status = 200): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/json');
  expect(response.headers.get('cache-control')).toBe('no-store');
  return JSON.parse(text) as T;
}

export { fingerprint } from '../ledger.ts';
