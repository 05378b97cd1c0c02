import type Stripe from 'stripe';
import type { ClawbackResult, GrantResult } from '../../src/core/types.ts';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { TokenGate } from '../gate.ts';
import { jsonResponse } from '../http/json-response.ts';
import { problemResponse } from '../http/problem-response.ts';
import { BodyTooLargeError, readLimited } from '../http/read-limited.ts';
import { defaultOrgId, idOf, resolvePayment, type PaymentLookups, type ResolvedPayment, type TopUpLine, type TopUpPayment, type TopUpProduct } from './payment-lines.ts';
import { refundDelta, refundShare } from './refund-share.ts';

/** Options of `createStripeTopUps`. */
export interface StripeTopUpsOptions {
  /** The app's Stripe client (`new Stripe(secretKey)`): verifies signatures, and reads line items and payments. */
  stripe: Stripe;
  /** The endpoint's signing secret (`whsec_…`); several while rotating (any one verifies). */
  webhookSecret: string | readonly string[];
  /** The gate whose ledger is credited. */
  gate: TokenGate;
  /** Stripe price id (or product id) → what one unit buys. Prices not listed grant nothing. */
  products: Readonly<Record<string, TopUpProduct>>;
  /**
   * The organization a payment credits. Default: a Checkout Session's `client_reference_id`, then
   * `metadata.tokengate_org_id`. Return null to grant nothing (the event is answered `ignored: 'no_org'`).
   */
  orgId?: (payment: TopUpPayment) => string | null | undefined;
  /**
   * The line items of a Checkout Session. Default: `session.line_items` when the event carries all
   * of them, else `stripe.checkout.sessions.listLineItems` (every page).
   */
  lineItems?: (session: Stripe.Checkout.Session) => Promise<Stripe.LineItem[]>;
  /**
   * The payment behind a refund or dispute, by PaymentIntent id. Default: the Checkout Session of
   * that PaymentIntent (`stripe.checkout.sessions.list({ payment_intent })`), else the PaymentIntent
   * itself (`stripe.paymentIntents.retrieve`).
   */
  findPayment?: (paymentIntentId: string) => Promise<TopUpPayment | null>;
  /** Called with every verified event's outcome (granted, clawed back or ignored) before it is answered. */
  onEvent?: (event: Stripe.Event, outcome: TopUpOutcome) => void | Promise<void>;
  /** Largest body accepted, bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Seconds a signature's timestamp may be away from now (default: the Stripe library's 300). */
  tolerance?: number;
}

/** Why a verified event granted or took back nothing. */
export type TopUpIgnoredReason =
  | 'unhandled_event'
  | 'not_paid'
  | 'not_a_payment'
  | 'not_a_top_up'
  | 'unknown_price'
  | 'no_org'
  | 'nothing_to_claw_back';

/** One grant an event made (or found already made: `replayed`). */
export interface TopUpGrant {
  grantKey: string;
  grantId: string | null;
  tokenType: string;
  granted: number;
  productKey: string;
  quantity: number;
  /** True when the payment was already granted (a redelivery, or the other event of the same payment). */
  replayed: boolean;
}

/** One clawback an event made. */
export interface TopUpClawback {
  grantKey: string;
  tokenType: string;
  /** Tokens asked for (null: everything left, revoking the grant). */
  requested: number | null;
  clawedBack: number;
  /** What could not be taken back because it was spent already (recorded in the ledger). */
  shortfall: number;
  revoked: boolean;
  replayed: boolean;
}

/** What the handler did with one verified event: the JSON body of its 200 answer. */
export interface TopUpOutcome {
  received: true;
  eventId: string;
  eventType: string;
  /** Set when nothing was granted or taken back. */
  ignored?: TopUpIgnoredReason;
  orgId?: string;
  paymentIntent?: string;
  grants?: TopUpGrant[];
  clawbacks?: TopUpClawback[];
  /** Prices (or products) of the payment that `products` does not map: nothing was granted for them. */
  unknownPrices?: string[];
}

const DAY_MS = 86_400_000;

