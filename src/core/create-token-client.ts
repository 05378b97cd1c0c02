/**
 * The headless HTTP client of Tokengate's member API. Framework-free (never imports React): the
 * React hooks, a Vue/Svelte binding or a plain script all build on it.
 */
import { TokenGateError } from './token-gate-error.ts';
import type { Balances, CheckResult, DeductResult, Grant, ReserveResult, ResolveResult, Stats, TokenTypeId } from './types.ts';

/**
 * Options of `createTokenClient`.
 *
 * @example
 * const options: TokenClientOptions = {
 *   baseUrl: '/api/tokengate',
 *   getAccessToken: async () => (await supabase.auth.getSession()).data.session?.access_token ?? null,
 *   orgId: () => useOrgStore.getState().currentOrgId,
 * };
 */
export interface TokenClientOptions {
  /** Where the handler is mounted, e.g. `/api/tokengate` or `https://api.example.com/api/tokengate`. */
  baseUrl: string;
  /** The fetch to use (tests, SSR, instrumented fetches). Default: the global `fetch`. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** The caller's access token (a Supabase JWT). `null`/`undefined` sends no `Authorization` header. */
  getAccessToken: () => string | null | undefined | Promise<string | null | undefined>;
  /**
   * The paying organization: a uuid, or a function read on every call (for org switchers). It is
   * synchronous because query keys are built from it during render.
   */
  orgId: string | (() => string);
}

/**
 * Options every call accepts.
 *
 * @example
 * await client.balances({ signal: controller.signal, orgId: otherOrgId });
 */
export interface CallOptions {
  /** Cancels the request: the call then rejects with `TokenGateError('aborted')`. */
  signal?: AbortSignal;
  /** Act on this organization instead of the client's current one. */
  orgId?: string;
}

/**
 * A date range, days as `YYYY-MM-DD` (UTC), both inclusive.
 *
 * @example
 * const january: DateRange = { from: '2028-01-01', to: '2028-01-31' };
 */
export interface DateRange {
  from: string;
  to: string;
}

/**
 * Which grants to list.
 *
 * @example
 * await client.grants({ tokenType: 'chat', includeEnded: true });
 */
export interface GrantsQuery {
  /** Only grants of this token type. Default: every type. */
  tokenType?: TokenTypeId;
  /** Also grants that ended (expired, revoked, spent). Default false. */
  includeEnded?: boolean;
}

/**
 * What the guard reports on a charged answer (see `GUARD_HEADERS` in `server/guard.ts`).
 *
 * @example
 * const { charged, available } = readGuardInfo(response);
 */
export interface GuardInfo {
  /** Tokens charged for this request's key, or null when the header is absent (not charged). */
  charged: number | null;
  /** Tokens of the type still available after the charge; `'unlimited'`; null when absent. */
  available: number | 'unlimited' | null;
  /** The reservation id of the charge, or null. */
  reservationId: string | null;
  /** True when the Idempotency-Key was seen before and nothing new was charged. */
  replayed: boolean;
}

/**
 * `RequestInit` of `callGuarded`, plus the key that makes retries safe.
 *
 * @example
 * await client.callGuarded('/api/generate', { method: 'POST', body, idempotencyKey: attemptId });
 */
export interface GuardedRequestInit extends RequestInit {
  /** Sent as `Idempotency-Key`. Default: a new `crypto.randomUUID()` (so retries are charged again). */
  idempotencyKey?: string;
  /** The organization to charge instead of the client's current one. */
  orgId?: string;
}

/**
 * The client `createTokenClient` returns: one method per route of the member API.
 *
 * @example
 * const { tokenTypes } = await client.balances();
 */
