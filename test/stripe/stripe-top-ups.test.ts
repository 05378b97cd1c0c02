/**
 * Stripe top-ups against the real ledger (PGlite and the Postgres server): recorded event payloads
 * signed with the official library's test-signature helper, no network (the line-item and payment
 * lookups are answered from the same recordings). Exactly once per payment, refunds and disputes
 * take back only what is unspent, and nothing unsigned, forged or tampered writes anything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import type { TokenStore } from '../../server/store.ts';
import { postgresStore } from '../../server/stores/postgres-store.ts';
import { createStripeTopUps, type StripeTopUpsOptions, type TopUpOutcome } from '../../server/stripe/index.ts';
import { describeEachDb, type TestDb } from '../db.ts';
import { expectProblem, storeFor } from '../http/fixture.ts';
import { bucket, countRows, createOrg, expectReconciled, fingerprint } from '../ledger.ts';
import { event, fixture, signature, stripe, WEBHOOK_SECRET, webhookRequest, type Json } from './stripe-fixtures.ts';

const NOW = '2028-01-11T12:00:00Z';
const PRICE = 'price_1QuestCredits100';
const TYPE = 'goal_generation'; // cost 1, 20 a period on 'pro': the allowance burns first
const PRODUCTS: StripeTopUpsOptions['products'] = { [PRICE]: { tokenType: TYPE, amount: 100, expiresInDays: 365 } };
const LINE_ITEMS = fixture('checkout.session.line_items', 'unused') as Stripe.ApiList<Stripe.LineItem>;

describeEachDb('Stripe top-ups', (db) => {
  let store: TokenStore;
  let gate: TokenGate;
  /** Sessions and PaymentIntents the lookups know (the recorded objects of each test's payment). */
  const payments = new Map<string, Stripe.Checkout.Session | Stripe.PaymentIntent>();
  const lookups: string[] = [];
  let seq = 0;

  beforeAll(async () => {
    await db().setNow(NOW);
    if (db().kind === 'pglite') store = storeFor(db());
    else {
      const pool = db().pool(6);
      pool.options.options = `${pool.options.options ?? ''} -c role=service_role`.trim();
      store = postgresStore({ pool });
    }
    gate = createTokenGate({ store });
  });
  afterAll(async () => {
    if (db().kind === 'postgres') await store?.close?.();
  });

  function handler(options: Partial<StripeTopUpsOptions> = {}) {
    return createStripeTopUps({
      stripe,
      webhookSecret: WEBHOOK_SECRET,
      gate,
      products: PRODUCTS,
      lineItems: async (session) => {
        lookups.push(`lineItems ${session.id}`);
        return LINE_ITEMS.data;
      },
      findPayment: async (id) => {
        lookups.push(`findPayment ${id}`);
        return payments.get(id) ?? null;
      },
      ...options,
    });
  }

  /** A new org, and a paid Checkout payment of it (2 × 100 tokens for 20.00) with unique ids. */
  async function purchase() {
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z', members: 1 });
    const n = ++seq;
    const pi = `pi_3TopUp${db().kind}${n}`;
    const charge = `ch_3TopUp${db().kind}${n}`;
    const completed = event('checkout.session.completed', org.orgId, {
      event: { id: `evt_completed_${db().kind}_${n}` },
      object: { id: `cs_test_${db().kind}_${n}`, payment_intent: pi },
    });
    payments.set(pi, completed.data.object as Stripe.Checkout.Session);
    return { org, pi, charge, completed, member: { orgId: org.orgId, userId: org.members[0]! } };
  }

  async function post(body: Json, options: Parameters<typeof webhookRequest>[1] = {}, h = handler()): Promise<Response> {
    return h(webhookRequest(body, options));
  }
  async function outcome(response: Response): Promise<TopUpOutcome> {
    expect(response.status, await response.clone().text()).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    return (await response.json()) as TopUpOutcome;
  }
  const purchased = async (orgId: string) => (await bucket(db(), orgId, TYPE))?.purchased_remaining ?? 0; // no bucket yet: nothing bought
  const grantsOf = (orgId: string) =>
    db().query<{ amount: number; remaining: number; status: string; clawed_back: number; idempotency_key: string; metadata: Json; expires_at: Date; source: string }>(
      'select amount::int, remaining::int, status, clawed_back::int, idempotency_key, metadata, expires_at, source from tokengate.grants where org_id = $1 order by created_at',
      [orgId],
    );
  function refund(orgId: string, pi: string, charge: string, refunded: number, before: number, id = `evt_refund_${charge}_${refunded}`) {
    return event('charge.refunded', orgId, {
      event: { id },
      object: { id: charge, payment_intent: pi, amount_refunded: refunded, refunded: refunded >= 2000 },
      previous: { amount_refunded: before, refunded: false },
    });
  }
  /** Spend `tokens` purchased tokens of the member (after the 20-token allowance). */
  async function spend(member: { orgId: string; userId: string }, tokens: number) {
    await gate.deduct(member, TYPE, { idempotencyKey: `spend-${member.userId}-${tokens}`, units: 20 + tokens });
  }

  describe('grants', () => {
    it('grants what a paid Checkout Session bought, once, with the payment in its metadata and the mapped expiry', async () => {
      const { org, pi, completed } = await purchase();
      const result = await outcome(await post(completed));
      expect(result).toMatchObject({ eventId: completed.id, eventType: 'checkout.session.completed', orgId: org.orgId, paymentIntent: pi });
      expect(result.grants).toEqual([expect.objectContaining({ grantKey: `stripe:${pi}:0`, tokenType: TYPE, granted: 200, quantity: 2, productKey: PRICE, replayed: false })]);
      expect(await purchased(org.orgId)).toBe(200);
      const [grant] = await grantsOf(org.orgId);
      expect(grant).toMatchObject({ amount: 200, remaining: 200, status: 'active', source: 'purchase', idempotency_key: `stripe:${pi}:0` });
      expect(grant!.metadata).toMatchObject({ stripeEventId: completed.id, stripePaymentIntent: pi, stripePrice: PRICE, quantity: 2, line: 0 });
      expect(grant!.expires_at.toISOString()).toBe('2029-01-07T12:00:00.000Z'); // 365 days after the event (2028 is a leap year)
      await expectReconciled(db(), org.orgId);
    });

    it('grants once when the same event is delivered 5 times concurrently', async () => {
      const { org, completed } = await purchase();
      const results = await Promise.all(Array.from({ length: 5 }, () => post(completed).then(outcome)));
      expect(results.map((r) => r.grants![0]!.granted)).toEqual([200, 200, 200, 200, 200]);
      expect(results.filter((r) => !r.grants![0]!.replayed)).toHaveLength(1);
      expect(await purchased(org.orgId)).toBe(200);
      expect(await countRows(db(), 'grants', org.orgId)).toBe(1);
      expect((await db().query(`select count(*)::int as n from tokengate.ledger where org_id = $1 and kind = 'grant'`, [org.orgId]))[0]!.n).toBe(1);
      await expectReconciled(db(), org.orgId);
    });

    it('grants once for a payment whose checkout.session.completed and payment_intent.succeeded both arrive (either order)', async () => {
      for (const order of [['session', 'intent'], ['intent', 'session']] as const) {
        const { org, pi, completed } = await purchase();
        const succeeded = event('payment_intent.succeeded', org.orgId, { event: { id: `evt_pi_${pi}` }, object: { id: pi } });
        const results = [];
        for (const which of order) results.push(await outcome(await post(which === 'session' ? completed : succeeded)));
        expect(results.map((r) => r.grants![0]!.replayed)).toEqual([false, true]);
        expect(results.map((r) => r.grants![0]!.grantKey)).toEqual([`stripe:${pi}:0`, `stripe:${pi}:0`]);
        expect(await purchased(org.orgId)).toBe(200);
        expect(await countRows(db(), 'grants', org.orgId)).toBe(1);
      }
    });

    it('waits for an asynchronous payment: completed but unpaid grants nothing, async_payment_succeeded grants', async () => {
      const { org, completed } = await purchase();
      const unpaid = structuredClone(completed);
      unpaid.data.object.payment_status = 'unpaid';
      const before = await fingerprint(db());
      expect(await outcome(await post(unpaid))).toMatchObject({ ignored: 'not_paid' });
      expect(await fingerprint(db())).toEqual(before);
      const succeeded = { ...completed, id: `${completed.id}_async`, type: 'checkout.session.async_payment_succeeded' };
      expect((await outcome(await post(succeeded))).grants![0]!.granted).toBe(200);
      expect(await purchased(org.orgId)).toBe(200);
    });

    it('ignores (200, nothing written) unknown prices, payments naming no organization, other modes and other events', async () => {
      const { org, completed, pi } = await purchase();
      const before = await fingerprint(db());
      const unknown = handler({ products: { price_other: { tokenType: TYPE, amount: 5 } } });
      expect(await outcome(await post(completed, {}, unknown))).toMatchObject({ ignored: 'unknown_price', unknownPrices: [PRICE], paymentIntent: pi });

      for (const reference of [null, 'not-a-uuid', "x' or '1'='1"]) {
        const noOrg = structuredClone(completed);
        noOrg.data.object.client_reference_id = reference;
        noOrg.data.object.metadata = {};
        expect(await outcome(await post(noOrg))).toMatchObject({ ignored: 'no_org' });
      }
      const subscription = structuredClone(completed);
      subscription.data.object.mode = 'subscription';
      expect(await outcome(await post(subscription))).toMatchObject({ ignored: 'not_a_payment' });

      const plainIntent = event('payment_intent.succeeded', org.orgId, { object: { id: pi, metadata: {} } });
      expect(await outcome(await post(plainIntent))).toMatchObject({ ignored: 'not_a_top_up' });
      expect(await outcome(await post({ ...completed, id: 'evt_other', type: 'customer.created' }))).toMatchObject({ ignored: 'unhandled_event' });
      expect(await fingerprint(db())).toEqual(before);
      expect(await countRows(db(), 'grants', org.orgId)).toBe(0);
    });

    it('reports every outcome to onEvent', async () => {
      const { completed } = await purchase();
      const seen: [string, TopUpOutcome][] = [];
      await outcome(await post(completed, {}, handler({ onEvent: (e, o) => void seen.push([e.id, o]) })));
      expect(seen).toEqual([[completed.id, expect.objectContaining({ grants: [expect.objectContaining({ granted: 200 })] })]]);
    });
  });

  describe('refunds and disputes', () => {
    it('a refund after partial use claws back the unspent part only, and records the shortfall', async () => {
      const { org, pi, charge, completed, member } = await purchase();
      await outcome(await post(completed));
      await spend(member, 150); // 50 of the 200 purchased left
      expect(await purchased(org.orgId)).toBe(50);
      // 75% refunded: 150 tokens asked back, 50 can be.
      const result = await outcome(await post(refund(org.orgId, pi, charge, 1500, 0)));
      expect(result.clawbacks).toEqual([expect.objectContaining({ grantKey: `stripe:${pi}:0`, requested: 150, clawedBack: 50, shortfall: 100, replayed: false })]);
      expect(await purchased(org.orgId)).toBe(0);
      expect((await grantsOf(org.orgId))[0]).toMatchObject({ remaining: 0, clawed_back: 50 });
      // Never below zero, and never twice: the same refund again takes nothing more.
      const again = await outcome(await post(refund(org.orgId, pi, charge, 1500, 0)));
      expect(again.clawbacks![0]).toMatchObject({ clawedBack: 50, replayed: true });
      expect(await purchased(org.orgId)).toBe(0);
      await expectReconciled(db(), org.orgId);
    });

    it('partial refunds take their cumulative share step by step (each step once)', async () => {
      const { org, pi, charge, completed } = await purchase();
      await outcome(await post(completed));
      expect((await outcome(await post(refund(org.orgId, pi, charge, 500, 0)))).clawbacks![0]).toMatchObject({ requested: 50, clawedBack: 50 });
      expect((await outcome(await post(refund(org.orgId, pi, charge, 1000, 500)))).clawbacks![0]).toMatchObject({ requested: 50, clawedBack: 50 });
      // A redelivery of the first step, concurrently with itself, takes nothing more.
      await Promise.all(Array.from({ length: 5 }, () => post(refund(org.orgId, pi, charge, 500, 0)).then(outcome)));
      expect(await purchased(org.orgId)).toBe(100);
      expect((await grantsOf(org.orgId))[0]).toMatchObject({ remaining: 100, clawed_back: 100, status: 'active' });
    });

    it('without previous_attributes, a refund step is the newest refund the charge lists (older API versions)', async () => {
      const { org, pi, charge, completed } = await purchase();
      await outcome(await post(completed));
      const step = (refunded: number, amounts: number[]) => {
        const e = refund(org.orgId, pi, charge, refunded, 0);
        delete e.data.previous_attributes;
        e.data.object.refunds = { object: 'list', data: amounts.map((amount, i) => ({ id: `re_${charge}_${i}`, object: 'refund', amount, status: 'succeeded' })), has_more: false };
        return e;
      };
      expect((await outcome(await post(step(500, [500])))).clawbacks![0]).toMatchObject({ requested: 50, clawedBack: 50 });
      expect((await outcome(await post(step(800, [300, 500])))).clawbacks![0]).toMatchObject({ requested: 30, clawedBack: 30 });
      expect(await purchased(org.orgId)).toBe(120);
    });

    it('a refund step redelivered after the mapping changed takes nothing more (and is not refused forever)', async () => {
      const { org, pi, charge, completed } = await purchase();
      await outcome(await post(completed));
      const half = refund(org.orgId, pi, charge, 1000, 0);
      expect((await outcome(await post(half))).clawbacks![0]).toMatchObject({ requested: 100, clawedBack: 100 });
      const remapped = handler({ products: { [PRICE]: { tokenType: TYPE, amount: 300 } } }); // 600 granted now: 300 would be asked
      expect((await outcome(await post(half, {}, remapped))).clawbacks![0]).toMatchObject({ clawedBack: 0, replayed: true });
      expect(await purchased(org.orgId)).toBe(100);
    });

    it('a full refund of an unspent payment revokes its grant', async () => {
      const { org, pi, charge, completed } = await purchase();
      await outcome(await post(completed));
      const result = await outcome(await post(refund(org.orgId, pi, charge, 2000, 0)));
      expect(result.clawbacks).toEqual([expect.objectContaining({ requested: null, clawedBack: 200, shortfall: 0, revoked: true })]);
      expect(await purchased(org.orgId)).toBe(0);
      expect((await grantsOf(org.orgId))[0]).toMatchObject({ remaining: 0, clawed_back: 200, status: 'revoked' });
      await expectReconciled(db(), org.orgId);
    });

    it('a dispute of the whole payment takes back everything left', async () => {
      const { org, pi, charge, completed, member } = await purchase();
      await outcome(await post(completed));
      await spend(member, 30);
      const dispute = event('charge.dispute.created', org.orgId, { event: { id: `evt_dispute_${pi}` }, object: { id: `dp_${pi}`, charge, payment_intent: pi } });
      const result = await outcome(await post(dispute));
      expect(result.clawbacks).toEqual([expect.objectContaining({ requested: null, clawedBack: 170, revoked: true })]);
      expect(await purchased(org.orgId)).toBe(0);
      expect((await outcome(await post(dispute))).clawbacks![0]).toMatchObject({ replayed: true });
      expect(await purchased(org.orgId)).toBe(0);
      await expectReconciled(db(), org.orgId);
    });

    it('a refund that arrives before its grant is refused (Stripe retries it), then applies once the grant landed', async () => {
      const { org, pi, charge, completed } = await purchase();
      const early = refund(org.orgId, pi, charge, 2000, 0);
      const before = await fingerprint(db());
      // Any non-2xx makes Stripe retry.
      await expectProblem(await post(early), 'grant_not_found');
      expect(await fingerprint(db())).toEqual(before);
      await outcome(await post(completed));
      expect((await outcome(await post(early))).clawbacks![0]).toMatchObject({ clawedBack: 200, revoked: true });
      expect(await purchased(org.orgId)).toBe(0);
    });

    it('ignores refunds of payments that are not top-ups', async () => {
      const { org, charge } = await purchase();
      const before = await fingerprint(db());
      expect(await outcome(await post(refund(org.orgId, 'pi_unrelated', charge, 2000, 0)))).toMatchObject({ ignored: 'not_a_top_up' });
      expect(await fingerprint(db())).toEqual(before);
    });
  });

  describe('signatures and failures (attacker tests)', () => {
    /** Assert `response` is 400 invalid_signature and nothing at all was written. */
    async function refusedUnwritten(run: () => Promise<Response>, orgId: string) {
      const before = await fingerprint(db());
      await expectProblem(await run(), 'invalid_signature');
      expect(await fingerprint(db())).toEqual(before);
      expect(await countRows(db(), 'grants', orgId)).toBe(0);
    }

    it('a bad or missing signature → 400 invalid_signature, nothing written, no lookup made', async () => {
      const { org, completed } = await purchase();
      const calls = lookups.length;
      await refusedUnwritten(() => post(completed, { signature: null }), org.orgId);
      await refusedUnwritten(() => post(completed, { signature: 't=1,v1=deadbeef' }), org.orgId);
      await refusedUnwritten(() => post(completed, { signature: 'garbage' }), org.orgId);
      expect(lookups.length).toBe(calls);
    });

    it('a forged event signed with another secret is refused', async () => {
      const { org, completed } = await purchase();
      await refusedUnwritten(() => post(completed, { secret: 'whsec_attacker_secret_000000000000' }), org.orgId);
    });

    it('a replayed signed event with a tampered body, or an old capture, is refused', async () => {
      const { org, completed } = await purchase();
      const payload = JSON.stringify(completed);
      const header = signature(payload);
      const tampered = payload.replace('"payment_status":"paid"', '"payment_status":"paid","x":1').replace(/"amount_total":2000/, '"amount_total":2');
      expect(tampered).not.toBe(payload);
      await refusedUnwritten(() => handler()(webhookRequest(tampered, { signature: header })), org.orgId);
      // Another organization substituted into a genuinely signed payload.
      const other = await createOrg(db(), { plan: 'pro' });
      await refusedUnwritten(() => handler()(webhookRequest(payload.replaceAll(org.orgId, other.orgId), { signature: header })), other.orgId);
      // A valid capture replayed after the library's 5-minute tolerance.
      await refusedUnwritten(() => post(completed, { timestamp: Math.floor(Date.now() / 1000) - 600 }), org.orgId);
      // The genuine delivery still works (the refusals consumed nothing).
      expect((await outcome(await handler()(webhookRequest(payload, { signature: header })))).grants![0]!.granted).toBe(200);
    });

    it('accepts either secret while rotating', async () => {
      const { org, completed } = await purchase();
      const rotating = handler({ webhookSecret: ['whsec_old_secret_0000000000000000', WEBHOOK_SECRET] });
      expect((await outcome(await post(completed, {}, rotating))).grants![0]!.granted).toBe(200);
      expect(await purchased(org.orgId)).toBe(200);
    });

    it('answers 405 to other methods and refuses an empty secret at setup', async () => {
      await expectProblem(await handler()(new Request('http://localhost/api/stripe/webhook')), 'method_not_allowed');
      expect(() => createStripeTopUps({ stripe, webhookSecret: ' ', gate, products: PRODUCTS })).toThrow(/webhookSecret/);
      for (const product of [{ tokenType: TYPE, amount: 0 }, { tokenType: TYPE, amount: 1.5 }, { tokenType: TYPE, amount: 10, expiresInDays: -1 }]) {
        expect(() => createStripeTopUps({ stripe, webhookSecret: WEBHOOK_SECRET, gate, products: { [PRICE]: product } })).toThrow(/products\.price_/);
      }
    });

    it('a payment naming an organization the ledger does not know → its 404 (Stripe retries and shows it), nothing written', async () => {
      const { completed } = await purchase();
      const stranger = structuredClone(completed);
      stranger.data.object.client_reference_id = '00000000-0000-4000-8000-00000000dead';
      const before = await fingerprint(db());
      await expectProblem(await post(stranger), 'unknown_organization');
      expect(await fingerprint(db())).toEqual(before);
    });

    it('a database outage → 503 so that Stripe retries; the retry grants once', async () => {
      const { org, completed } = await purchase();
      const down = createTokenGate({ store: postgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/test' }) });
      const response = await post(completed, {}, handler({ gate: down }));
      await expectProblem(response, 'unavailable');
      expect(await purchased(org.orgId)).toBe(0);
      expect((await outcome(await post(completed))).grants![0]!.granted).toBe(200);
    });

    it("Stripe's API unreachable while reading line items → 503, nothing written", async () => {
      const { org, completed } = await purchase();
      const before = await fingerprint(db());
      const response = await post(completed, {}, handler({ lineItems: undefined }));
      await expectProblem(response, 'unavailable');
      expect(await fingerprint(db())).toEqual(before);
      expect(await purchased(org.orgId)).toBe(0);
    });
  });
  describe('default lookups through the Stripe client (recorded API answers served by its HTTP client, no network)', () => {
    it('lists the line items of a session to grant, and finds the session of a refunded PaymentIntent to claw back', async () => {
      const { org, pi, charge, completed } = await purchase();
      const session = completed.data.object as Json;
      const requests: string[] = [];
      const client = new Stripe('sk_test_tokengate_never_sent', {
        maxNetworkRetries: 0,
        httpClient: Stripe.createFetchHttpClient(async (input) => {
          const url = new URL(String(input));
          requests.push(`${url.pathname}${url.search}`);
          const body = url.pathname === `/v1/checkout/sessions/${session.id}/line_items`
            ? LINE_ITEMS
            : url.pathname === '/v1/checkout/sessions' && url.searchParams.get('payment_intent') === pi
              ? { object: 'list', data: [session], has_more: false, url: '/v1/checkout/sessions' }
              : null;
          if (body === null) return new Response(JSON.stringify({ error: { type: 'invalid_request_error', message: 'No such object' } }), { status: 404, headers: { 'content-type': 'application/json' } });
          return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', 'request-id': 'req_test' } });
        }),
      });
      const real = createStripeTopUps({ stripe: client, webhookSecret: WEBHOOK_SECRET, gate, products: PRODUCTS });
      expect((await outcome(await real(webhookRequest(completed)))).grants![0]).toMatchObject({ grantKey: `stripe:${pi}:0`, granted: 200 });
      expect((await outcome(await real(webhookRequest(refund(org.orgId, pi, charge, 1000, 0))))).clawbacks![0]).toMatchObject({ requested: 100, clawedBack: 100 });
      expect(await purchased(org.orgId)).toBe(100);
      expect(requests).toEqual([
        `/v1/checkout/sessions/${session.id}/line_items?limit=100`,
        `/v1/checkout/sessions?payment_intent=${pi}&limit=1`,
        `/v1/checkout/sessions/${session.id}/line_items?limit=100`,
      ]);
    });
  });
});
