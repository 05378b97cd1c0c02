/**
 * The receiver side: `verifyWebhook` accepts exactly what the Standard Webhooks library signed with
 * the app's secret within 5 minutes, and refuses anything an attacker could change or replay.
 * Requests are signed here with the library itself (the worker's own signing is checked end to end
 * in create-alert-worker.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { problemResponse } from '../http/problem-response.ts';
import { verifyWebhook } from './verify-webhook.ts';
import { WEBHOOK_EVENT_TYPES, type TokenGateWebhookEvent } from './webhook-event.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const OTHER_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const URL_ = 'https://app.test/api/tokengate-webhook';

const EVENT: TokenGateWebhookEvent = {
  type: 'tokengate.alert.low',
  timestamp: '2028-01-10T12:00:00.000Z',
  data: {
    alertId: 42,
    orgId: '0c000000-0000-4000-8000-000000000001',
    tokenType: 'goal_generation',
    userId: null,
    reservationId: null,
    periodStart: '2028-01-01T00:00:00.000Z',
    threshold: 4,
    available: 3,
  },
};

/** A request as the worker sends it: body signed by the library with `secret` at `at`. */
function signed(body: string, options: { id?: string; at?: Date; secret?: string; headers?: Record<string, string> } = {}): Request {
  const id = options.id ?? 'alert_42';
  const at = options.at ?? new Date();
  const signature = new Webhook(options.secret ?? SECRET).sign(id, at, body);
  return new Request(URL_, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
      ...options.headers,
    },
    body,
  });
}

/** The TokenGateError `verifyWebhook` rejects with. */
async function refusal(request: Request, secret = SECRET): Promise<TokenGateError> {
  try {
    await verifyWebhook(request, secret);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenGateError);
    return error as TokenGateError;
  }
  throw new Error('expected verifyWebhook to refuse the request');
}

