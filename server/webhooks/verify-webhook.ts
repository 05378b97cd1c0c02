import { WebhookVerificationError } from 'standardwebhooks';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { BodyTooLargeError, readLimited } from '../http/read-limited.ts';
import { signingKey } from './signing-key.ts';
import { webhookEventSchema, webhookId, type TokenGateWebhookEvent } from './webhook-event.ts';

/** Options of `verifyWebhook`. */
export interface VerifyWebhookOptions {
  /** Largest body accepted, bytes (default 65,536; an alert event is well under 1 KiB). */
  maxBodyBytes?: number;
}

/**
 * Verifies a Tokengate webhook in the app's receiver and returns its typed event: reads the raw
 * body (at most `maxBodyBytes`), checks the Standard Webhooks signature over `webhook-id`,
 * `webhook-timestamp` and the body with `secret`, refuses a timestamp more than 5 minutes away
 * from now (a replayed capture), then validates the event.
 *
 * Throws `TokenGateError` — answer it with `problemResponse(error)`, so the worker retries:
 * - `invalid_signature` (400): missing headers, a wrong signature or secret, a tampered body, an
 *   old or future timestamp;
 * - `invalid_request` (400): signed with the secret but not a Tokengate event (facts.errors);
 * - `payload_too_large` (413).
 *
 * The same alert may arrive more than once (a retry after an answer that was lost, a replay):
 * dedupe on `request.headers.get('webhook-id')`, which is `alert_<event.data.alertId>`.
 *
 * @example
 * export async function POST(request: Request) {
 *   try {
 *     const event = await verifyWebhook(request, process.env.TOKENGATE_WEBHOOK_SECRET!);
 *     if (await seen(event.data.alertId)) return new Response(null, { status: 204 });
 *     if (event.type === 'tokengate.alert.low') await nudgeUpgrade(event.data.orgId);
 *     return new Response(null, { status: 204 });
 *   } catch (error) {
 *     return problemResponse(error);
 *   }
 * }
 */
export async function verifyWebhook(request: Request, secret: string, options: VerifyWebhookOptions = {}): Promise<TokenGateWebhookEvent> {
  const webhook = signingKey(secret, 'verifyWebhook');
  const maxBodyBytes = options.maxBodyBytes ?? 65_536;
  let body: Uint8Array;
  try {
    body = await readLimited(request.body, maxBodyBytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new TokenGateError('payload_too_large', error.message, { facts: { maxBytes: maxBodyBytes } });
    throw new TokenGateError('invalid_request', 'The webhook body could not be read.', { cause: error });
  }
  const headers = {
    'webhook-id': request.headers.get('webhook-id') ?? '',
    'webhook-timestamp': request.headers.get('webhook-timestamp') ?? '',
    'webhook-signature': request.headers.get('webhook-signature') ?? '',
  };
  try {
    webhook.verify(body, headers, { jsonParse: false });
  } catch (error) {
    if (error instanceof WebhookVerificationError) throw new TokenGateError('invalid_signature', `The webhook signature is not valid: ${error.message}.`, { cause: error });
    throw error;
  }

  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (error) {
    throw new TokenGateError('invalid_request', 'The webhook body is not JSON.', { cause: error });
  }
  const parsed = webhookEventSchema.safeParse(json);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    throw new TokenGateError('invalid_request', 'The webhook is signed but is not a Tokengate event this version knows.', { errors });
  }
  // The id is signed too; one that does not name the event's alert is not ours.
  if (headers['webhook-id'] !== webhookId(parsed.data.data.alertId)) {
    throw new TokenGateError('invalid_request', `The webhook-id does not name the event's alert (${webhookId(parsed.data.data.alertId)}).`);
  }
  return parsed.data;
}
