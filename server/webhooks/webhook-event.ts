/**
 * The events Tokengate's alert webhooks carry: one per alert of the outbox, in the Standard
 * Webhooks payload shape `{ type, timestamp, data }`. The body of an alert is the same on every
 * attempt and replay (its `timestamp` is when the alert was written), and so is its `webhook-id`.
 */
import { z } from 'zod';
import type { Alert, AlertKind } from '../alert.ts';

/** Every event type, one per alert kind. */
export const WEBHOOK_EVENT_TYPES = [
  'tokengate.alert.low',
  'tokengate.alert.exhausted',
  'tokengate.alert.member_quota_reached',
  'tokengate.alert.refreshed',
  'tokengate.alert.expired_hold',
] as const satisfies readonly `tokengate.alert.${AlertKind}`[];

/** An event's `type`: `tokengate.alert.<kind>`. */
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What every alert event says: the alert's facts, no user data beyond ids. */
export interface AlertEventData {
  /** The alert's id; the `webhook-id` header is `alert_<alertId>`, the same on every retry and replay. */
  alertId: number;
  orgId: string;
  tokenType: string;
  /** The member, for `member_quota_reached`; otherwise null. */
  userId: string | null;
  /** The hold, for `expired_hold`; otherwise null. */
  reservationId: string | null;
  /** Start of the bucket's period the alert belongs to (ISO 8601; `refreshed`: the new period). */
  periodStart: string | null;
  /** `low`: the available count it fired below; `member_quota_reached`: the quota; `exhausted`: 0. */
  threshold: number | null;
  /** Tokens available right after the change; null on an unlimited plan or for a member's quota. */
  available: number | null;
}

/** One event type with its data (fields that a kind always has are narrowed). */
interface AlertEvent<T extends WebhookEventType, D = object> {
  type: T;
  /** When the alert was written (ISO 8601). */
  timestamp: string;
  data: Omit<AlertEventData, keyof D> & D;
}

/**
 * A Tokengate webhook event, discriminated by `type`.
 *
 * @example
 * const event = await verifyWebhook(request, process.env.TOKENGATE_WEBHOOK_SECRET!);
 * switch (event.type) {
 *   case 'tokengate.alert.low': return nudgeUpgrade(event.data.orgId, event.data.available);
 *   case 'tokengate.alert.member_quota_reached': return tellMember(event.data.userId);
 * }
 */
export type TokenGateWebhookEvent =
  | AlertEvent<'tokengate.alert.low'>
  | AlertEvent<'tokengate.alert.exhausted'>
  | AlertEvent<'tokengate.alert.member_quota_reached', { userId: string }>
  | AlertEvent<'tokengate.alert.refreshed'>
  | AlertEvent<'tokengate.alert.expired_hold', { reservationId: string }>;

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a uuid');
const timestamp = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 timestamp');
const data = z.object({
  alertId: z.number().int().positive(),
  orgId: uuid,
  tokenType: z.string().min(1).max(200),
  userId: uuid.nullable(),
  reservationId: uuid.nullable(),
  periodStart: timestamp.nullable(),
  threshold: z.number().nullable(),
  available: z.number().nullable(),
});
const event = <T extends WebhookEventType, S extends z.ZodType>(type: T, shape: S) => z.object({ type: z.literal(type), timestamp, data: shape });

/**
 * The zod schema of an event. Objects are not strict: fields a later version adds are dropped,
 * not refused, so an older receiver keeps working.
 */
export const webhookEventSchema: z.ZodType<TokenGateWebhookEvent> = z.discriminatedUnion('type', [
  event('tokengate.alert.low', data),
  event('tokengate.alert.exhausted', data),
  event('tokengate.alert.member_quota_reached', data.extend({ userId: uuid })),
  event('tokengate.alert.refreshed', data),
  event('tokengate.alert.expired_hold', data.extend({ reservationId: uuid })),
]);

/** The `webhook-id` of an alert: stable across retries and replays, so receivers can dedupe on it. */
export function webhookId(alertId: number): string {
  return `alert_${alertId}`;
}

/** An ISO 8601 string in one format (`toISOString`), whatever Postgres rendered. */
function iso(value: string): string {
  const time = Date.parse(value);
  return Number.isNaN(time) ? value : new Date(time).toISOString();
}

/**
 * The event an alert is delivered as.
 *
 * @example
 * const body = JSON.stringify(alertEvent(alert)); // { type: 'tokengate.alert.low', timestamp, data }
 */
export function alertEvent(alert: Alert): TokenGateWebhookEvent {
  return {
    type: `tokengate.alert.${alert.type}`,
    timestamp: iso(alert.createdAt),
    data: {
      alertId: alert.alertId,
      orgId: alert.orgId,
      tokenType: alert.tokenType,
      userId: alert.userId,
      reservationId: alert.reservationId,
      periodStart: alert.periodStart === null ? null : iso(alert.periodStart),
      threshold: alert.threshold,
      available: alert.available,
    },
  } as TokenGateWebhookEvent;
}
