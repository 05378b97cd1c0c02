/**
 * Stripe top-ups (`tokengate/server/stripe`): a webhook endpoint that grants what a Checkout or
 * PaymentIntent payment bought, exactly once per payment, and claws back refunds and disputes.
 * A separate entry point so that `stripe` (an optional peer) is only needed by apps that use it.
 *
 * @example
 * import Stripe from 'stripe';
 * import { createStripeTopUps } from 'tokengate/server/stripe';
 * export const POST = createStripeTopUps({
 *   stripe: new Stripe(process.env.STRIPE_SECRET_KEY!),
 *   webhookSecret: process.env.STRIPE_WEBHOOK_SECRET!,
 *   gate,
 *   products: { price_credits_100: { tokenType: 'quest_generation', amount: 100 } },
 * });
 */
export {
  createStripeTopUps,
  type StripeTopUpsOptions,
  type TopUpClawback,
  type TopUpGrant,
  type TopUpIgnoredReason,
  type TopUpOutcome,
} from './create-stripe-top-ups.ts';
export { defaultOrgId, grantKey, type TopUpLine, type TopUpPayment, type TopUpProduct } from './payment-lines.ts';
export { refundShare } from './refund-share.ts';
