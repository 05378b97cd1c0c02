import type Stripe from 'stripe';
import type { GrantSource, TokenTypeId } from '../../src/core/types.ts';

/**
 * What one Stripe price (or product) buys: `amount` tokens of `tokenType` per unit (a line item's
 * quantity multiplies it), optionally expiring `expiresInDays` after the payment succeeded.
 *
 * @example
 * const products = { price_1Pq: { tokenType: 'quest_generation', amount: 100, expiresInDays: 365 } };
 */
export interface TopUpProduct {
  /** The token type granted. */
  tokenType: TokenTypeId;
  /** Tokens per unit bought (a whole number ≥ 1). */
  amount: number;
  /** Days after the payment succeeded until the grant expires. Default: never. */
  expiresInDays?: number | null;
  /** Burn order among grants that expire at the same time (0 first, default 50). */
  priority?: number;
  /** The grant's source (default `'purchase'`). */
  source?: GrantSource;
}

/** What a Stripe payment pays for: a Checkout Session, or a PaymentIntent of the app's own. */
export type TopUpPayment = Stripe.Checkout.Session | Stripe.PaymentIntent;

/** One thing a payment bought that the mapping knows: one grant, keyed by payment and position. */
export interface TopUpLine {
  /** The grant's idempotency key: `stripe:<payment intent id>:<index>`. */
  grantKey: string;
  /** Position of the line item in the Checkout Session (0 for a PaymentIntent). */
  index: number;
  /** The key of `products` that matched (a price id, else a product id). */
  productKey: string;
  /** The Stripe price id, when known. */
  priceId: string | null;
  quantity: number;
  product: TopUpProduct;
  /** Tokens this line grants: `product.amount × quantity`. */
  tokens: number;
}

/** A payment resolved against the mapping: who pays, for what. */
export interface ResolvedPayment {
  paymentIntentId: string;
  checkoutSessionId: string | null;
  /** The organization credited, or null when the payment names none. */
  orgId: string | null;
  /** What the customer paid, in the smallest currency unit. */
  paid: number;
  currency: string | null;
  lines: TopUpLine[];
  /** Price (or product) ids of line items the mapping does not know: nothing is granted for them. */
  unknown: string[];
}

/** The hooks that read what a payment bought (the Stripe API by default; recorded payloads in tests). */
export interface PaymentLookups {
  /** The line items of a Checkout Session (default: `session.line_items` when the payload has them all, else `stripe.checkout.sessions.listLineItems`). */
  lineItems: (session: Stripe.Checkout.Session) => Promise<Stripe.LineItem[]>;
  /** The organization a payment credits. */
  orgId: (payment: TopUpPayment) => string | null | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The grant key of line `index` of payment `paymentIntentId`. */
export function grantKey(paymentIntentId: string, index: number): string {
  return `stripe:${paymentIntentId}:${index}`;
}

/**
 * The default organization of a payment: a Checkout Session's `client_reference_id`, then
 * `metadata.tokengate_org_id` (of the session or the PaymentIntent).
 *
 * @example
 * defaultOrgId(session) // session.client_reference_id ?? session.metadata?.tokengate_org_id
 */
export function defaultOrgId(payment: TopUpPayment): string | null {
  const reference = payment.object === 'checkout.session' ? payment.client_reference_id : null;
  return reference || payment.metadata?.tokengate_org_id || null;
}

/** The id of an expandable field (`'pi_…'` or `{ id: 'pi_…' }`). */
export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : value.id;
}

/**
 * Resolve a Checkout Session or PaymentIntent into the grants it pays for. A PaymentIntent of the
 * app's own names what it buys in its metadata: `tokengate_price` (a key of `products`) and
 * optionally `tokengate_quantity`; one without `tokengate_price` buys nothing (null).
 */
export async function resolvePayment(
  payment: TopUpPayment,
  products: Readonly<Record<string, TopUpProduct>>,
  lookups: PaymentLookups,
): Promise<ResolvedPayment | null> {
  const orgId = lookups.orgId(payment) ?? null;
  const org = orgId !== null && UUID.test(orgId) ? orgId.toLowerCase() : null;
  if (payment.object === 'payment_intent') {
    const key = payment.metadata?.tokengate_price;
    if (!key) return null;
    const quantity = parseQuantity(payment.metadata?.tokengate_quantity);
    const product = Object.hasOwn(products, key) ? products[key] : undefined;
    const base = { paymentIntentId: payment.id, checkoutSessionId: null, orgId: org, paid: payment.amount_received, currency: payment.currency };
    if (!product || quantity === null) return { ...base, lines: [], unknown: [key] };
    return { ...base, lines: [line(payment.id, 0, key, key.startsWith('price_') ? key : null, quantity, product)], unknown: [] };
  }
  const paymentIntentId = idOf(payment.payment_intent);
  if (payment.mode !== 'payment' || paymentIntentId === null) return null;
  const items = await lookups.lineItems(payment);
  const lines: TopUpLine[] = [];
  const unknown: string[] = [];
  items.forEach((item, index) => {
    const priceId = item.price?.id ?? null;
    const productId = idOf(item.price?.product as string | { id: string } | null | undefined);
    const key = [priceId, productId].find((k): k is string => k !== null && Object.hasOwn(products, k));
    const quantity = item.quantity ?? 1;
    if (key === undefined || !Number.isSafeInteger(quantity) || quantity < 1) unknown.push(priceId ?? productId ?? `line ${index}`);
    else lines.push(line(paymentIntentId, index, key, priceId, quantity, products[key]!));
  });
  return { paymentIntentId, checkoutSessionId: payment.id, orgId: org, paid: payment.amount_total ?? 0, currency: payment.currency, lines, unknown };
}

function line(paymentIntentId: string, index: number, productKey: string, priceId: string | null, quantity: number, product: TopUpProduct): TopUpLine {
  return { grantKey: grantKey(paymentIntentId, index), index, productKey, priceId, quantity, product, tokens: product.amount * quantity };
}

function parseQuantity(value: string | undefined): number | null {
  if (value === undefined || value === '') return 1;
  const n = Number(value);
  return /^\d+$/.test(value) && Number.isSafeInteger(n) && n >= 1 ? n : null;
}