export interface TokenClient {
  /** The organization calls act on now (`options.orgId`, read at call time). */
  orgId(): string;
  /** GET `/orgs/:orgId/balances`. */
  balances(options?: CallOptions): Promise<Balances>;
  /** GET `/orgs/:orgId/check-balance`: may the caller spend `amount` (default: one use) now? */
  checkBalance(tokenType: TokenTypeId, options?: CallOptions & { amount?: number }): Promise<CheckResult>;
  /** POST `/orgs/:orgId/deduct`: charge `units` uses now (a key is generated when absent). */
  deduct(
    tokenType: TokenTypeId,
    options?: CallOptions & { idempotencyKey?: string; units?: number; metadata?: Record<string, unknown> },
  ): Promise<DeductResult>;
  /** POST `/orgs/:orgId/reservations`: hold `estimate` tokens (default: one use) until commit or release. */
  reserve(
    tokenType: TokenTypeId,
    options?: CallOptions & { idempotencyKey?: string; estimate?: number; ttlSeconds?: number; metadata?: Record<string, unknown> },
  ): Promise<ReserveResult>;
  /** POST `/orgs/:orgId/reservations/:id/commit`: charge what was actually used. */
  commit(reservationId: string, options: CallOptions & { actual: number; metadata?: Record<string, unknown> }): Promise<ResolveResult>;
  /** POST `/orgs/:orgId/reservations/:id/release`: refund the hold. */
  release(reservationId: string, options?: CallOptions & { metadata?: Record<string, unknown> }): Promise<ResolveResult>;
  /** GET `/orgs/:orgId/stats` (at most 366 days). */
  stats(range: DateRange, options?: CallOptions): Promise<Stats>;
  /**
   * GET `/orgs/:orgId/grants`: the organization's grants (of one token type, when given) in burn
   * order; active and scheduled ones, and with `includeEnded` also expired and revoked ones.
   */
  grants(options?: CallOptions & GrantsQuery): Promise<Grant[]>;
  /** The URL of a usage export (`usage.csv` / `usage.json`); it needs the `Authorization` header, see `exportUsage`. */
  usageExportUrl(range: DateRange, options?: { format?: 'csv' | 'json'; orgId?: string }): string;
  /** GET the usage export, authorised, as a streamed Response (e.g. `await (await client.exportUsage(r)).blob()`). */
  exportUsage(range: DateRange, options?: CallOptions & { format?: 'csv' | 'json' }): Promise<Response>;
  /**
   * Call one of the APP's guarded routes (`guard(...)` in `server/guard.ts`) with `Authorization`,
   * `X-Tokengate-Org` and `Idempotency-Key`. Resolves with the 2xx Response (read the charge with
   * `readGuardInfo`); rejects with a `TokenGateError` on any other answer — the guard's problem
   * (402 `insufficient_tokens`, 403 `plan_blocked`, …) as it is, the app's own non-2xx as `internal`
   * with `facts.status` — because the guard refunds every non-2xx answer.
   */
  callGuarded(url: string, init?: GuardedRequestInit): Promise<Response>;
}

