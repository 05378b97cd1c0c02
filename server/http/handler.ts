import type { z } from 'zod';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { Authenticate } from '../auth.ts';
import type { AdminContext, GateContext, TokenGate } from '../gate.ts';
import { sharedChangeHub, type ChangeHub } from '../live/change-hub.ts';
import { createConnectionLimits } from '../live/connection-limits.ts';
import { liveStreamSettings, type LiveEventsOptions } from '../live/live-events-options.ts';
import { liveEventsResponse } from '../live/live-events-response.ts';
import { jsonResponse } from './json-response.ts';
import { problemResponse } from './problem-response.ts';
import { readJsonBody } from './read-json-body.ts';
import { requestSchemas as S } from './request-schemas.ts';
import { createOperatorApi } from '../operator/create-operator-api.ts';
import { usageExportResponse } from './usage-export.ts';

/**
 * Options of `createHandler`.
 *
 * @example
 * const options: HandlerOptions = { gate, authenticate: supabaseAuth({ issuer }), basePath: '/api/tokens', maxBodyBytes: 8192 };
 */
export interface HandlerOptions {
  /** The domain API (`createTokenGate({ store })`). */
  gate: TokenGate;
  /** Verifies the caller of every member and admin route (`supabaseAuth(...)`). */
  authenticate: Authenticate;
  /** Where the API is mounted. Default `'/api/tokengate'`. */
  basePath?: string;
  /** Largest JSON body accepted, in bytes (413 above). Default 16384. */
  maxBodyBytes?: number;
  /**
   * Recognises requests from the app's own server (e.g. `bearerSecret(process.env.TOKENGATE_SERVICE_SECRET)`).
   * When it returns true, admin routes act as the server itself (actor `null`, no membership needed),
   * and the server-only routes (`admin/accounts`, `admin/expire-reservations`, the operator's
   * `operator/*`) are open. Without it,
   * server-only routes always answer 401.
   */
  authenticateServer?: (request: Request) => Promise<boolean>;
  /** Ledger entries fetched per page while streaming a usage export (1 to 10000). Default 1000. */
  exportPageSize?: number;
  /**
   * Billing operations that an organization's owners and admins may perform with their own token.
   * Default: none. Grants (top-ups), adjustments and plan changes create or change value, so they
   * are the app's billing decisions — its payment webhooks, operators and CLI, recognised by
   * `authenticateServer` — and a customer's token answers 403 `server_only`. Opt in per operation
   * only if the app really sells that as self-service (e.g. `['setPlan']` behind its own checkout).
   *
   * @example
   * createHandler({ gate, authenticate, authenticateServer, selfServiceBilling: ['setPlan'] });
   */
  selfServiceBilling?: readonly BillingOperation[];
  /**
   * The live route `GET /orgs/:orgId/events` (Server-Sent Events): its connection limits, heartbeat,
   * lifetime and buffers. On by default when the gate's store can LISTEN (`postgresStore`,
   * `pgliteStore`); `false` turns it off. Off, or on a store that cannot listen (`supabaseStore`),
   * the route answers 501 `live_unavailable` and the kit polls instead.
   *
   * @example
   * createHandler({ gate, authenticate, events: { maxConnections: 5000, maxPerUser: 3 } });
   */
  events?: LiveEventsOptions | false;
}

/** A billing operation an app may open to org owners/admins with `selfServiceBilling`. */
export type BillingOperation = 'grant' | 'adjust' | 'setPlan';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Access = 'member' | 'admin' | 'server' | BillingOperation;
type Params = Record<string, string>;

interface Input {
  request: Request;
  params: Params;
  query: unknown;
  body: unknown;
  idempotencyKey: string;
  member: GateContext;
  admin: AdminContext;
}

interface Route {
  method: Method;
  /** Path segments after the base path; `:name` segments are parameters validated by `S.params`. */
  path: string[];
  access: Access;
  /** The body schema; `optional` bodies may be empty (read as `{}`). */
  body?: { schema: z.ZodType; optional?: boolean };
  query?: z.ZodType;
  idempotent?: boolean;
  run(input: Input): Promise<Response>;
}

const route = (method: Method, path: string, access: Access, rest: Omit<Route, 'method' | 'path' | 'access'>): Route => ({
  method,
  path: path.split('/'),
  access,
  ...rest,
});

