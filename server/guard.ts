/**
 * The guard: server-side enforcement for the app's own AI routes. The client hook is UX; this is the lock.
 */
import type { ReserveResult, TokenTypeId } from '../src/core/types.ts';
import { TokenGateError } from '../src/core/token-gate-error.ts';
import type { Authenticate } from './auth.ts';
import type { StoredResponse, TokenGate } from './gate.ts';
import { BodyTooLargeError, concat, readLimited } from './http/read-limited.ts';
import { problemResponse } from './http/problem-response.ts';
import { CHARGE_EVENT, type ChargeEvent } from '../src/core/charge-event.ts';
import { isEventStream, meteredBody, streamCharge } from './guard-stream.ts';

/** What a guarded handler receives besides the request. */
export interface GuardContext {
  /** The verified user (from `authenticate`). */
  userId: string;
  /** The organization that pays (validated uuid). */
  orgId: string;
  /** The hold taken for this run. */
  reservation: ReserveResult;
  /**
   * 1 for the first run of an `Idempotency-Key`; higher when an earlier attempt with the key failed
   * (refunded) or lapsed (its hold expired) and this retry runs the work again. A key whose work
   * was delivered never runs again.
   */
  attempt: number;
  /** The verified claims of the caller's token, when `authenticate` returns them. */
  claims?: Record<string, unknown>;
  /**
   * Report the tokens this request actually used (a whole number, 0 to 1000000; the last call
   * wins). Default: the reservation's estimate. Above the estimate, the excess is charged from what
   * is still available and the rest recorded as uncharged (never a negative balance). For a buffered
   * answer, report before returning the Response. For a streamed answer (see `streamed`), report
   * until the body ends (e.g. from the stream's last chunk, once the model's usage is known); calls
   * after the body ended are ignored.
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
   * How long the hold lives (1 to 86400 seconds). Default 300. It is also the lease of an
   * in-flight request: a retry with the same key answers 409 `request_in_progress` until then. Work
   * delivered after the hold expired is still charged (from what is available then).
   */
  ttlSeconds?: number;
  /**
   * What a repeated `Idempotency-Key` whose work was delivered gets. `'store'`: the charged answer
   * (status, headers but `set-cookie`, body up to `maxReplayBytes`) is stored with the charge, in the
   * same transaction, and replayed with `idempotent-replayed: true`. `'none'` (default): 409
   * `request_completed`. Either way the handler never runs twice for one key.
   */
  replay?: 'store' | 'none';
  /** Largest answer body stored for replay, in bytes (1 to 1048576). Default 65536; larger answers answer 409 on replay. */
  maxReplayBytes?: number;
  /**
   * Which 2xx answers are streamed: charged when their body ENDS rather than when the handler
   * returns. Default: a `text/event-stream` answer (server-sent events, the AI SDK's
   * `toUIMessageStreamResponse()`); `true` for every answer (e.g. `toTextStreamResponse()`'s
   * `text/plain` stream), `false` for none, or a function of the Response.
   *
   * A streamed answer is sent at once with only `x-tokengate-reservation` (charge headers cannot
   * follow a body that has started); the hold stays open and `ctx.reportUsage` counts until the body
   * ends. Then: the body completed → the reported usage is charged (default: the estimate) before
   * the client sees the end; the client went away (or cancelled) → the usage reported so far, at
   * least `minimumCharge`, is charged and the rest refunded — or the whole estimate if the route
   * reported nothing (report as you stream to charge partially; leaving early never makes work
   * free); the handler's stream failed → refunded if nothing was delivered yet (a retry may run
   * again), else charged like a client that left. A charged key is completed (a retry needs a new
   * key). A hold that expired while the body flowed is still
   * charged (a late charge, from what is available then). With `replay: 'store'`, a completed body
   * of at most `maxReplayBytes` is stored for replay; a larger or unfinished one answers 409
   * `request_completed` on replay.
   */
  streamed?: boolean | ((response: Response) => boolean);
  /**
   * Tokens charged at least when a streamed answer ends early after the route reported usage
   * (client disconnect or cancel, or the handler's stream failing after delivering part of it), 0 to
   * 1000000. Default 1: an interrupted stream is never free. Set it to the estimate to charge
   * interrupted streams in full.
   */
  minimumCharge?: number;
  /**
   * For a streamed `text/event-stream` answer that completes: append one last event with the charge,
   * `event: tokengate-charge` with data `{"charged":n,"available":n|"unlimited","reservationId":"…"}`
   * (`parseChargeEvent` from `tokengate` reads it). Default false. Not sent when the charge could not
   * be written (the client then refetches balances).
   */
  chargeEvent?: boolean;
  /**
   * Largest request body, in bytes (413 above). Default 1048576. The body is read in full BEFORE the
   * hold is taken, so a slowly sent body never runs down the hold's time.
   */
  maxBodyBytes?: number;
  /**
   * Told about failures the caller does not see in full: the handler's own exception (answered as a
   * bare 500), a refund that failed (the hold then expires after `ttlSeconds` and is refunded), and
   * a charge that could not be written after the handler succeeded (the answer is then withheld:
   * 503; for a streamed answer the bytes were already sent: the charge is retried in the background,
   * a late charge if the hold expired meanwhile, and each failed round is reported here).
   * Must not throw (if it does, that is ignored).
   */
  onError?: (error: unknown, info: GuardErrorInfo) => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IDEMPOTENCY_KEY = /^[!-~]{1,255}$/;
const MAX_AMOUNT = 1_000_000;
/** Response headers never stored for replay: per-connection, per-user, or recomputed. */
const UNREPLAYABLE = new Set(['set-cookie', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'date']);
/** Attempts of the final charge when the ledger is briefly unreachable (the call is idempotent). */
const COMMIT_ATTEMPTS = 3;
/**
 * A streamed answer whose charge could not be written was delivered anyway: it is charged again
 * after these delays (guard_commit charges late once the hold expired), a best effort of this process.
 */
const LATE_COMMIT_DELAYS_MS = [1_000, 10_000, 60_000, 300_000];

/** Response headers the guard adds to a charged (2xx) answer (a streamed one gets `reservation` only). */
export const GUARD_HEADERS = {
  /** Tokens charged for this request's Idempotency-Key (on a replay, the earlier charge). */
  charged: 'x-tokengate-charged',
  /** Tokens of the type still available after the charge, or `unlimited` (not sent on replays). */
  available: 'x-tokengate-available',
  /** The reservation id (for support and reconciliation). */
  reservation: 'x-tokengate-reservation',
  /** `true` on a replayed answer: the work was not run again and nothing new was charged. */
  replayed: 'idempotent-replayed',
} as const;

/**
 * Wrap one of the app's own AI routes so it is charged on the server: hold an estimate before the
 * handler runs, charge the usage it reports after a 2xx answer, refund the hold otherwise — and
 * answer with problem+json without running the handler when the caller cannot pay. Every run of
 * the handler that delivers an answer is paid for, and an `Idempotency-Key` never runs it twice.
 *
 * Flow, per request:
 * 1. `authenticate` (401 `unauthorized`; the handler does not run, nothing is written).
 * 2. Read the whole body (413 above `maxBodyBytes`), the organization (400 `invalid_request` unless
 *    a uuid) and the `Idempotency-Key` header (400 unless 1–255 visible ASCII characters). Without
 *    the header a random key is used, so a client retry is then a new request and is charged again.
 * 3. Claim the key and hold the estimate, in one transaction (`gate.guardBegin`):
 *    - the key's work was delivered before → its stored answer (`replay: 'store'`) or 409
 *      `request_completed`; the handler does not run;
 *    - an attempt with the key holds tokens now → 409 `request_in_progress` with `Retry-After`;
 *    - refusals as the ledger names them: 402 `insufficient_tokens` / `member_quota_exceeded`, 403
 *      `plan_blocked` / `not_a_member`, 404 `unknown_organization`, 409 `idempotency_conflict`
 *      (the key was used by another user, token type or estimate), 503 `unavailable`.
 * 4. Run `handler(request, context)`. It throws → refund, 500 `internal` (its message goes to
 *    `onError`, not the caller). It answers non-2xx → refund, its response passed through; a retry
 *    with the same key may run again. It answers 2xx → charge the reported usage (default: the
 *    estimate; after an expired hold, a late charge from what is available), store the answer when
 *    `replay: 'store'`, and pass it through with `x-tokengate-charged`, `x-tokengate-available` and
 *    `x-tokengate-reservation`. If the charge cannot be written (the ledger stays unreachable after
 *    retries), the answer is withheld: 503 `unavailable`. Work is never delivered uncharged.
 *    A streamed 2xx answer (option `streamed`; default `text/event-stream`) is passed through at
 *    once and charged when its body ends — see `streamed`, `minimumCharge` and `chargeEvent`.
 *
 * Holds taken here can only be resolved by the guard: the member API's commit and release answer
 * 404 for them, so a caller cannot refund the hold of a run in flight. Each ledger call is its own
 * short transaction: no transaction or lock is held while the handler runs.
 *
 * The option functions (`tokenType`, `estimate`, `orgId`) see the request before the handler:
 * read its body from `request.clone()`, never from `request` itself.
 *
 * @example
 * // app/api/generate-quests/route.ts (Next.js)
 * export const POST = guard(
 *   { gate, authenticate: supabaseAuth({ issuer }), tokenType: 'quest_generation', replay: 'store' },
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
  const {
    gate,
    authenticate,
    tokenType,
    estimate,
    orgId: orgIdOf,
    ttlSeconds = 300,
    replay = 'none',
    maxReplayBytes = 65_536,
    maxBodyBytes = 1_048_576,
    streamed = isEventStream,
    minimumCharge = 1,
    chargeEvent = false,
    onError,
  } = options ?? ({} as GuardOptions);
  if (!gate || typeof gate.guardBegin !== 'function') throw new TypeError('guard: `gate` (createTokenGate(...)) is required');
  if (typeof authenticate !== 'function') throw new TypeError('guard: `authenticate` is required');
  if (typeof handler !== 'function') throw new TypeError('guard: a handler function is required');
  if (typeof tokenType !== 'function' && (typeof tokenType !== 'string' || tokenType === '')) {
    throw new TypeError('guard: `tokenType` must be a token type id or a function of the request');
  }
  if (estimate !== undefined && typeof estimate !== 'function') checkAmount(estimate, 1, 'estimate');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) throw new TypeError('guard: `ttlSeconds` must be 1 to 86400');
  if (replay !== 'store' && replay !== 'none') throw new TypeError("guard: `replay` must be 'store' or 'none'");
  if (!Number.isInteger(maxReplayBytes) || maxReplayBytes < 1 || maxReplayBytes > 1_048_576) {
    throw new TypeError('guard: `maxReplayBytes` must be 1 to 1048576');
  }
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) throw new TypeError('guard: `maxBodyBytes` must be a whole number of bytes');
  if (typeof streamed !== 'boolean' && typeof streamed !== 'function') throw new TypeError('guard: `streamed` must be a boolean or a function of the Response');
  checkAmount(minimumCharge, 0, 'minimumCharge');
  if (typeof chargeEvent !== 'boolean') throw new TypeError('guard: `chargeEvent` must be a boolean');

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

  return async function guarded(incoming: Request): Promise<Response> {
    // 1. Who is calling, before anything else.
    let user: Awaited<ReturnType<Authenticate>>;
    try {
      user = await authenticate(incoming);
      if (!user || typeof user.userId !== 'string' || user.userId === '') throw new TypeError('guard: authenticate returned no userId');
    } catch (error) {
      return fail(error, { phase: 'authenticate' });
    }
    const { userId } = user;

    // 2. Inputs, with the body read in full first: the hold's clock starts after it has arrived.
    let request: Request;
    let orgId: string;
    let idempotencyKey: string;
    let type: TokenTypeId;
    let amount: number | undefined;
    try {
      request = await buffered(incoming, maxBodyBytes);
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

    // 3. Claim the key and hold the estimate (one transaction), or answer without running.
    let begun: Awaited<ReturnType<TokenGate['guardBegin']>>;
    try {
      begun = await gate.guardBegin(ctx, type, { idempotencyKey, ttlSeconds, ...(amount === undefined ? {} : { estimate: amount }) });
    } catch (error) {
      return fail(error, { phase: 'reserve', ...ctx });
    }
    if (begun.outcome === 'in_progress') {
      return problemResponse(
        new TokenGateError('request_in_progress', 'A request with this Idempotency-Key is still running; retry later.', {
          facts: { reservationId: begun.reservationId, retryAfter: begun.retryAfter },
        }),
        { 'retry-after': String(begun.retryAfter) },
      );
    }
    if (begun.outcome === 'completed') {
      if (begun.response) return replayed(begun.response, begun.charged, begun.reservationId);
      return problemResponse(
        new TokenGateError('request_completed', 'The work of this Idempotency-Key was already delivered and charged; send a new key to run it again.', {
          facts: { reservationId: begun.reservationId, charged: begun.charged },
        }),
      );
    }
    const { reservation, attempt } = begun;
    const { reservationId } = reservation;
    const hold = { idempotencyKey, reservationId };
    const where = { ...ctx, reservationId };

    // 4. The app's work, with no transaction open.
    let actual: number | undefined;
    let ended = false;
    const context: GuardContext = {
      userId,
      orgId,
      reservation,
      attempt,
      ...(user.claims ? { claims: user.claims } : {}),
      reportUsage(value: number) {
        const checked = checkAmount(value, 0, 'reportUsage');
        // After the charge was decided, a report would be a charge nobody writes.
        if (!ended) actual = checked;
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

    // 5a. A streamed answer: sent now, charged when its body ends.
    if (response.body !== null && (typeof streamed === 'function' ? streamed(response) : streamed)) {
      const sse = isEventStream(response);
      const body = meteredBody(response.body, {
        keepBytes: replay === 'store' ? maxReplayBytes : 0,
        onEnd: async (end) => {
          ended = true;
          if (end.outcome === 'errored') report(end.reason, { phase: 'handler', ...where });
          if (end.outcome === 'errored' && end.delivered === 0) {
            // A failed run that delivered nothing is refunded, like a handler that throws.
            await release();
            return null;
          }
          const charge = streamCharge(end.outcome, actual, reservation.estimate, minimumCharge);
          const stored = end.bytes ? toStored(response, end.bytes) : null;
          const result = await commit(charge, stored);
          if (!result) {
            // The bytes are out: keep trying to charge them (late, once the hold has expired).
            void chargeLater(charge, stored);
            return null;
          }
          if (!chargeEvent || !sse || end.outcome !== 'completed') return null;
          const event: ChargeEvent = { charged: result.charged, available: result.balance.available ?? 'unlimited', reservationId };
          return new TextEncoder().encode(`event: ${CHARGE_EVENT}\ndata: ${JSON.stringify(event)}\n\n`);
        },
      });
      const init = { status: response.status, statusText: response.statusText, headers: response.headers };
      return withHeaders(new Response(body, init), { [GUARD_HEADERS.reservation]: reservationId });
    }

    // 5b. Charge what was used (its own transaction), storing the answer for replay when asked.
    let delivered = response;
    let stored: StoredResponse | null = null;
    if (replay === 'store') ({ delivered, stored } = await storable(response, maxReplayBytes));
    ended = true;
    const result = await commit(actual ?? reservation.estimate, stored);
    if (!result) {
      // Not charged, so not delivered: the hold is refunded when it expires.
      await delivered.body?.cancel().catch(() => undefined);
      return problemResponse(new TokenGateError('unavailable', 'The work could not be charged; try again shortly.'), { 'retry-after': '5' });
    }
    return withHeaders(delivered, {
      [GUARD_HEADERS.reservation]: reservationId,
      [GUARD_HEADERS.charged]: String(result.charged),
      [GUARD_HEADERS.available]: result.balance.available === null ? 'unlimited' : String(result.balance.available),
    });

    /** The charge, retried while the ledger is briefly unavailable; undefined (reported) when it could not be written. */
    async function commit(charge: number, stored: StoredResponse | null) {
      for (let i = 1; i <= COMMIT_ATTEMPTS; i++) {
        try {
          return await gate.guardCommit(ctx, { ...hold, actual: charge, response: stored });
        } catch (error) {
          if (!(error instanceof TokenGateError && error.code === 'unavailable' && i < COMMIT_ATTEMPTS)) {
            report(error, { phase: 'commit', ...where });
            return undefined;
          }
          await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** i));
        }
      }
      return undefined;
    }

    /** Background rounds of `commit` for delivered streamed work (the process may end first: a best effort). */
    async function chargeLater(charge: number, stored: StoredResponse | null): Promise<void> {
      for (const delay of LATE_COMMIT_DELAYS_MS) {
        await new Promise((resolve) => setTimeout(resolve, delay).unref?.());
        if (await commit(charge, stored)) return;
      }
    }

    async function release(): Promise<void> {
      try {
        await gate.guardRelease(ctx, hold);
      } catch (error) {
        // The hold stays until it expires (ttlSeconds), and is refunded then.
        report(error, { phase: 'release', ...where });
      }
    }
  };
}

