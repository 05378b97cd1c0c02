/**
 * Recorded Stripe payloads for the top-up tests (test/stripe/fixtures/*.json, shaped like API
 * version 2026-11-18 events; `{{ORG_ID}}` stands for the organization a test creates) and a
 * webhook sender that signs them with the official library's test-signature helper. No network.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The endpoint secret the handler under test is configured with. */
export const WEBHOOK_SECRET = 'whsec_tokengate_test_0123456789abcdefABCDEF';

/** A Stripe client that must never reach the network in these tests (hooks or a fake HTTP client answer). */
export const stripe = new Stripe('sk_test_tokengate_never_sent', {
  httpClient: Stripe.createFetchHttpClient(async (url) => {
    throw new Error(`unexpected Stripe API request in a test: ${String(url)}`);
  }),
  maxNetworkRetries: 0,
});

export type Json = Record<string, any>;

/** A fixture with `{{ORG_ID}}` replaced, as a fresh object. */
export function fixture(name: string, orgId: string): Json {
  return JSON.parse(readFileSync(path.join(DIR, `${name}.json`), 'utf8').replaceAll('{{ORG_ID}}', orgId)) as Json;
}

/** A recorded event with its object's fields (and the event's own `id`, `type`…) overridden. */
export function event(name: string, orgId: string, changes: { event?: Json; object?: Json; previous?: Json } = {}): Json {
  const e = fixture(name, orgId);
  Object.assign(e, changes.event ?? {});
  Object.assign(e.data.object, changes.object ?? {});
  if (changes.previous) e.data.previous_attributes = changes.previous;
  return e;
}

/** Sign `payload` the way Stripe does (`t=…,v1=…`), with `secret` (default: the endpoint's) at `timestamp` (default now). */
export function signature(payload: string, options: { secret?: string; timestamp?: number } = {}): string {
  return stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? WEBHOOK_SECRET, ...(options.timestamp ? { timestamp: options.timestamp } : {}) });
}

/** A webhook request carrying `body` (an event, serialised as Stripe does) and its signature. */
export function webhookRequest(body: Json | string, options: { secret?: string; timestamp?: number; signature?: string | null; method?: string } = {}): Request {
  const payload = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
  const sig = options.signature === undefined ? signature(payload, options) : options.signature;
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' };
  if (sig !== null) headers['stripe-signature'] = sig;
  return new Request('http://localhost/api/stripe/webhook', { method: options.method ?? 'POST', headers, body: options.method === 'GET' ? null : payload });
}