const replayHeaders = (result: { replayed?: boolean }): Record<string, string> => (result.replayed ? { 'idempotent-replayed': 'true' } : {});

/**
 * The REST API of Tokengate as one `(request: Request) => Promise<Response>`, for any runtime with
 * the Fetch API (Next.js route handlers, Hono, Deno/Supabase Edge Functions, Bun, Node via an adapter).
 *
 * The organization is part of the PATH; the user comes from `authenticate` (a verified JWT), never
 * from the request; costs come from the catalog (token type) or the reservation, never from the client.
 * Routes, relative to `basePath` (default `/api/tokengate`):
 *
 * | method | path | body / query | answer |
 * |---|---|---|---|
 * | GET | `/orgs/:orgId/balances` | | 200 `Balances` |
 * | GET | `/orgs/:orgId/check-balance` | `?tokenType=&amount=` | 200 `CheckResult` |
 * | POST | `/orgs/:orgId/deduct` | `{ tokenType, units?, metadata? }` + `Idempotency-Key` | 200 `DeductResult` |
 * | POST | `/orgs/:orgId/reservations` | `{ tokenType, estimate?, ttlSeconds?, metadata? }` + `Idempotency-Key` | 201 `ReserveResult` |
 * | POST | `/orgs/:orgId/reservations/:id/commit` | `{ actual, metadata? }` | 200 `ResolveResult` |
 * | POST | `/orgs/:orgId/reservations/:id/release` | `{ metadata? }` or empty | 200 `ResolveResult` |
 * | GET | `/orgs/:orgId/grants` | `?tokenType=&includeEnded=true` | 200 `Grant[]` (active in burn order, then scheduled) |
 * | GET | `/orgs/:orgId/stats` | `?from=YYYY-MM-DD&to=YYYY-MM-DD` (≤ 366 days) | 200 `Stats` |
 * | GET | `/orgs/:orgId/usage.csv`, `/usage.json` | `?from=&to=` (≤ 3660 days) | 200, streamed |
 * | GET | `/orgs/:orgId/events` (see `events`) | `Last-Event-ID` header or `?lastEventId=` | 200 `text/event-stream`: `balance` events (`id:` = ledger id), a `snapshot` event, heartbeats |
 * | POST | `/orgs/:orgId/admin/grant` (server; see `selfServiceBilling`) | `{ tokenType, amount, source?, expiresAt?, effectiveAt?, priority?, metadata? }` + `Idempotency-Key` | 200 `GrantResult` |
 * | POST | `/orgs/:orgId/admin/plan` (server; see `selfServiceBilling`) | `{ planId }` | 200 balances |
 * | POST | `/orgs/:orgId/admin/adjust` (server; see `selfServiceBilling`) | `{ tokenType, amount, reason, metadata? }` + `Idempotency-Key` | 200 `AdjustResult` |
 * | PUT | `/orgs/:orgId/admin/members/:userId` | `{ role }` | 200 |
 * | DELETE | `/orgs/:orgId/admin/members/:userId` | | 200 |
 * | PUT | `/orgs/:orgId/admin/members/:userId/quotas/:tokenType` | `{ quota: number \| null }` | 200 |
 * | POST | `/admin/accounts` (server only) | `{ orgId, planId, ownerId, periodAnchor? }` | 201 created, 200 existing |
 * | POST | `/admin/expire-reservations` (server only) | `{ limit? }` or empty | 200 |
 * | GET | `/operator/top` (server only) | `?from=&to=&tokenType=&limit=` (≤ 366 days; limit per type 1–1000, default 10) | 200 `OperatorTopRow[]` |
 * | GET | `/operator/near-exhaustion` (server only) | `?percent=&limit=` (default 10, 100) | 200 `NearExhaustionRow[]` |
 * | GET | `/operator/spikes` (server only) | `?day=&windowDays=&factor=&minTokens=` (default 7, 3, 100) | 200 `SpikeRow[]` |
 * | GET | `/operator/expiring-grants` (server only) | `?withinDays=&limit=` (default 7, 100) | 200 `ExpiringGrantRow[]` |
 *
 * Member and quota routes (`admin/members…`) act as the authenticated user (owner/admin, checked
 * in SQL; only an owner makes or removes an owner) or, when `authenticateServer` recognises the
 * request, as the server (actor `null`). Billing routes (grant, plan, adjust) are the server's
 * only, unless `selfServiceBilling` opens one to owners/admins: a customer's token answers 403
 * `server_only` (401 without a valid token).
 *
 * Every error is RFC 9457 `application/problem+json` with a stable code: 400 `invalid_request`
 * (with `errors: [{ path, message }]`, paths like `body.units`, `query.from`, `params.orgId`,
 * `headers.idempotency-key`), 401 `unauthorized`, 404 `not_found`, 405 `method_not_allowed` (with
 * `Allow`), 413 `payload_too_large`, 415 `unsupported_media_type`, 429 `too_many_connections` (with
 * `Retry-After`), 501 `live_unavailable`, the ledger's codes (402
 * `insufficient_tokens`, 403 `not_a_member`, 409 `idempotency_conflict`, …), 503 `unavailable`,
 * and 500 `internal` without details. JSON answers are `application/json` with `cache-control: no-store`;
 * a replayed idempotent request (same `Idempotency-Key`, or a second commit/release) answers the first
 * result again with `Idempotent-Replayed: true`. Unknown query parameters and body fields are refused.
 *
 * @example
 * // app/api/tokengate/[...path]/route.ts (Next.js)
 * const handler = createHandler({
 *   gate: createTokenGate({ store: postgresStore({ connectionString: process.env.DATABASE_URL! }) }),
 *   authenticate: supabaseAuth({ issuer: `${process.env.SUPABASE_URL}/auth/v1` }),
 *   authenticateServer: bearerSecret(process.env.TOKENGATE_SERVICE_SECRET!),
 * });
 * export { handler as GET, handler as POST, handler as PUT, handler as DELETE };
 */