/** The stored answer of a completed key, as a Response. */
function replayed(stored: StoredResponse, charged: number, reservationId: string): Response {
  const headers = new Headers(stored.headers);
  headers.set(GUARD_HEADERS.replayed, 'true');
  headers.set(GUARD_HEADERS.charged, String(charged));
  headers.set(GUARD_HEADERS.reservation, reservationId);
  const body = Buffer.from(stored.body, 'base64');
  return new Response(stored.status === 204 || stored.status === 205 ? null : body, { status: stored.status, headers });
}

/** A delivered answer as stored for replay. */
function toStored(response: Response, bytes: Uint8Array): StoredResponse {
  const headers = [...response.headers].filter(([name]) => !UNREPLAYABLE.has(name.toLowerCase()));
  return { status: response.status, headers, body: Buffer.from(bytes).toString('base64') };
}

/**
 * The answer to deliver and, when its body fits `max`, the same answer to store. A larger body is
 * delivered whole (the read part, then the rest of the stream) and stored as nothing.
 */
async function storable(response: Response, max: number): Promise<{ delivered: Response; stored: StoredResponse | null }> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  let done = reader === undefined;
  while (!done && size <= max) {
    const next = await reader!.read();
    if (next.done) done = true;
    else {
      chunks.push(next.value);
      size += next.value.byteLength;
    }
  }
  const init = { status: response.status, statusText: response.statusText, headers: response.headers };
  if (done) {
    const bytes = concat(chunks, size);
    return { delivered: new Response(response.body === null ? null : bytes, init), stored: toStored(response, bytes) };
  }
  const rest = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
    },
    async pull(controller) {
      const next = await reader!.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: (reason) => reader!.cancel(reason),
  });
  return { delivered: new Response(rest, init), stored: null };
}

/** The request with its body read in full (at most `max` bytes; 413 above), so it can be read again. */
async function buffered(request: Request, max: number): Promise<Request> {
  if (request.body === null) return request;
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > max) throw tooLarge(max);
  let body: Uint8Array<ArrayBuffer>;
  try {
    body = await readLimited(request.body, max);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw tooLarge(max);
    throw new TokenGateError('invalid_request', 'The body could not be read.', { errors: [{ path: 'body', message: 'could not be read' }] });
  }
  return new Request(request.url, { method: request.method, headers: request.headers, body, signal: request.signal });
}

function tooLarge(max: number): TokenGateError {
  return new TokenGateError('payload_too_large', `The body must be at most ${max} bytes.`, { facts: { maxBytes: max } });
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
