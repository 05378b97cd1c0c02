/**
 * The playground's API on an open database: the real REST handler (`createHandler`), the operator
 * routes, the app's own AI routes behind `guard(...)`, the alert worker and its webhook receiver,
 * Stripe top-ups, and the demo-only helpers (see demo/server.ts for the paths). A module of its own
 * so that `npm start` loads it (the server module, zod, Stripe, jose…) while Vite starts, not before.
 */
import type http from 'node:http';
import { SignJWT } from 'jose';
import Stripe from 'stripe';
import { supabaseAuth } from '../server/auth.ts';
import { createTokenGate } from '../server/gate.ts';
import { guard } from '../server/guard.ts';
import { createHandler } from '../server/http/handler.ts';
import { problemResponse } from '../server/http/problem-response.ts';
import { toNodeHandler } from '../server/adapters/node.ts';
import { createStripeTopUps } from '../server/stripe/create-stripe-top-ups.ts';
import { createAlertWorker } from '../server/webhooks/create-alert-worker.ts';
import { verifyWebhook } from '../server/webhooks/verify-webhook.ts';
import type { TokenGateWebhookEvent } from '../server/webhooks/webhook-event.ts';
import { AI_FEATURES, DEMO_ORGS, DEMO_USERS, type AiFeature } from './directory.ts';
import { fakeAi } from './fake-ai.ts';
import { fakeModelStream, WORDS_PER_TOKEN } from './fake-model-stream.ts';
import { demoSecret, type DemoDatabase } from './start-database.ts';

/** Issuer of the demo's own tokens (a Supabase project would be `https://<ref>.supabase.co/auth/v1`). */
const ISSUER = 'https://tokengate-demo.local/auth/v1';

/** The playground's one Stripe price (see the simulated checkout): 30 quest tokens for $5. */
const PLAYGROUND_PRICE = { id: 'price_playground_quest_tokens_30', tokenType: 'quest_generation', amount: 30, cents: 500 } as const;

/** What `createDemoApi` needs. */
export interface DemoApiOptions {
  /** The open (possibly still seeding) database. */
  db: DemoDatabase;
  /** The data folder (the token signing secret lives there). */
  dir: string;
  /** The playground's own origin (the alert worker posts to its receiver there). */
  url: string;
  /** Delay of the fake AI model, ms. */
  aiDelayMs: number;
  /** Pace of the streamed answer, ms per word. */
  wordMs: number;
  log: (line: string) => void;
}

/** The playground's API: one Node request handler for every `/api/*` path, and how to stop its worker. */
export interface DemoApi {
  route(req: http.IncomingMessage, res: http.ServerResponse): void;
  close(): Promise<void>;
}

/**
 * Wire the playground's API on `db`.
 *
 * @example
 * const api = await createDemoApi({ db, dir, url, aiDelayMs: 1000, wordMs: 100, log: console.log });
 * server.on('request', (req, res) => api.route(req, res));
 */