export function createHandler(options: HandlerOptions): (request: Request) => Promise<Response> {
  const { gate, authenticate, authenticateServer, maxBodyBytes = 16_384, exportPageSize = 1000, selfServiceBilling = [] } = options;
  const billingOps: readonly BillingOperation[] = ['grant', 'adjust', 'setPlan'];
  if (!Array.isArray(selfServiceBilling) || selfServiceBilling.some((op) => !billingOps.includes(op))) {
    throw new TypeError("createHandler: selfServiceBilling must list only 'grant', 'adjust' or 'setPlan'");
  }
  if (!gate || typeof authenticate !== 'function') throw new TypeError('createHandler: `gate` and `authenticate` are required');
  const base = ('/' + (options.basePath ?? '/api/tokengate')).replace(/^\/+/, '/').replace(/\/+$/, '');
  if (!Number.isInteger(exportPageSize) || exportPageSize < 1 || exportPageSize > 10_000) {
    throw new TypeError('createHandler: exportPageSize must be 1 to 10000');
  }
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) throw new TypeError('createHandler: maxBodyBytes must be a positive integer');

  const exportRoute = (format: 'csv' | 'json') =>
    route('GET', `orgs/:orgId/usage.${format}`, 'member', {
      query: S.exportQuery,
      run: ({ member, query }) => usageExportResponse(gate, member, query as { from: string; to: string }, { format, pageSize: exportPageSize }),
    });

  // The live route: one hub (one LISTEN) per store in this process, limits per handler.
  const events = options.events === false ? null : (options.events ?? {});
  const live = events
    ? { settings: liveStreamSettings(events), limits: createConnectionLimits(events), hub: events.hub as ChangeHub | undefined }
    : null;
  const liveUnavailable = (why: string) => new TokenGateError('live_unavailable', `Live balances are not available here (${why}); poll the balances instead.`);

  const operator = createOperatorApi(gate.store);

  const routes: Route[] = [
    route('GET', 'orgs/:orgId/balances', 'member', {
      run: async ({ member }) => jsonResponse(await gate.balances(member)),
    }),
    route('GET', 'orgs/:orgId/events', 'member', {
      query: S.eventsQuery,
      run: async ({ request, member, query }) => {
        if (!live) throw liveUnavailable('turned off');
        if (!live.hub && typeof gate.store?.listen !== 'function') throw liveUnavailable('the store cannot listen');
        live.hub ??= sharedChangeHub(gate.store);
        // EventSource sends the header when it reconnects; it wins over a query left from the first URL.
        const header = request.headers.get('last-event-id');
        let lastEventId = (query as z.infer<typeof S.eventsQuery>).lastEventId ?? null;
        if (header !== null && header !== '') {
          const parsed = S.lastEventId.safeParse(header.trim());
          if (!parsed.success) throw new TokenGateError('invalid_request', 'The request is invalid.', { errors: issues(parsed.error, 'headers.last-event-id') });
          lastEventId = parsed.data;
        }
        try {
          return await liveEventsResponse({
            gate,
            member,
            hub: live.hub,
            limits: live.limits,
            lastEventId,
            signal: request.signal,
            settings: live.settings,
          });
        } catch (error) {
          if (error instanceof TokenGateError && error.code === 'too_many_connections') {
            return problemResponse(error, { 'retry-after': String(error.facts.retryAfter) });
          }
          throw error;
        }
      },
    }),
    route('GET', 'orgs/:orgId/check-balance', 'member', {
      query: S.checkQuery,
      run: async ({ member, query }) => {
        const q = query as z.infer<typeof S.checkQuery>;
        return jsonResponse(await gate.check(member, q.tokenType, q.amount === undefined ? {} : { amount: q.amount }));
      },
    }),
    route('POST', 'orgs/:orgId/deduct', 'member', {
      body: { schema: S.deduct },
      idempotent: true,
      run: async ({ member, body, idempotencyKey }) => {
        const b = body as z.infer<typeof S.deduct>;
        const result = await gate.deduct(member, b.tokenType, { idempotencyKey, units: b.units, metadata: b.metadata });
        return jsonResponse(result, 200, replayHeaders(result));
      },
    }),
    route('POST', 'orgs/:orgId/reservations', 'member', {
      body: { schema: S.reserve },
      idempotent: true,
      run: async ({ member, body, idempotencyKey }) => {
        const b = body as z.infer<typeof S.reserve>;
        const result = await gate.reserve(member, b.tokenType, {
          idempotencyKey,
          estimate: b.estimate,
          ttlSeconds: b.ttlSeconds,
          metadata: b.metadata,
        });
        return jsonResponse(result, 201, replayHeaders(result));
      },
    }),
    route('POST', 'orgs/:orgId/reservations/:reservationId/commit', 'member', {
      body: { schema: S.commit },
      run: async ({ member, params, body }) => {
        const b = body as z.infer<typeof S.commit>;
        const result = await gate.commit(member, params.reservationId!, { actual: b.actual, metadata: b.metadata });
        return jsonResponse(result, 200, replayHeaders(result));
      },
    }),
    route('POST', 'orgs/:orgId/reservations/:reservationId/release', 'member', {
      body: { schema: S.release, optional: true },
      run: async ({ member, params, body }) => {
        const b = body as z.infer<typeof S.release>;
        const result = await gate.release(member, params.reservationId!, { metadata: b.metadata });
        return jsonResponse(result, 200, replayHeaders(result));
      },
    }),
    route('GET', 'orgs/:orgId/grants', 'member', {
      query: S.grantsQuery,
      run: async ({ member, query }) => {
        const q = query as z.infer<typeof S.grantsQuery>;
        return jsonResponse(await gate.grants(member, { tokenType: q.tokenType, includeEnded: q.includeEnded === 'true' }));
      },
    }),
    route('GET', 'orgs/:orgId/stats', 'member', {
      query: S.statsQuery,
      run: async ({ member, query }) => jsonResponse(await gate.stats(member, query as { from: string; to: string })),
    }),
    exportRoute('csv'),
    exportRoute('json'),
    route('POST', 'orgs/:orgId/admin/grant', 'grant', {
      body: { schema: S.grant },
      idempotent: true,
      run: async ({ admin, body, idempotencyKey }) => {
        const b = body as z.infer<typeof S.grant>;
        const { tokenType, ...opts } = b;
        const result = await gate.grant(admin, tokenType, { ...opts, idempotencyKey });
        return jsonResponse(result, 200, replayHeaders(result));
      },
    }),
    route('POST', 'orgs/:orgId/admin/plan', 'setPlan', {
      body: { schema: S.setPlan },
      run: async ({ admin, body }) => jsonResponse(await gate.setPlan(admin, (body as z.infer<typeof S.setPlan>).planId)),
    }),
    route('POST', 'orgs/:orgId/admin/adjust', 'adjust', {
      body: { schema: S.adjust },
      idempotent: true,
      run: async ({ admin, body, idempotencyKey }) => {
        const b = body as z.infer<typeof S.adjust>;
        const result = await gate.adjust(admin, b.tokenType, { amount: b.amount, reason: b.reason, idempotencyKey, metadata: b.metadata });
        return jsonResponse(result, 200, replayHeaders(result));
      },
    }),
    route('PUT', 'orgs/:orgId/admin/members/:userId', 'admin', {
      body: { schema: S.member },
      run: async ({ admin, params, body }) =>
        jsonResponse(await gate.addMember(admin, params.userId!, (body as z.infer<typeof S.member>).role)),
    }),
    route('DELETE', 'orgs/:orgId/admin/members/:userId', 'admin', {
      run: async ({ admin, params }) => jsonResponse(await gate.removeMember(admin, params.userId!)),
    }),
    route('PUT', 'orgs/:orgId/admin/members/:userId/quotas/:tokenType', 'admin', {
      body: { schema: S.quota },
      run: async ({ admin, params, body }) =>
        jsonResponse(await gate.setMemberQuota(admin, params.userId!, params.tokenType!, (body as z.infer<typeof S.quota>).quota)),
    }),
    route('POST', 'admin/accounts', 'server', {
      body: { schema: S.account },
      run: async ({ body }) => {
        const result = await gate.createAccount(body as z.infer<typeof S.account>);
        return jsonResponse(result, result.created ? 201 : 200);
      },
    }),
    // The operator's view: across organizations, for the app's own staff (server credential only).
    route('GET', 'operator/top', 'server', {
      query: S.operatorTopQuery,
      run: async ({ query }) => jsonResponse(await operator.top(query as z.infer<typeof S.operatorTopQuery>)),
    }),
    route('GET', 'operator/near-exhaustion', 'server', {
      query: S.operatorNearExhaustionQuery,
      run: async ({ query }) => jsonResponse(await operator.nearExhaustion(query as z.infer<typeof S.operatorNearExhaustionQuery>)),
    }),
    route('GET', 'operator/spikes', 'server', {
      query: S.operatorSpikesQuery,
      run: async ({ query }) => jsonResponse(await operator.spikes(query as z.infer<typeof S.operatorSpikesQuery>)),
    }),
    route('GET', 'operator/expiring-grants', 'server', {
      query: S.operatorExpiringGrantsQuery,
      run: async ({ query }) => jsonResponse(await operator.expiringGrants(query as z.infer<typeof S.operatorExpiringGrantsQuery>)),
    }),
    route('POST', 'admin/expire-reservations', 'server', {
      body: { schema: S.expire, optional: true },
      run: async ({ body }) => jsonResponse(await gate.expireReservations(body as z.infer<typeof S.expire>)),
    }),
  ];

  async function handle(request: Request): Promise<Response> {
    const segments = pathSegments(request.url, base);
    if (!segments) throw new TokenGateError('not_found', 'No such route.');
    const candidates: { route: Route; params: Params }[] = [];
    for (const r of routes) {
      const params = matchPath(r.path, segments);
      if (params) candidates.push({ route: r, params });
    }
    if (candidates.length === 0) throw new TokenGateError('not_found', 'No such route.');
    const hit = candidates.find((c) => c.route.method === request.method);
    if (!hit) {
      const allow = [...new Set(candidates.map((c) => c.route.method))].join(', ');
      return problemResponse(new TokenGateError('method_not_allowed', `Use ${allow}.`, { facts: { allow } }), { allow });
    }
    const { route: r, params } = hit;

    // Who is calling, before anything about the request is revealed.
    let userId: string | null = null;
    if (r.access === 'server') {
      if (!authenticateServer || !(await authenticateServer(request))) {
        throw new TokenGateError('unauthorized', "This route requires the server's credentials.");
      }
    } else if (r.access !== 'member' && authenticateServer && (await authenticateServer(request))) {
      userId = null;
    } else {
      userId = (await authenticate(request)).userId;
      // The ledger keys people by uuid; a custom authenticator that returns anything else cannot act.
      if (typeof userId !== 'string' || !S.params.userId.safeParse(userId).success) {
        throw new TokenGateError('unauthorized', 'The authenticated user has no valid user id (a uuid).');
      }
      if (billingOps.includes(r.access as BillingOperation) && !selfServiceBilling.includes(r.access as BillingOperation)) {
        throw new TokenGateError('server_only', "Grants, adjustments and plan changes are made by the app's server (its billing webhooks, operators or CLI), not with a customer's token.");
      }
    }

    const errors: { path: string; message: string }[] = [];
    const valid: Params = {};
    for (const [name, value] of Object.entries(params)) {
      const schema = S.params[name as keyof typeof S.params];
      const parsed = schema.safeParse(value);
      if (parsed.success) valid[name] = parsed.data;
      else errors.push(...issues(parsed.error, `params.${name}`));
    }

    const query = parseQuery(request.url, r.query, errors);

    let idempotencyKey = '';
    if (r.idempotent) {
      const parsed = S.idempotencyKey.safeParse(request.headers.get('idempotency-key') ?? undefined);
      if (parsed.success) idempotencyKey = parsed.data;
      else errors.push(...issues(parsed.error, 'headers.idempotency-key'));
    }

    let body: unknown = undefined;
    if (r.body) {
      const raw = await readJsonBody(request, { maxBytes: maxBodyBytes, optional: r.body.optional ?? false });
      const parsed = r.body.schema.safeParse(raw === undefined && r.body.optional ? {} : raw);
      if (parsed.success) body = parsed.data;
      else errors.push(...issues(parsed.error, 'body'));
    }

    if (errors.length > 0) {
      throw new TokenGateError('invalid_request', 'The request is invalid.', { errors: errors.slice(0, 20) });
    }
    const orgId = valid.orgId ?? '';
    return r.run({
      request,
      params: valid,
      query,
      body,
      idempotencyKey,
      member: { userId: userId ?? '', orgId },
      admin: { orgId, actorId: userId },
    });
  }

  return async (request) => {
    try {
      return await handle(request);
    } catch (error) {
      return problemResponse(error);
    }
  };
}

