import type { LanguageModelMiddleware, LanguageModelUsage } from 'ai';
import type { TokenTypeId } from '../../src/core/types.ts';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { GateContext, TokenGate } from '../gate.ts';
import type { GuardContext } from '../guard.ts';
import { CHARS_PER_TOKEN, plainUsage, promptTokens, toLanguageModelUsage, type ModelCallOptions } from './model-usage.ts';

/** One model call (a step of `generateText`/`streamText`), as `estimate` and `idempotencyKey` see it. */
export interface ModelCall {
  /** `generate` for `generateText`/`generateObject`, `stream` for `streamText`/`streamObject`. */
  type: 'generate' | 'stream';
  /** 1 for the first model call through this middleware, 2 for the next step of a tool loop, … */
  step: number;
  /** The call options the model receives (prompt, `maxOutputTokens`, tools, …). */
  params: ModelCallOptions;
  /** The prompt's size in model tokens, estimated (4 characters a token). */
  promptTokens: number;
}

/** Where a problem reported to `onError` happened. */
export interface AiErrorInfo {
  phase: 'commit' | 'release';
  step: number;
  reservationId: string;
}

/** Options of `tokengateMiddleware`. */
export interface TokengateMiddlewareOptions {
  /** The domain API (`createTokenGate({ store })`). */
  gate: TokenGate;
  /**
   * Who pays. Either a verified `{ userId, orgId }` (standalone: each model call takes and resolves
   * its own hold), or the `GuardContext` of a `guard`ed route (no second hold: the priced usage is
   * reported to the guard, which charges it when the answer ends).
   */
  context: GateContext | GuardContext;
  /** The token type the model calls spend. */
  tokenType: TokenTypeId;
  /**
   * The Tokengate tokens a model usage costs (the AI SDK's `LanguageModelUsage`: input, cached and
   * output tokens, reasoning tokens). Rounded up to a whole number; called with the real usage after
   * each call and with estimated usages before it. Must not throw.
   */
  price: (usage: LanguageModelUsage) => number;
  /**
   * Tokens to hold before a model call (standalone mode). Default: `price` of the prompt's estimated
   * size (4 characters a token) plus `maxOutputTokens` of output — which must then be set (a
   * `TypeError` before any model call otherwise: an unbounded answer has no safe estimate).
   */
  estimate?: number | ((call: ModelCall) => number);
  /**
   * The idempotency key of a model call's hold (standalone mode). Default: a random key per call.
   * A key whose work was already charged answers 409 `request_completed` instead of calling the model.
   */
  idempotencyKey?: (call: ModelCall) => string;
  /** How long a hold lives (1 to 86400 s, default 600). A call that outlives it is still charged (late). */
  ttlSeconds?: number;
  /**
   * Tokens charged at least for a streamed call that ends without the model's usage (the consumer
   * aborted, the stream failed). Default 1.
   */
  minimumCharge?: number;
  /** Stored with each ledger entry (standalone mode). */
  metadata?: Record<string, unknown>;
  /** Told about a charge that could not be written (it is retried) and a refund that failed. Must not throw. */
  onError?: (error: unknown, info: AiErrorInfo) => void;
}

const MAX_AMOUNT = 1_000_000;
const COMMIT_ATTEMPTS = 3;
const LATE_COMMIT_DELAYS_MS = [1_000, 10_000, 60_000, 300_000];

/** Whether `context` is a guard's (it can report usage). */
function isGuardContext(context: GateContext | GuardContext): context is GuardContext {
  return typeof (context as GuardContext).reportUsage === 'function' && typeof (context as GuardContext).reservation === 'object';
}