/**
 * A webhook endpoint for Stripe top-ups: verifies the `Stripe-Signature` with the official library,
 * grants the tokens a successful payment bought exactly once per payment line
 * (`stripe:<payment intent>:<line index>`, whatever event or how many deliveries carry it), and
 * takes back the refunded or disputed share of what is still unspent.
 *
 * - `checkout.session.completed` (paid) and `checkout.session.async_payment_succeeded`, and
 *   `payment_intent.succeeded` for PaymentIntents whose metadata names `tokengate_price`: grant.
 * - `charge.refunded` (cumulative `amount_refunded`, the step from `previous_attributes`) and
 *   `charge.dispute.created`: claw back `floor(granted × returned / paid)`, or everything left when
 *   the whole payment is returned; never below zero — the shortfall is recorded.
 * - Other events, unknown prices, payments naming no organization: 200 with `ignored`.
 *
 * Answers: 400 `invalid_signature` (nothing read or written), 200 JSON outcome, a ledger refusal's
 * problem (4xx: Stripe retries, and shows it), 503 when the database or Stripe's API is
 * unreachable (Stripe retries).
 *
 * @example
 * import Stripe from 'stripe';
 * import { createStripeTopUps } from 'tokengate/server/stripe';
 * const stripe = new Stripe(process.env.STRIPE_SECRET_KEY!);
 * export const POST = createStripeTopUps({
 *   stripe,
 *   webhookSecret: process.env.STRIPE_WEBHOOK_SECRET!,
 *   gate,
 *   products: { price_credits_100: { tokenType: 'quest_generation', amount: 100, expiresInDays: 365 } },
 * });
 */