describe('verifyWebhook', () => {
  const body = JSON.stringify(EVENT);

  it('returns the typed event of a request signed with the secret just now', async () => {
    const event = await verifyWebhook(signed(body), SECRET);
    expect(event).toEqual(EVENT);
    // The union narrows on type.
    if (event.type === 'tokengate.alert.member_quota_reached') expect(event.data.userId.length).toBe(36);
  });

  it('accepts every event type, and a signature list with a rotated-out key first', async () => {
    for (const type of WEBHOOK_EVENT_TYPES) {
      const data = {
        ...EVENT.data,
        userId: type === 'tokengate.alert.member_quota_reached' ? '0c000000-0000-4000-8000-000000000002' : null,
        reservationId: type === 'tokengate.alert.expired_hold' ? '0c000000-0000-4000-8000-000000000003' : null,
      };
      expect((await verifyWebhook(signed(JSON.stringify({ ...EVENT, type, data })), SECRET)).type).toBe(type);
    }
    const request = signed(body);
    const rotated = `v1,${new Webhook(OTHER_SECRET).sign('alert_42', new Date(), body).slice(3)} ${request.headers.get('webhook-signature')}`;
    request.headers.set('webhook-signature', rotated);
    expect((await verifyWebhook(request, SECRET)).data.alertId).toBe(42);
  });

  it('ignores fields a later version adds (forward compatible), but never unsigned ones', async () => {
    const later = JSON.stringify({ ...EVENT, version: 2, data: { ...EVENT.data, plan: 'pro' } });
    expect(await verifyWebhook(signed(later), SECRET)).toEqual(EVENT);
  });

  it('refuses a tampered body, timestamp or signature, another secret, and missing headers: 400 invalid_signature', async () => {
    const tamperedBody = signed(body);
    const forged = new Request(URL_, { method: 'POST', headers: tamperedBody.headers, body: body.replace('"available":3', '"available":300') });
    const cases: [string, Request, string?][] = [
      ['body changed', forged],
      ['timestamp changed', signed(body, { headers: { 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 1) } })],
      ['id changed', (() => { const r = signed(body); r.headers.set('webhook-id', 'alert_43'); return r; })()],
      ['signature changed', (() => { const r = signed(body); const s = r.headers.get('webhook-signature')!; r.headers.set('webhook-signature', s.slice(0, -4) + (s.endsWith('AAA=') ? 'BBB=' : 'AAA=')); return r; })()],
      ['signed with another secret', signed(body, { secret: OTHER_SECRET })],
      ['verified with another secret', signed(body), OTHER_SECRET],
      ['no signature', (() => { const r = signed(body); r.headers.delete('webhook-signature'); return r; })()],
      ['no id', (() => { const r = signed(body); r.headers.delete('webhook-id'); return r; })()],
      ['no timestamp', (() => { const r = signed(body); r.headers.delete('webhook-timestamp'); return r; })()],
      ['a bare signature without its version', (() => { const r = signed(body); r.headers.set('webhook-signature', r.headers.get('webhook-signature')!.slice(3)); return r; })()],
    ];
    for (const [label, request, secret] of cases) {
      const error = await refusal(request, secret);
      expect({ label, code: error.code, status: error.status }).toEqual({ label, code: 'invalid_signature', status: 400 });
    }
  });

  it('refuses a captured request replayed later (timestamp older than 5 minutes), or one dated in the future', async () => {
    const old = await refusal(signed(body, { at: new Date(Date.now() - 6 * 60_000) }));
    expect(old.code).toBe('invalid_signature');
    expect(old.message).toMatch(/too old/);
    const future = await refusal(signed(body, { at: new Date(Date.now() + 6 * 60_000) }));
    expect(future.message).toMatch(/too new/);
    // Within the tolerance it verifies (a worker's clock a little off).
    expect((await verifyWebhook(signed(body, { at: new Date(Date.now() - 4 * 60_000) }), SECRET)).data.alertId).toBe(42);
  });

  it('answers problem+json with the stable type, never a 500', async () => {
    const response = problemResponse(await refusal(signed(body, { secret: OTHER_SECRET })));
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ type: 'https://tokengate.dev/errors/invalid_signature', code: 'invalid_signature', status: 400 });
  });

  it('refuses a signed body that is not a Tokengate event: 400 invalid_request with the problems', async () => {
    const notJson = await refusal(signed('hello'));
    expect(notJson.code).toBe('invalid_request');
    const unknownType = await refusal(signed(JSON.stringify({ ...EVENT, type: 'tokengate.alert.surprise' })));
    expect(unknownType.code).toBe('invalid_request');
    expect(unknownType.errors?.[0]?.path).toBe('type');
    const noUser = await refusal(signed(JSON.stringify({ ...EVENT, type: 'tokengate.alert.member_quota_reached' })));
    expect(noUser.errors).toEqual([expect.objectContaining({ path: 'data.userId' })]);
    const badOrg = await refusal(signed(JSON.stringify({ ...EVENT, data: { ...EVENT.data, orgId: "x' or 1=1" } })));
    expect(badOrg.errors).toEqual([expect.objectContaining({ path: 'data.orgId' })]);
    // The webhook-id is signed too, and must name the event's alert.
    const otherId = await refusal(signed(body, { id: 'alert_7' }));
    expect(otherId.code).toBe('invalid_request');
    expect(otherId.message).toMatch(/alert_42/);
  });

  it('reads at most maxBodyBytes: 413 payload_too_large', async () => {
    const huge = JSON.stringify({ ...EVENT, padding: 'x'.repeat(70_000) });
    expect((await refusal(signed(huge))).code).toBe('payload_too_large');
    await expect(verifyWebhook(signed(body), SECRET, { maxBodyBytes: 64 })).rejects.toMatchObject({ code: 'payload_too_large' });
  });

  it('throws a TypeError for a secret that is not a whsec_ key of at least 24 bytes (a configuration mistake)', async () => {
    for (const secret of [undefined, '', 'hunter2', 'whsec_', 'whsec_%%%%', `whsec_${randomBytes(16).toString('base64')}`, randomBytes(32).toString('base64')]) {
      await expect(verifyWebhook(signed(body), secret as string), String(secret)).rejects.toThrow(TypeError);
    }
  });
});