export async function createDemoApi({ db, dir, url, aiDelayMs, wordMs, log }: DemoApiOptions): Promise<DemoApi> {
  const secret = await demoSecret(dir);
  const key = new TextEncoder().encode(secret);
  const gate = createTokenGate({ store: db.store });
  const authenticate = supabaseAuth({ issuer: ISSUER, secret });
  const api = toNodeHandler(createHandler({ gate, authenticate, basePath: '/api/tokengate' }));
  // The operator's view (every organization's usage, balances near exhaustion, spikes, expiring
  // grants) needs the server's credential. A real app serves it from its admin backend, after
  // checking the operator's session; the playground has no operators, so this path passes any
  // request as the server (playground only, like /api/demo/operator).
  const operatorView = toNodeHandler(
    createHandler({ gate, authenticate, authenticateServer: async () => true, basePath: '/api/demo/operator-view' }),
  );

  // Alerts (low, exhausted, quota reached, refreshed, expired hold) leave the ledger's outbox as
  // signed webhooks: the app's worker POSTs them to the app's receiver — here both are the
  // playground's own (`/api/demo/webhooks`), and the Events panel lists what the receiver accepted.
  const webhookSecret = `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`;
  const received: (TokenGateWebhookEvent & { id: string; receivedAt: string })[] = [];
  const worker = createAlertWorker({
    gate,
    url: `${url}/api/demo/webhooks`,
    secret: webhookSecret,
    retry: { baseSeconds: 1, maxSeconds: 30 },
    onError: (error) => log(`alert worker: ${error instanceof Error ? error.message : String(error)}`),
  });
  const stopWorker = worker.start(1000);

  // Token top-ups arrive the way a real app gets them: Stripe's webhook, verified with the official
  // library and granted exactly once per payment by `createStripeTopUps`. The playground has no
  // Stripe account, so its simulated checkout plays Stripe: it signs a `checkout.session.completed`
  // event with the endpoint's secret and hands it to the handler (no network; the client is never
  // used to call Stripe, since the event carries its line items).
  const stripe = new Stripe('sk_test_tokengate_playground');
  const stripeSecret = `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64')}`;
  const topUps = createStripeTopUps({
    stripe,
    webhookSecret: stripeSecret,
    gate,
    // The playground's one price: 30 quest tokens for $5, valid for a year.
    products: { [PLAYGROUND_PRICE.id]: { tokenType: PLAYGROUND_PRICE.tokenType, amount: PLAYGROUND_PRICE.amount, expiresInDays: 365 } },
  });
  const playStripe = async (orgId: string, checkoutId: string) => {
    const created = Math.floor(Date.now() / 1000);
    const event = {
      id: `evt_playground_${checkoutId}`,
      object: 'event',
      api_version: '2026-11-18.endive',
      created,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: 'checkout.session.completed',
      data: {
        object: {
          id: `cs_test_${checkoutId}`,
          object: 'checkout.session',
          mode: 'payment',
          status: 'complete',
          payment_status: 'paid',
          client_reference_id: orgId,
          payment_intent: `pi_playground_${checkoutId}`,
          amount_total: PLAYGROUND_PRICE.cents,
          currency: 'usd',
          metadata: {},
          line_items: {
            object: 'list',
            has_more: false,
            url: `/v1/checkout/sessions/cs_test_${checkoutId}/line_items`,
            data: [{ id: `li_${checkoutId}`, object: 'item', quantity: 1, amount_total: PLAYGROUND_PRICE.cents, currency: 'usd',
                     price: { id: PLAYGROUND_PRICE.id, object: 'price', product: 'prod_playground_quest_tokens', unit_amount: PLAYGROUND_PRICE.cents } }],
          },
        },
      },
    };
    const payload = JSON.stringify(event);
    const signature = stripe.webhooks.generateTestHeaderString({ payload, secret: stripeSecret });
    return topUps(new Request(`${url}/api/stripe/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body: payload }));
  };

  // The app's own AI routes, each charged by the guard. `X-Demo-Fail: 1` (the UI's "make the next
  // call fail" switch) makes the fake model fail after its delay, so the guard refunds the hold.
  const aiRoutes = new Map(
    AI_FEATURES.map((feature) => [
      feature,
      toNodeHandler(
        feature === 'strategy_analysis'
          ? strategyRoute()
          : guard({ gate, authenticate, tokenType: feature }, async (request) => {
              const input = (await request.json().catch(() => ({}))) as { goal?: string; n?: number };
              await new Promise((resolve) => setTimeout(resolve, aiDelayMs));
              if (request.headers.get('x-demo-fail') === '1') {
                return Response.json({ error: 'The model timed out (simulated).' }, { status: 502 });
              }
              return Response.json(fakeAi(feature, input));
            }),
      ),
    ]),
  );

  // The streamed answer's breakpoint (demo-only, for tests and demos of Stop): POST
  // /api/demo/model {"pauseAfterWords": n} makes the NEXT streamed answer stop after n words until
  // {"resume": true} — or until the client goes away.
  const model = { pauseAfterWords: null as number | null, pausedAt: null as number | null, resume: null as (() => void) | null };
  const release = () => {
    model.pausedAt = null;
    model.resume?.();
    model.resume = null;
  };

  /**
   * Strategy analysis, streamed: the hold (one use, 10 tokens) is taken before the model starts;
   * the model reports its usage as it produces words (1 token per 5 words, 8 for the whole answer),
   * and the guard charges the last value when the stream ends — or, when the client stops it or
   * the stream breaks off, what was reported so far (at least the guard's minimum), refunding the
   * rest. `chargeEvent`: a completed answer ends with the guard's `tokengate-charge` event.
   * `X-Demo-Fail: 1` fails before answering (refunded); `mid-stream` breaks off after 20 words.
   */
  function strategyRoute() {
    return guard({ gate, authenticate, tokenType: 'strategy_analysis', chargeEvent: true }, async (request, ctx) => {
      const fail = request.headers.get('x-demo-fail');
      if (fail === '1') {
        await new Promise((resolve) => setTimeout(resolve, aiDelayMs));
        return Response.json({ error: 'The model timed out (simulated).' }, { status: 502 });
      }
      const pauseAt = model.pauseAfterWords;
      model.pauseAfterWords = null;
      const body = fakeModelStream({
        wordMs,
        ...(fail === 'mid-stream' ? { failAfter: 4 * WORDS_PER_TOKEN } : {}),
        beforeWord: (sent) =>
          sent === pauseAt
            ? new Promise<void>((resolve) => {
                model.pausedAt = sent;
                model.resume = resolve;
              })
            : Promise.resolve(),
        onUsage: (tokens) => ctx.reportUsage(tokens),
        onCancel: release,
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } });
    });
  }

  // Demo-only helpers. NOT for production: /session hands out a signed token for any seeded user
  // (that is the user switcher), and /inspect shows raw rows without asking who you are.
  const demoApi = toNodeHandler(async (request) => {
    const url = new URL(request.url);
    if (url.pathname === '/api/demo/billing-webhook' && request.method === 'POST') {
      // Plays the billing provider's webhook after the playground's simulated checkout: the SERVER
      // changes the plan or adds purchased tokens (actor null), never a member's or admin's token.
      const event = (await request.json().catch(() => ({}))) as { orgId?: string; checkoutId?: string; planId?: string; tokenType?: string; amount?: number };
      if (!DEMO_ORGS.some((o) => o.id === event.orgId) || typeof event.checkoutId !== 'string') {
        return Response.json({ error: 'unknown demo org or checkout' }, { status: 400 });
      }
      const ctx = { orgId: event.orgId!, actorId: null };
      if (event.planId) return Response.json(await gate.setPlan(ctx, event.planId));
      if (event.tokenType === PLAYGROUND_PRICE.tokenType && event.amount === PLAYGROUND_PRICE.amount) {
        return playStripe(event.orgId!, event.checkoutId);
      }
      return Response.json({ error: 'nothing to apply' }, { status: 400 });
    }
    if (url.pathname === '/api/demo/operator' && request.method === 'POST') {
      // The app's operator tools (support, finance) act through the SERVER's credential: grants,
      // plan changes and adjustments create or change value, so the handler refuses them to a
      // customer's token (403 server_only). Here the playground's server does it as itself.
      const op = (await request.json().catch(() => ({}))) as { orgId?: string; action?: string; tokenType?: string; amount?: number; planId?: string; reason?: string };
      if (!DEMO_ORGS.some((o) => o.id === op.orgId)) return Response.json({ error: 'unknown demo org' }, { status: 400 });
      const ctx = { orgId: op.orgId!, actorId: null };
      const idempotencyKey = `operator:${crypto.randomUUID()}`;
      try {
        if (op.action === 'setPlan' && op.planId) return Response.json(await gate.setPlan(ctx, op.planId));
        if (op.action === 'grant' && op.tokenType && typeof op.amount === 'number') {
          return Response.json(await gate.grant(ctx, op.tokenType, { amount: op.amount, idempotencyKey }));
        }
        if (op.action === 'adjust' && op.tokenType && typeof op.amount === 'number' && op.reason) {
          return Response.json(await gate.adjust(ctx, op.tokenType, { amount: op.amount, reason: op.reason, idempotencyKey }));
        }
      } catch (error) {
        return problemResponse(error);
      }
      return Response.json({ error: 'nothing to apply' }, { status: 400 });
    }
    if (url.pathname === '/api/demo/webhooks' && request.method === 'POST') {
      // The app's webhook receiver: verify the signature, then handle each alert once (the
      // webhook-id is the same on every retry and replay).
      try {
        const event = await verifyWebhook(request, webhookSecret);
        const id = request.headers.get('webhook-id')!;
        if (!received.some((e) => e.id === id)) {
          received.unshift({ ...event, id, receivedAt: new Date().toISOString() });
          received.length = Math.min(received.length, 100);
        }
        return new Response(null, { status: 204 });
      } catch (error) {
        return problemResponse(error);
      }
    }
    if (url.pathname === '/api/demo/model' && request.method === 'POST') {
      const body = (await request.json().catch(() => ({}))) as { pauseAfterWords?: number | null; resume?: boolean };
      if (body.resume) release();
      if (body.pauseAfterWords === null || (Number.isInteger(body.pauseAfterWords) && body.pauseAfterWords! >= 0)) {
        model.pauseAfterWords = body.pauseAfterWords ?? null;
      }
      return Response.json({ pauseAfterWords: model.pauseAfterWords, pausedAt: model.pausedAt });
    }
    if (request.method !== 'GET') return Response.json({ error: 'method not allowed' }, { status: 405 });
    if (url.pathname === '/api/demo/directory') {
      return Response.json({ orgs: DEMO_ORGS, storage: db.kind, aiDelayMs, wordMs });
    }
    if (url.pathname === '/api/demo/session') {
      const user = DEMO_USERS.get(url.searchParams.get('userId') ?? '');
      if (!user) return Response.json({ error: 'unknown demo user' }, { status: 404 });
      const token = await new SignJWT({ role: 'authenticated', email: `${user.name.split(' ')[0]!.toLowerCase()}@example.com` })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience('authenticated')
        .setSubject(user.id)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(key);
      return Response.json({ token, expiresIn: 3600 }, { headers: { 'cache-control': 'no-store' } });
    }
    if (url.pathname === '/api/demo/events') {
      const orgId = url.searchParams.get('orgId');
      return Response.json({ events: received.filter((e) => !orgId || e.data.orgId === orgId) }, { headers: { 'cache-control': 'no-store' } });
    }
    if (url.pathname === '/api/demo/inspect') {
      const orgId = url.searchParams.get('orgId') ?? '';
      if (!DEMO_ORGS.some((o) => o.id === orgId)) return Response.json({ error: 'unknown demo org' }, { status: 404 });
      const buckets = await db.query<Record<string, unknown>>(
        `select token_type_id as "tokenType", allowance_remaining::int as "allowanceRemaining",
                purchased_remaining::int as "purchased", held::int as held, used::int as used
           from tokengate.buckets where org_id = $1 order by token_type_id`,
        [orgId],
      );
      const [account] = await db.query<{ planId: string }>(`select plan_id as "planId" from tokengate.accounts where org_id = $1`, [orgId]);
      const problems = await gate.verifyLedger(orgId);
      return Response.json({ planId: account?.planId ?? null, buckets, reconciles: problems.length === 0, problems }, { headers: { 'cache-control': 'no-store' } });
    }
    return Response.json({ error: 'not found' }, { status: 404 });
  });

  const route = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const pathname = (req.url ?? '/').split('?')[0]!;
    if (pathname === '/api/tokengate' || pathname.startsWith('/api/tokengate/')) return void api(req, res);
    const ai = /^\/api\/ai\/([a-z_]+)$/.exec(pathname);
    if (ai) {
      const aiRoute = aiRoutes.get(ai[1] as AiFeature);
      if (aiRoute) return void aiRoute(req, res);
    }
    if (pathname.startsWith('/api/demo/operator-view/operator/')) return void operatorView(req, res);
    if (pathname.startsWith('/api/demo/')) return void demoApi(req, res);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  };

  return {
    route,
    async close() {
      release();
      await stopWorker();
    },
  };
}