/**
 * An AI SDK language-model middleware that gates every model call BEFORE it runs and charges the
 * model's own usage AFTER it (for `wrapLanguageModel`, AI SDK 7).
 *
 * Standalone (server code with a verified `{ userId, orgId }`): each model call — each step of a
 * tool loop — holds an estimate (refused with the ledger's `TokenGateError`, e.g. 402
 * `insufficient_tokens`, before the model is called), then charges `price(usage)` from the result
 * (`generateText`) or from the stream's `finish` part (`streamText`) and refunds the rest of its
 * hold; a model call that fails releases its hold. A streamed call that ends without a `finish`
 * part (the consumer aborted, the stream failed) is charged `price` of the prompt estimate plus the
 * characters streamed so far (4 a token), at least `minimumCharge`. Above a call's hold, the excess
 * is charged from what is still available and whatever cannot be covered is recorded as uncharged:
 * the balance never goes negative, and the next step's hold is refused when nothing is left. A
 * call that outlives its hold (`ttlSeconds`) is still charged, late. If the charge cannot be
 * written, `generateText` fails with 503 `unavailable` (the answer is withheld); a stream was
 * already consumed, so its charge is retried in the background and reported to `onError`.
 *
 * Inside a `guard`ed route (`context` is the handler's `GuardContext`): no second hold. Each step's
 * priced usage is added up and reported with `ctx.reportUsage`, and the guard charges the total when
 * the answer ends. A step is refused (402 `insufficient_tokens`) once the steps so far used up the
 * guard's estimate, so a tool loop never spends past the route's hold.
 *
 * @example
 * // Standalone: a background job with a verified context.
 * const model = wrapLanguageModel({
 *   model: openai('gpt-5-mini'),
 *   middleware: tokengateMiddleware({
 *     gate, context: { userId, orgId }, tokenType: 'strategy_analysis',
 *     // 1 Tokengate token per 1,000 model tokens; reasoning counts as output.
 *     price: (u) => ((u.inputTokens ?? 0) + (u.outputTokens ?? 0)) / 1000,
 *   }),
 * });
 * const { text } = await generateText({ model, prompt, maxOutputTokens: 2000 });
 *
 * @example
 * // Inside a guarded route: the guard holds, the middleware reports.
 * export const POST = guard({ gate, authenticate, tokenType: 'strategy_analysis', estimate: 50, chargeEvent: true }, async (request, ctx) => {
 *   const model = wrapLanguageModel({ model: openai('gpt-5-mini'), middleware: tokengateMiddleware({ gate, context: ctx, tokenType: 'strategy_analysis', price }) });
 *   return streamText({ model, prompt: (await request.json()).prompt }).toUIMessageStreamResponse();
 * });
 */
