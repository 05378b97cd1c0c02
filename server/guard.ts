/**
 * The guard: server-side enforcement for the app's own AI routes. The client hook is UX; this is the lock.
 */
import type { ReserveResult, TokenTypeId } from '../src/core/types.ts';
import { TokenGateError } from '../src/core/token-gate-error.ts';
import type { Authenticate } from './auth.ts';
import type { TokenGate } from './gate.ts';
import { problemResponse } from './http/problem-response.ts';

/** What a guarded handler receives besides the request. */
export interface GuardContext {
  /** The verified user (from `authenticate`). */
  userId: string;
  /** The organization that pays (validated uuid). */
  orgId: string;
  /** The hold taken for this request. On a retry (`replayed`), the earlier attempt's reservation. */
  reservation: ReserveResult;
  /**
   * True when the request's `Idempotency-Key` was seen before: a retry of an attempt that died
   * mid-flight (the hold is still pending) or whose answer was lost (already charged: this run is
   * not charged again).
   */
  replayed: boolean;
  /** The verified claims of the caller's token, when `authenticate` returns them. */
  claims?: Record<string, unknown>;
  /**
   * Report the tokens this request actually used (a whole number, 0 to 1000000; the last call
   * wins). Default: the reservation's estimate. Above the estimate, the excess is charged from what
   * is still available and the rest recorded as uncharged (never a negative balance). Report before
   * returning the Response: usage reported later (e.g. while a streamed body is being sent) is not seen.
   */
  reportUsage(actual: number): void;
}

/** The app's own route, with its charging context. */
export type GuardedHandler = (request: Request, context: GuardContext) => Promise<Response>;

/** Where a problem reported to `onError` happened. */
export interface GuardErrorInfo {
  phase: 'authenticate' | 'options' | 'reserve' | 'handler' | 'commit' | 'release';
  userId?: string;
  orgId?: string;
  reservationId?: string;
}