/**
 * Create the headless client of Tokengate's member API.
 *
 * Errors are always `TokenGateError`: problem+json answers via `TokenGateError.fromProblem`, a
 * failed network call as `network`, a cancelled one as `aborted`.
 *
 * @example
 * const client = createTokenClient({
 *   baseUrl: '/api/tokengate',
 *   getAccessToken: async () => (await supabase.auth.getSession()).data.session?.access_token ?? null,
 *   orgId: currentOrgId,
 * });
 * const res = await client.callGuarded('/api/generate-quests', { method: 'POST', body: JSON.stringify({ goalId }) });
 * const { available } = readGuardInfo(res);
 */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  const { getAccessToken } = options;
  if (typeof options.baseUrl !== 'string') throw new TypeError('createTokenClient: `baseUrl` is required');
  if (typeof getAccessToken !== 'function') throw new TypeError('createTokenClient: `getAccessToken` is required');
  if (typeof options.orgId !== 'string' && typeof options.orgId !== 'function') {
    throw new TypeError('createTokenClient: `orgId` must be a string or a function');
  }
  const base = options.baseUrl.replace(/\/+$/, '');
  // Late-bound so a test or polyfill that replaces globalThis.fetch after creation is honoured.
  const doFetch = options.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));
  const currentOrgId = (): string => (typeof options.orgId === 'function' ? options.orgId() : options.orgId);

  const orgUrl = (path: string, orgId: string | undefined, query?: Record<string, string | number | undefined>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.size > 0 ? `?${params}` : '';
    return `${base}/orgs/${encodeURIComponent(orgId ?? currentOrgId())}${path}${qs}`;
  };

  async function authHeaders(init?: HeadersInit): Promise<Headers> {
    const headers = new Headers(init);
    let token: string | null | undefined;
    try {
      token = await getAccessToken();
    } catch (cause) {
      throw new TokenGateError('unauthorized', 'Could not get an access token.', { cause });
    }
    if (token) headers.set('authorization', `Bearer ${token}`);
    return headers;
  }

  /** fetch, with failures and cancellation as TokenGateError (the race makes abort work with any fetch). */
  async function send(url: string, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
    if (signal?.aborted) throw aborted(signal);
    let response: Response;
    try {
      response = await raceAbort(doFetch(url, signal ? { ...init, signal } : init), signal);
    } catch (error) {
      if (error instanceof TokenGateError) throw error;
      if (signal?.aborted || (error instanceof Error && error.name === 'AbortError')) throw aborted(signal, error);
      throw new TokenGateError('network', 'The request could not be sent.', { cause: error });
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async function json<T>(
    method: 'GET' | 'POST',
    url: string,
    opts: { body?: unknown; idempotencyKey?: string; signal?: AbortSignal | undefined },
  ): Promise<T> {
    const headers = await authHeaders({ accept: 'application/json' });
    if (opts.idempotencyKey !== undefined) headers.set('idempotency-key', opts.idempotencyKey);
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(opts.body);
    }
    const response = await send(url, { method, headers, ...(body === undefined ? {} : { body }) }, opts.signal);
    try {
      return (await raceAbort(response.json(), opts.signal)) as T;
    } catch (error) {
      if (error instanceof TokenGateError) throw error;
      throw new TokenGateError('internal', 'The answer was not valid JSON.', { cause: error, facts: { status: response.status } });
    }
  }

  const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

  return {
    orgId: currentOrgId,
    balances: (o = {}) => json('GET', orgUrl('/balances', o.orgId), { signal: o.signal }),
    checkBalance: (tokenType, o = {}) =>
      json('GET', orgUrl('/check-balance', o.orgId, { tokenType, amount: o.amount }), { signal: o.signal }),
    deduct: (tokenType, o = {}) =>
      json('POST', orgUrl('/deduct', o.orgId), {
        body: defined({ tokenType, units: o.units, metadata: o.metadata }),
        idempotencyKey: o.idempotencyKey ?? crypto.randomUUID(),
        signal: o.signal,
      }),
    reserve: (tokenType, o = {}) =>
      json('POST', orgUrl('/reservations', o.orgId), {
        body: defined({ tokenType, estimate: o.estimate, ttlSeconds: o.ttlSeconds, metadata: o.metadata }),
        idempotencyKey: o.idempotencyKey ?? crypto.randomUUID(),
        signal: o.signal,
      }),
    commit: (id, o) =>
      json('POST', orgUrl(`/reservations/${encodeURIComponent(id)}/commit`, o.orgId), {
        body: defined({ actual: o.actual, metadata: o.metadata }),
        signal: o.signal,
      }),
    release: (id, o = {}) =>
      json('POST', orgUrl(`/reservations/${encodeURIComponent(id)}/release`, o.orgId), {
        body: defined({ metadata: o.metadata }),
        signal: o.signal,
      }),
    stats: (range, o = {}) => json('GET', orgUrl('/stats', o.orgId, { from: range.from, to: range.to }), { signal: o.signal }),
    grants: (o = {}) =>
      json('GET', orgUrl('/grants', o.orgId, { tokenType: o.tokenType, includeEnded: o.includeEnded ? 'true' : undefined }), { signal: o.signal }),
    usageExportUrl: (range, o = {}) => orgUrl(`/usage.${o.format ?? 'csv'}`, o.orgId, { from: range.from, to: range.to }),
    async exportUsage(range, o = {}) {
      const url = orgUrl(`/usage.${o.format ?? 'csv'}`, o.orgId, { from: range.from, to: range.to });
      return send(url, { method: 'GET', headers: await authHeaders() }, o.signal);
    },
    async callGuarded(url, init = {}) {
      const { idempotencyKey, orgId, signal, ...rest } = init;
      const headers = await authHeaders(rest.headers);
      headers.set('x-tokengate-org', orgId ?? currentOrgId());
      headers.set('idempotency-key', idempotencyKey ?? crypto.randomUUID());
      return send(url, { ...rest, headers }, signal ?? undefined);
    },
  };
}

/** The TokenGateError of a non-2xx answer. */
async function errorOf(response: Response): Promise<TokenGateError> {
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      const body = (await response.json()) as { code?: unknown };
      if (type.includes('problem+json') || typeof body?.code === 'string') return TokenGateError.fromProblem(body, response.status);
    } catch {
      // Not JSON after all: fall through to the status.
    }
  } else {
    // Free the connection; the body is not ours to show.
    await response.body?.cancel().catch(() => {});
  }
  const byStatus: Record<number, 'unauthorized' | 'not_found' | 'unavailable'> = { 401: 'unauthorized', 404: 'not_found', 503: 'unavailable' };
  const code = byStatus[response.status] ?? 'internal';
  return new TokenGateError(code, `The request failed with status ${response.status}.`, { facts: { status: response.status } });
}

function aborted(signal: AbortSignal | undefined, cause?: unknown): TokenGateError {
  return new TokenGateError('aborted', 'The request was cancelled.', { cause: cause ?? signal?.reason });
}

/** `promise`, or a rejection with `aborted` as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