export function tokengateMiddleware(options: TokengateMiddlewareOptions): LanguageModelMiddleware {
  const { gate, context, tokenType, price, estimate, idempotencyKey, ttlSeconds = 600, minimumCharge = 1, metadata, onError } = options ?? ({} as TokengateMiddlewareOptions);
  if (!gate || typeof gate.guardBegin !== 'function') throw new TypeError('tokengateMiddleware: `gate` (createTokenGate(...)) is required');
  if (!context || typeof context.userId !== 'string' || typeof context.orgId !== 'string') {
    throw new TypeError('tokengateMiddleware: `context` must be a verified { userId, orgId } or a guard context');
  }
  if (typeof tokenType !== 'string' || tokenType === '') throw new TypeError('tokengateMiddleware: `tokenType` is required');
  if (typeof price !== 'function') throw new TypeError('tokengateMiddleware: `price` (usage → tokens) is required');
  if (estimate !== undefined && typeof estimate !== 'function') whole(estimate, 1, 'estimate');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 86_400) throw new TypeError('tokengateMiddleware: `ttlSeconds` must be 1 to 86400');
  whole(minimumCharge, 0, 'minimumCharge');

  const guarded = isGuardContext(context) ? context : null;
  const ctx: GateContext = { userId: context.userId, orgId: context.orgId };
  let steps = 0;
  /** Priced usage of the steps so far (guard mode). */
  let spent = 0;

  const report = (error: unknown, info: AiErrorInfo) => {
    try {
      onError?.(error, info);
    } catch {
      // A logger that throws must not change the outcome.
    }
  };
  const priced = (usage: LanguageModelUsage) => whole(Math.ceil(price(usage)), 0, 'price(usage)');

  /** A step's charge: its hold (standalone) and how to resolve it. */
  interface Step {
    call: ModelCall;
    /** Charge `tokens` for this step (once); throws when the charge could not be written. */
    charge(tokens: number, background: boolean): Promise<void>;
    /** Refund this step (standalone), or nothing (guard mode). */
    release(): Promise<void>;
  }

  async function begin(type: ModelCall['type'], params: ModelCallOptions): Promise<Step> {
    const call: ModelCall = { type, step: ++steps, params, promptTokens: promptTokens(params) };
    if (guarded) {
      if (spent >= guarded.reservation.estimate) {
        throw new TokenGateError('insufficient_tokens', "The route's hold is used up; no further model call is made.", {
          facts: { reason: 'insufficient_tokens', tokenType, held: guarded.reservation.estimate, spent, step: call.step },
        });
      }
      return {
        call,
        async charge(tokens) {
          spent = Math.min(spent + tokens, MAX_AMOUNT);
          guarded.reportUsage(spent);
        },
        async release() {},
      };
    }

    const amount = Math.max(1, Math.min(MAX_AMOUNT, estimateOf(call)));
    const key = idempotencyKey ? idempotencyKey(call) : `ai-${crypto.randomUUID()}`;
    const begun = await gate.guardBegin(ctx, tokenType, { idempotencyKey: key, estimate: amount, ttlSeconds, metadata: { ...metadata, step: call.step } });
    if (begun.outcome === 'in_progress') {
      throw new TokenGateError('request_in_progress', 'A model call with this idempotency key is still running.', { facts: { reservationId: begun.reservationId, retryAfter: begun.retryAfter } });
    }
    if (begun.outcome === 'completed') {
      throw new TokenGateError('request_completed', 'The model call of this idempotency key was already made and charged.', { facts: { reservationId: begun.reservationId, charged: begun.charged } });
    }
    const hold = { idempotencyKey: key, reservationId: begun.reservation.reservationId };
    let settled = false;
    const commit = async (tokens: number) => {
      for (let i = 1; ; i++) {
        try {
          return await gate.guardCommit(ctx, { ...hold, actual: tokens, metadata: { ...metadata, step: call.step } });
        } catch (error) {
          if (!(error instanceof TokenGateError && error.code === 'unavailable' && i < COMMIT_ATTEMPTS)) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** i));
        }
      }
    };
    return {
      call,
      async charge(tokens, background) {
        if (settled) return;
        settled = true;
        try {
          await commit(tokens);
        } catch (error) {
          report(error, { phase: 'commit', step: call.step, reservationId: hold.reservationId });
          if (!background) throw error;
          // The stream was consumed: the work is out, keep trying to charge it (late after expiry).
          void (async () => {
            for (const delay of LATE_COMMIT_DELAYS_MS) {
              await new Promise((resolve) => setTimeout(resolve, delay).unref?.());
              try {
                return void (await commit(tokens));
              } catch (again) {
                report(again, { phase: 'commit', step: call.step, reservationId: hold.reservationId });
              }
            }
          })();
        }
      },
      async release() {
        if (settled) return;
        settled = true;
        try {
          await gate.guardRelease(ctx, { ...hold, metadata: { ...metadata, step: call.step } });
        } catch (error) {
          // The hold is refunded when it expires.
          report(error, { phase: 'release', step: call.step, reservationId: hold.reservationId });
        }
      },
    };
  }

  function estimateOf(call: ModelCall): number {
    if (typeof estimate === 'number') return estimate;
    if (typeof estimate === 'function') return whole(estimate(call), 1, 'estimate');
    const { maxOutputTokens } = call.params;
    if (typeof maxOutputTokens !== 'number') {
      throw new TypeError('tokengateMiddleware: set `maxOutputTokens` on the call, or pass `estimate`: an unbounded answer has no safe estimate');
    }
    return priced(plainUsage(call.promptTokens, maxOutputTokens));
  }

  /** What an interrupted streamed step is charged: the prompt and what was streamed so far. */
  const partial = (call: ModelCall, chars: number) => Math.max(minimumCharge, priced(plainUsage(call.promptTokens, Math.ceil(chars / CHARS_PER_TOKEN))));

  return {
    specificationVersion: 'v4',

    async wrapGenerate({ doGenerate, params }) {
      const step = await begin('generate', params);
      let result: Awaited<ReturnType<typeof doGenerate>>;
      try {
        result = await doGenerate();
      } catch (error) {
        await step.release();
        throw error;
      }
      try {
        await step.charge(priced(toLanguageModelUsage(result.usage)), false);
      } catch {
        // Not charged, so not delivered.
        throw new TokenGateError('unavailable', 'The model call could not be charged; try again shortly.');
      }
      return result;
    },

    async wrapStream({ doStream, params }) {
      const step = await begin('stream', params);
      let result: Awaited<ReturnType<typeof doStream>>;
      try {
        result = await doStream();
      } catch (error) {
        await step.release();
        throw error;
      }
      type Part = typeof result.stream extends ReadableStream<infer P> ? P : never;
      const reader = result.stream.getReader();
      let chars = 0;
      let done = false;
      const settle = async (tokens: number) => {
        if (done) return;
        done = true;
        await step.charge(tokens, true);
      };
      const stream = new ReadableStream<Part>(
        {
          async pull(controller) {
            let next: ReadableStreamReadResult<Part>;
            try {
              next = await reader.read();
            } catch (error) {
              await settle(partial(step.call, chars));
              controller.error(error);
              return;
            }
            if (next.done) {
              // Ended without the model's usage: charged as interrupted.
              await settle(partial(step.call, chars));
              controller.close();
              return;
            }
            const part = next.value;
            if (part.type === 'text-delta' || part.type === 'reasoning-delta' || part.type === 'tool-input-delta') chars += part.delta.length;
            // Charged before the finish part is passed on, so the caller sees it after the charge.
            if (part.type === 'finish') await settle(priced(toLanguageModelUsage(part.usage)));
            controller.enqueue(part);
          },
          async cancel(reason) {
            const charged = settle(partial(step.call, chars));
            await reader.cancel(reason).catch(() => undefined);
            await charged;
          },
        },
        { highWaterMark: 0 },
      );
      return { ...result, stream };
    },
  };
}

function whole(value: unknown, min: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_AMOUNT) {
    throw new TypeError(`tokengateMiddleware: ${what} must be a whole number of tokens, ${min} to ${MAX_AMOUNT} (got ${String(value)})`);
  }
  return value;
}