/** Options of `guard`. */
export interface GuardOptions {
  /** The domain API (`createTokenGate({ store })`). */
  gate: TokenGate;
  /** Verifies the caller (`supabaseAuth(...)`). A failure answers 401 and the handler never runs. */
  authenticate: Authenticate;
  /** The token type this route spends, or a function of the request. */
  tokenType: TokenTypeId | ((request: Request) => TokenTypeId | Promise<TokenTypeId>);
  /**
   * Tokens to hold while the handler runs (a whole number, 1 to 1000000), or a function of the
   * request. Default: one use at the catalog's cost. A retry with the same `Idempotency-Key` must
   * compute the same estimate (or it is a 409 `idempotency_conflict`). A function may throw a
   * `TokenGateError` (e.g. `invalid_request`) to refuse the request with that problem.
   */
  estimate?: number | ((request: Request) => number | Promise<number>);
  /**
   * The paying organization's id (a uuid). Default: the `X-Tokengate-Org` header, else the
   * `orgId` query parameter. Membership is checked by the ledger (403 `not_a_member`).
   */
  orgId?: (request: Request) => string | Promise<string>;
  /**
   * How long the hold lives (1 to 86400 seconds). Default 300. A handler that runs longer loses its
   * hold (it expires and is refunded): see `onError`.
   */
  ttlSeconds?: number;
  /**
   * Told about failures the caller does not see in full: the handler's own exception (answered as a
   * bare 500), a refund that failed (the hold then expires after `ttlSeconds` and is refunded), and
   * a charge that failed after the handler succeeded — notably `reservation_expired` when the
   * handler outlived `ttlSeconds`: the work was done but its hold was already refunded, so the
   * response is delivered uncharged. Must not throw (if it does, that is ignored).
   */
  onError?: (error: unknown, info: GuardErrorInfo) => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IDEMPOTENCY_KEY = /^[!-~]{1,255}$/;
const MAX_AMOUNT = 1_000_000;

/** Response headers the guard adds to a charged (2xx) answer. */
export const GUARD_HEADERS = {
  /** Tokens charged for this request's Idempotency-Key (on a replay, the earlier charge). */
  charged: 'x-tokengate-charged',
  /** Tokens of the type still available after the charge, or `unlimited`. */
  available: 'x-tokengate-available',
  /** The reservation id (for support and reconciliation). */
  reservation: 'x-tokengate-reservation',
  /** `true` when the Idempotency-Key was seen before and nothing new was charged. */
  replayed: 'idempotent-replayed',
} as const;

/**
 * Wrap one of the app's own AI routes so it is charged on the server: hold an estimate before the
 * handler runs, charge the usage it reports after a 2xx answer, refund the hold otherwise — and
 * answer with problem+json without running the handler when the caller cannot pay.
 *
 * Flow, per request:
 * 1. `authenticate` (401 `unauthorized`; the handler does not run, nothing is written).
 * 2. Read the organization (400 `invalid_request` unless a uuid) and the `Idempotency-Key` header
 *    (400 unless 1–255 visible ASCII characters). Without the header a random key is used, so a
 *    client retry is then a new request and is charged again: send a key to make retries safe.
 * 3. `gate.reserve` the estimate. Refusals are answered as they are, handler not run: 402
 *    `insufficient_tokens` / `member_quota_exceeded`, 403 `plan_blocked` / `not_a_member`, 404
 *    `unknown_organization`, 409 `idempotency_conflict`, 503 `unavailable`.
 * 4. Run `handler(request, context)`. It throws → refund, 500 `internal` (its message is not
 *    revealed; it goes to `onError`). It answers non-2xx → refund, its response passed through.
 *    It answers 2xx → `gate.commit` the reported usage (default: the estimate), and the response is
 *    passed through with `x-tokengate-charged`, `x-tokengate-available` (a number or `unlimited`)
 *    and `x-tokengate-reservation`.
 *
 * Retries with the same `Idempotency-Key`: if the earlier attempt was charged (its answer was lost),
 * the handler runs again but nothing more is charged (`idempotent-replayed: true`); if it is still
 * pending (it died mid-flight, or is still running), this attempt carries on with the same hold; if
 * it was refunded or expired, the answer is 409 `reservation_not_pending` (retry with a new key).
 *
 * Each ledger call is its own short transaction: no transaction or lock is held while the handler runs.
 * If the commit fails after the handler succeeded (the ledger became unreachable, or the handler
 * outlived `ttlSeconds` → `reservation_expired`), the work is done: its response is delivered
 * without the charge headers, and `onError` is told. The hold is then refunded (by expiry).
 *
 * The option functions (`tokenType`, `estimate`, `orgId`) see the request before the handler:
 * read its body from `request.clone()`, never from `request` itself.
 *
 * @example
 * // app/api/generate-quests/route.ts (Next.js)
 * export const POST = guard(
 *   { gate, authenticate: supabaseAuth({ issuer }), tokenType: 'quest_generation' },
 *   async (request, { orgId }) => {
 *     const { goal } = await request.json();
 *     // A 2xx answer is charged one use at the catalog cost (the default estimate).
 *     return Response.json({ quests: await generateQuests(orgId, goal) });
 *   },
 * );
 *
 * @example
 * // Estimate from the request, charge what the model really used.
 * const summarize = guard(
 *   {
 *     gate, authenticate, tokenType: 'strategy_analysis',
 *     estimate: async (req) => Math.min(1000, 10 + Math.ceil((await req.clone().text()).length / 400)),
 *     onError: (error, info) => logger.warn({ error, ...info }, 'tokengate guard'),
 *   },
 *   async (request, ctx) => {
 *     const result = await model.run(await request.text());
 *     ctx.reportUsage(Math.ceil(result.usage.totalTokens / 1000));
 *     return Response.json(result.output);
 *   },
 * );
 */
export function guard(options: GuardOptions, handler: GuardedHandler): (request: Request) => Promise<Response> {
  const { gate, authenticate, tokenType, estimate, orgId: orgIdOf, ttlSeconds = 300, onError } = options ?? ({} as GuardOptions);
  if (!gate || typeof gate.reserve !== 'function') throw new TypeError('guard: `gate` (createTokenGate(...)) is required');
  if (typeof authenticate !== 'function') throw new TypeError('guard: `authenticate` is required');
  if (typeof handler !== 'function') throw new TypeError('guard: a handler function is required');
  if (typeof tokenType !== 'function' && (typeof tokenType !== 'string' || tokenType === '')) {
    throw new TypeError('guard: `tokenType` must be a token type id or a function of the request');
  }
  if (estimate !== undefined && typeof estimate !== 'function') checkAmount(estimate, 1, 'estimate');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) throw new TypeError('guard: `ttlSeconds` must be 1 to 86400');

  const report = (error: unknown, info: GuardErrorInfo) => {
    try {
      onError?.(error, info);
    } catch {
      // A logger that throws must not change the answer.
    }
  };
  /** A problem answer; unexpected errors become a bare 500 and are reported. */
  const fail = (error: unknown, info: GuardErrorInfo): Response => {
    if (!(error instanceof TokenGateError) || error.status >= 500) report(error, info);
    return problemResponse(error instanceof TokenGateError ? error : new TokenGateError('internal', 'Unexpected error.'));
  };