/** The decoded path segments after `base`, or null when the path is outside it or malformed. */
function pathSegments(url: string, base: string): string[] | null {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    return null;
  }
  if (!pathname.startsWith(base + '/')) return null;
  const rest = pathname.slice(base.length + 1).split('/');
  try {
    return rest.map((segment) => decodeURIComponent(segment));
  } catch {
    return null;
  }
}

function matchPath(pattern: string[], segments: string[]): Params | null {
  if (pattern.length !== segments.length) return null;
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith(':')) params[p.slice(1)] = segments[i]!;
    else if (p !== segments[i]) return null;
  }
  return params;
}

function parseQuery(url: string, schema: z.ZodType | undefined, errors: { path: string; message: string }[]): unknown {
  const entries = [...new URL(url).searchParams];
  const seen = new Set<string>();
  for (const [key] of entries) {
    if (seen.has(key)) errors.push({ path: `query.${clip(key)}`, message: 'must be given once' });
    seen.add(key);
  }
  // fromEntries defines own properties, so even `__proto__` stays a plain (rejected) key.
  const query: Record<string, string> = Object.fromEntries(entries);
  if (!schema) {
    for (const key of Object.keys(query)) errors.push({ path: `query.${clip(key)}`, message: 'is not a parameter of this route' });
    return {};
  }
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  errors.push(...issues(parsed.error, 'query'));
  return {};
}

function issues(error: z.ZodError, prefix: string): { path: string; message: string }[] {
  return error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? (issue as { keys?: string[] }).keys : undefined;
    const path = [prefix, ...issue.path.map(String)].join('.');
    return keys?.length
      ? { path: `${path}.${clip(keys[0]!)}`, message: `is not a field of this request${keys.length > 1 ? ` (nor ${keys.length - 1} more)` : ''}` }
      : { path, message: issue.message };
  });
}

/** Caller-supplied names echoed in errors are cut short. */
function clip(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name;
}