export function createStripeTopUps(options: StripeTopUpsOptions): (request: Request) => Promise<Response> {
  const { stripe, gate, products } = options;
  const secrets = typeof options.webhookSecret === 'string' ? [options.webhookSecret] : [...options.webhookSecret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw new TypeError('createStripeTopUps: webhookSecret must be a non-empty signing secret (whsec_…).');
  }
  for (const [key, product] of Object.entries(products)) {
    // A mapping mistake would otherwise surface as a failed webhook for every sale of that price.
    if (!product || typeof product.tokenType !== 'string' || !Number.isSafeInteger(product.amount) || product.amount < 1) {
      throw new TypeError(`createStripeTopUps: products.${key} needs a tokenType and a whole amount ≥ 1.`);
    }
    const days = product.expiresInDays;
    if (days !== undefined && days !== null && !(Number.isFinite(days) && days > 0)) {
      throw new TypeError(`createStripeTopUps: products.${key}.expiresInDays must be a positive number of days (or null: never).`);
    }
  }
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  const lookups: PaymentLookups = {
    orgId: options.orgId ?? defaultOrgId,
    lineItems: options.lineItems ?? ((session) => defaultLineItems(stripe, session)),
  };
  const findPayment = options.findPayment ?? ((id: string) => defaultFindPayment(stripe, id));

  async function verify(request: Request): Promise<Stripe.Event> {
    const signature = request.headers.get('stripe-signature');
    if (!signature) throw new TokenGateError('invalid_signature', 'The Stripe-Signature header is missing.');
    let body: Uint8Array;
    try {
      body = await readLimited(request.body, maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new TokenGateError('payload_too_large', error.message, { facts: { maxBytes: maxBodyBytes } });
      throw new TokenGateError('invalid_request', 'The webhook body could not be read.', { cause: error });
    }
    let lastError: unknown;
    for (const secret of secrets) {
      try {
        return await stripe.webhooks.constructEventAsync(body, signature, secret, options.tolerance);
      } catch (error) {
        lastError = error;
      }
    }
    // A signature that verifies with no secret, or a body that is not JSON after all: either way
    // nothing from it is trusted.
    throw new TokenGateError('invalid_signature', 'The Stripe signature is not valid for this endpoint.', { cause: lastError });
  }

  async function grant(event: Stripe.Event, payment: TopUpPayment): Promise<TopUpOutcome> {
    const base = { received: true as const, eventId: event.id, eventType: event.type };
    const resolved = await resolvePayment(payment, products, lookups);
    if (resolved === null) return { ...base, ignored: payment.object === 'payment_intent' ? 'not_a_top_up' : 'not_a_payment' };
    const facts = { paymentIntent: resolved.paymentIntentId, ...unknownFacts(resolved) };
    if (resolved.lines.length === 0) return { ...base, ...facts, ignored: 'unknown_price' };
    if (resolved.orgId === null) return { ...base, ...facts, ignored: 'no_org' };
    const ctx = { orgId: resolved.orgId, actorId: null };
    const paidAt = event.created * 1000;
    const grants: TopUpGrant[] = [];
    // One line at a time: a retry after a failure replays the lines already granted.
    for (const line of resolved.lines) {
      const days = line.product.expiresInDays;
      const opts = {
        amount: line.tokens,
        idempotencyKey: line.grantKey,
        source: line.product.source ?? 'purchase',
        expiresAt: days === null || days === undefined ? null : new Date(paidAt + days * DAY_MS),
        ...(line.product.priority === undefined ? {} : { priority: line.product.priority }),
        metadata: grantMetadata(event, resolved, line),
      } as const;
      grants.push(await grantOnce(gate, ctx, line, opts));
    }
    return { ...base, ...facts, orgId: resolved.orgId, grants };
  }

  /**
   * Take back `share(line)` tokens (null: all that is left) of every grant of the payment behind a
   * charge; `key` names this refund or dispute, so a redelivery takes nothing more.
   */
  async function clawBack(event: Stripe.Event, paymentIntentId: string | null, key: string, reason: string, share: (line: TopUpLine, resolved: ResolvedPayment) => number | null): Promise<TopUpOutcome> {
    const base = { received: true as const, eventId: event.id, eventType: event.type };
    if (paymentIntentId === null) return { ...base, ignored: 'not_a_top_up' };
    const payment = await findPayment(paymentIntentId);
    const resolved = payment === null ? null : await resolvePayment(payment, products, lookups);
    if (resolved === null) return { ...base, paymentIntent: paymentIntentId, ignored: 'not_a_top_up' };
    if (resolved.lines.length === 0) return { ...base, paymentIntent: paymentIntentId, ...unknownFacts(resolved), ignored: 'unknown_price' };
    if (resolved.orgId === null) return { ...base, paymentIntent: paymentIntentId, ignored: 'no_org' };
    const ctx = { orgId: resolved.orgId, actorId: null };
    const clawbacks: TopUpClawback[] = [];
    for (const line of resolved.lines) {
      const amount = share(line, resolved);
      if (amount === 0) continue;
      // grant_not_found propagates: the grant has not landed yet (its event is being retried), so
      // Stripe must retry this one too rather than let a refunded payment keep its tokens.
      let result: ClawbackResult;
      try {
        result = await gate.clawback(ctx, {
          grantKey: line.grantKey,
          ...(amount === null ? {} : { amount }),
          idempotencyKey: `${key}:${line.index}`,
          reason,
          metadata: { stripeEventId: event.id, stripeEventType: event.type, stripePaymentIntent: resolved.paymentIntentId },
        });
      } catch (error) {
        // The key names this refund step (or dispute) of this line: used with other parameters
        // (the mapping changed since), it was applied already — never twice, and not forever retried.
        if (error instanceof TokenGateError && error.code === 'idempotency_conflict') {
          clawbacks.push({ grantKey: line.grantKey, tokenType: line.product.tokenType, requested: amount, clawedBack: 0, shortfall: 0, revoked: false, replayed: true });
          continue;
        }
        throw error;
      }
      clawbacks.push({
        grantKey: line.grantKey,
        tokenType: result.tokenType,
        requested: result.requested,
        clawedBack: result.clawedBack,
        shortfall: result.shortfall,
        revoked: result.revoked,
        replayed: result.replayed,
      });
    }
    if (clawbacks.length === 0) return { ...base, paymentIntent: paymentIntentId, orgId: resolved.orgId, ignored: 'nothing_to_claw_back' };
    return { ...base, paymentIntent: paymentIntentId, orgId: resolved.orgId, clawbacks };
  }

  async function handle(event: Stripe.Event): Promise<TopUpOutcome> {
    switch (event.type) {
      case 'checkout.session.completed':
      case 'checkout.session.async_payment_succeeded': {
        const session = event.data.object;
        if (session.payment_status !== 'paid') return { received: true, eventId: event.id, eventType: event.type, ignored: 'not_paid' };
        return grant(event, session);
      }
      case 'payment_intent.succeeded':
        return grant(event, event.data.object);
      case 'charge.refunded': {
        const charge = event.data.object;
        const before = refundedBefore(event, charge);
        const paid = charge.amount_captured || charge.amount;
        return clawBack(event, idOf(charge.payment_intent), `stripe:refund:${charge.id}:${charge.amount_refunded}`, 'stripe_refund', (line) =>
          refundDelta(line.tokens, before, charge.amount_refunded, paid),
        );
      }
      case 'charge.dispute.created': {
        const dispute = event.data.object;
        return clawBack(event, idOf(dispute.payment_intent), `stripe:dispute:${dispute.id}`, 'stripe_dispute', (line, resolved) =>
          refundShare(line.tokens, dispute.amount, resolved.paid),
        );
      }
      default:
        return { received: true, eventId: event.id, eventType: event.type, ignored: 'unhandled_event' };
    }
  }

  return async function stripeTopUps(request: Request): Promise<Response> {
    if (request.method !== 'POST') {
      return problemResponse(new TokenGateError('method_not_allowed', 'Stripe webhooks are POSTed.', { facts: { allow: 'POST' } }), { allow: 'POST' });
    }
    let event: Stripe.Event;
    try {
      event = await verify(request);
    } catch (error) {
      return problemResponse(error);
    }
    try {
      const outcome = await handle(event);
      await options.onEvent?.(event, outcome);
      return jsonResponse(outcome);
    } catch (error) {
      // Ledger refusals keep their status (Stripe retries any non-2xx and shows it); anything
      // else — the database or Stripe's API unreachable, a hook that threw — is a 503 to retry.
      if (error instanceof TokenGateError && error.status >= 400 && error.status < 500) return problemResponse(error);
      return problemResponse(new TokenGateError('unavailable', 'The top-up could not be recorded now; Stripe will retry.', { cause: error }), { 'retry-after': '60' });
    }
  };
}

/** Grant one line; a key already used for this payment line with other parameters is the same grant, made by the payment's other event. */
async function grantOnce(
  gate: TokenGate,
  ctx: { orgId: string; actorId: null },
  line: TopUpLine,
  opts: Parameters<TokenGate['grant']>[2],
): Promise<TopUpGrant> {
  const summary = { grantKey: line.grantKey, tokenType: line.product.tokenType, productKey: line.productKey, quantity: line.quantity };
  try {
    const result: GrantResult = await gate.grant(ctx, line.product.tokenType, opts);
    return { ...summary, grantId: result.grantId, granted: result.granted, replayed: result.replayed === true };
  } catch (error) {
    // checkout.session.completed and payment_intent.succeeded of one payment carry different
    // event ids (metadata) and times (expiry): the key is the payment line's, so it was granted.
    if (error instanceof TokenGateError && error.code === 'idempotency_conflict') return { ...summary, grantId: null, granted: line.tokens, replayed: true };
    throw error;
  }
}

function grantMetadata(event: Stripe.Event, resolved: ResolvedPayment, line: TopUpLine): Record<string, unknown> {
  return {
    stripeEventId: event.id,
    stripePaymentIntent: resolved.paymentIntentId,
    ...(resolved.checkoutSessionId ? { stripeCheckoutSession: resolved.checkoutSessionId } : {}),
    ...(line.priceId ? { stripePrice: line.priceId } : {}),
    product: line.productKey,
    quantity: line.quantity,
    line: line.index,
    paid: resolved.paid,
    currency: resolved.currency,
  };
}

/**
 * The charge's cumulative refunded amount before this event: `previous_attributes.amount_refunded`,
 * else the total less the newest refund when the payload lists refunds (older API versions), else
 * 0 (the event is then the charge's first refund).
 */
function refundedBefore(event: Stripe.Event, charge: Stripe.Charge): number {
  const previous = (event.data.previous_attributes as { amount_refunded?: unknown } | undefined)?.amount_refunded;
  if (typeof previous === 'number') return previous;
  const newest = charge.refunds?.data?.[0];
  if (newest && typeof newest.amount === 'number') return Math.max(0, charge.amount_refunded - newest.amount);
  return 0;
}

function unknownFacts(resolved: ResolvedPayment): { unknownPrices?: string[] } {
  return resolved.unknown.length > 0 ? { unknownPrices: resolved.unknown } : {};
}

async function defaultLineItems(stripe: Stripe, session: Stripe.Checkout.Session): Promise<Stripe.LineItem[]> {
  const embedded = session.line_items;
  if (embedded && !embedded.has_more) return embedded.data;
  return stripe.checkout.sessions.listLineItems(session.id, { limit: 100 }).autoPagingToArray({ limit: 10_000 });
}

async function defaultFindPayment(stripe: Stripe, paymentIntentId: string): Promise<TopUpPayment | null> {
  const sessions = await stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 });
  if (sessions.data[0]) return sessions.data[0];
  return stripe.paymentIntents.retrieve(paymentIntentId);
}