  return async function guarded(request: Request): Promise<Response> {
    // 1. Who is calling, before anything else.
    let user: Awaited<ReturnType<Authenticate>>;
    try {
      user = await authenticate(request);
      if (!user || typeof user.userId !== 'string' || user.userId === '') throw new TypeError('guard: authenticate returned no userId');
    } catch (error) {
      return fail(error, { phase: 'authenticate' });
    }
    const { userId } = user;

    // 2. Inputs.
    let orgId: string;
    let idempotencyKey: string;
    let type: TokenTypeId;
    let amount: number | undefined;
    try {
      const errors: { path: string; message: string }[] = [];
      const org = orgIdOf ? { value: await orgIdOf(request), path: 'orgId' } : defaultOrgId(request);
      if (typeof org.value !== 'string' || !UUID.test(org.value)) {
        errors.push({ path: org.path, message: org.value === undefined || org.value === null ? 'is required' : 'must be a uuid' });
      }
      const key = request.headers.get('idempotency-key');
      if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
        errors.push({ path: 'headers.idempotency-key', message: 'must be 1 to 255 visible ASCII characters' });
      }
      if (errors.length > 0) throw new TokenGateError('invalid_request', 'The request is invalid.', { errors });
      orgId = (org.value as string).toLowerCase();
      // Without a key, every request is new: retries are then not deduplicated.
      idempotencyKey = key ?? `guard-${crypto.randomUUID()}`;

      type = typeof tokenType === 'function' ? await tokenType(request) : tokenType;
      if (typeof type !== 'string' || type === '') throw new TypeError('guard: `tokenType` returned no token type id');
      amount = typeof estimate === 'function' ? checkAmount(await estimate(request), 1, 'estimate') : estimate;
      if (request.bodyUsed) {
        throw new TypeError('guard: an option function read the request body; read `request.clone()` instead so the handler can read it');
      }
    } catch (error) {
      return fail(error, { phase: 'options', userId });
    }
    const ctx = { userId, orgId };

    // 3. Hold the estimate (its own transaction).
    // A replay reports the earlier attempt's current status (stale holds are expired first).
    let reservation: ReserveResult;
    try {
      reservation = await gate.reserve(ctx, type, { idempotencyKey, ttlSeconds, ...(amount === undefined ? {} : { estimate: amount }) });
    } catch (error) {
      return fail(error, { phase: 'reserve', ...ctx });
    }
    const { reservationId } = reservation;
    const where = { ...ctx, reservationId };
    if (reservation.replayed && (reservation.status === 'released' || reservation.status === 'expired')) {
      return problemResponse(
        new TokenGateError(
          'reservation_not_pending',
          `An earlier request with this Idempotency-Key was ${reservation.status === 'released' ? 'refunded' : 'not completed in time'}; retry with a new Idempotency-Key.`,
          { facts: { reservationId, status: reservation.status } },
        ),
      );
    }
    const alreadyCharged = reservation.replayed && reservation.status === 'committed';

    const release = async () => {
      if (alreadyCharged) return;
      try {
        await gate.release(ctx, reservationId, { metadata: { guard: 'released' } });
      } catch (error) {
        // The hold stays until it expires (ttlSeconds), and is refunded then.
        report(error, { phase: 'release', ...where });
      }
    };

    // 4. The app's work, with no transaction open.
    let actual: number | undefined;
    const context: GuardContext = {
      userId,
      orgId,
      reservation,
      replayed: reservation.replayed,
      ...(user.claims ? { claims: user.claims } : {}),
      reportUsage(value: number) {
        actual = checkAmount(value, 0, 'reportUsage');
      },
    };
    let response: Response;
    try {
      response = await handler(request, context);
      if (!(response instanceof Response)) throw new TypeError('guard: the handler must resolve to a Response');
    } catch (error) {
      report(error, { phase: 'handler', ...where });
      await release();
      return problemResponse(new TokenGateError('internal', 'The request failed.'));
    }
    if (!response.ok) {
      await release();
      return response;
    }

    // 5. Charge what was used (its own transaction).
    const headers: Record<string, string> = { [GUARD_HEADERS.reservation]: reservationId };
    try {
      const result = await gate.commit(ctx, reservationId, { actual: actual ?? reservation.estimate });
      headers[GUARD_HEADERS.charged] = String(result.charged);
      headers[GUARD_HEADERS.available] = result.balance.available === null ? 'unlimited' : String(result.balance.available);
      if (result.replayed || alreadyCharged) headers[GUARD_HEADERS.replayed] = 'true';
    } catch (error) {
      const status = error instanceof TokenGateError ? error.facts.status : undefined;
      if (error instanceof TokenGateError && error.code === 'reservation_not_pending' && status === 'committed') {
        // Charged by the earlier (or a concurrent) attempt with this key, with another usage.
        headers[GUARD_HEADERS.replayed] = 'true';
      } else {
        // Expired (the handler outlived the hold), refunded by a concurrent attempt, or the ledger is
        // unreachable: the work is done; deliver it, uncharged, and say so.
        report(error, { phase: 'commit', ...where });
      }
    }
    return withHeaders(response, headers);
  };
}

/** The organization from `X-Tokengate-Org`, else `?orgId=`. */
function defaultOrgId(request: Request): { value: string | null; path: string } {
  const header = request.headers.get('x-tokengate-org');
  if (header !== null) return { value: header.trim(), path: 'headers.x-tokengate-org' };
  let query: string | null = null;
  try {
    query = new URL(request.url).searchParams.get('orgId');
  } catch {
    query = null;
  }
  return { value: query, path: query === null ? 'headers.x-tokengate-org' : 'query.orgId' };
}

function checkAmount(value: unknown, min: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_AMOUNT) {
    throw new TypeError(`guard: ${what} must be a whole number of tokens, ${min} to ${MAX_AMOUNT} (got ${String(value)})`);
  }
  return value;
}

/** The response with extra headers (a copy: a handler's headers may be immutable, e.g. from fetch). */
function withHeaders(response: Response, extra: Record<string, string>): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
