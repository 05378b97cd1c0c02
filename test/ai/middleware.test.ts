/**
 * `tokengate/ai` with the AI SDK's own mock models (`ai/test`, no network) on the real ledger:
 * every test reads the balance and the ledger back. The 50-call race runs on the Postgres server.
 */
import { generateText, simulateReadableStream, stepCountIs, streamText, tool, wrapLanguageModel, jsonSchema, type LanguageModelUsage } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { beforeAll, expect, it } from 'vitest';
import { promptTokens, tokengateMiddleware, type TokengateMiddlewareOptions } from '../../server/ai/index.ts';
import { supabaseAuth } from '../../server/auth.ts';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import { guard } from '../../server/guard.ts';
import { postgresStore } from '../../server/stores/postgres-store.ts';
import { CHARGE_EVENT, parseChargeEvent } from '../../src/core/charge-event.ts';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { concurrencyPoolSize, describeEachDb, describeServer, type TestDb } from '../db.ts';
import { storeFor } from '../http/fixture.ts';
import { createTestIssuer } from '../jwt.ts';
import { bucket, createOrg, expectReconciled, type SeededOrg } from '../ledger.ts';
import { waitFor } from '../wait-for.ts';

const NOW = '2028-01-10T12:00:00Z';
const ANCHOR = '2028-01-01T00:00:00Z';
const TYPE = 'strategy_analysis'; // 100 tokens a period on Pro

/** 1 Tokengate token per 10 model tokens, rounded up by the middleware; reasoning is output. */
const price = (u: LanguageModelUsage) => ((u.inputTokens ?? 0) + (u.outputTokens ?? 0)) / 10;
/** A model usage in the provider spec's shape. */
const usage = (input: number, output: number, reasoning = 0) => ({
  inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: output, text: output - reasoning, reasoning },
});
const generated = (text: string, input: number, output: number) => ({
  content: [{ type: 'text' as const, text }],
  finishReason: { unified: 'stop' as const, raw: 'stop' },
  usage: usage(input, output),
  warnings: [],
});
/** A streamed answer: `text` in two deltas, then the finish part with the usage. */
const streamed = (text: string, input: number, output: number) => ({
  stream: simulateReadableStream({
    chunks: [
      { type: 'stream-start' as const, warnings: [] },
      { type: 'text-start' as const, id: 't' },
      { type: 'text-delta' as const, id: 't', delta: text.slice(0, text.length / 2) },
      { type: 'text-delta' as const, id: 't', delta: text.slice(text.length / 2) },
      { type: 'text-end' as const, id: 't' },
      { type: 'finish' as const, finishReason: { unified: 'stop' as const, raw: 'stop' }, usage: usage(input, output) },
    ],
    initialDelayInMs: null,
    chunkDelayInMs: null,
  }),
});

/** A streamed answer the test drives part by part. */
function driven() {
  let controller!: ReadableStreamDefaultController<any>;
  const state = { cancelled: false };
  const stream = new ReadableStream<any>({ start: (c) => void (controller = c), cancel: () => void (state.cancelled = true) });
  return { stream, state, push: (part: unknown) => controller.enqueue(part), fail: (e: unknown) => controller.error(e) };
}

describeEachDb('tokengate/ai middleware', (getDb) => {
  let db: TestDb;
  let gate: TokenGate;

  beforeAll(async () => {
    db = getDb();
    await db.setNow(NOW);
    gate = createTokenGate({ store: storeFor(db) });
  });

  const freshOrg = () => createOrg(db, { plan: 'pro', anchor: ANCHOR });
  const ctxOf = (org: SeededOrg) => ({ userId: org.members[0]!, orgId: org.orgId });
  const wrap = (model: MockLanguageModelV4, org: SeededOrg, options: Partial<TokengateMiddlewareOptions> = {}) =>
    wrapLanguageModel({ model, middleware: tokengateMiddleware({ gate, context: ctxOf(org), tokenType: TYPE, price, ...options }) });
  const balance = async (orgId: string) => {
    const b = (await bucket(db, orgId, TYPE))!;
    return { left: b.allowance_remaining + b.purchased_remaining, held: b.held, used: b.used };
  };
  const entries = async (orgId: string) =>
    db.query<{ kind: string; charged: number; estimate: number | null; uncharged: number | null }>(
      `select l.kind, l.charged::int as charged, r.estimate, (l.metadata ->> 'uncharged')::int as uncharged
       from tokengate.ledger l left join tokengate.reservations r on r.id = l.reservation_id
       where l.org_id = $1 and l.kind <> 'refresh' order by l.id`,
      [orgId],
    );

  it('generateText: holds price(prompt + maxOutputTokens), charges exactly price(usage), refunds the rest', async () => {
    const org = await freshOrg();
    const model = new MockLanguageModelV4({ doGenerate: generated('An analysis.', 30, 50) });
    const { text, usage: reported } = await generateText({ model: wrap(model, org), prompt: 'Analyse our strategy.', maxOutputTokens: 400 });
    expect(text).toBe('An analysis.');
    expect(reported.inputTokens).toBe(30);
    const hold = Math.ceil((promptTokens(model.doGenerateCalls[0]!) + 400) / 10);
    expect(await entries(org.orgId)).toEqual([
      { kind: 'reserve', charged: 0, estimate: hold, uncharged: null },
      { kind: 'commit', charged: 8, estimate: hold, uncharged: null },
    ]);
    expect(await balance(org.orgId)).toEqual({ left: 92, held: 0, used: 8 });
    await expectReconciled(db, org.orgId);
  });

  it('streamText: charges exactly price(usage) of the finish part, before the caller sees the finish', async () => {
    const org = await freshOrg();
    const model = new MockLanguageModelV4({ doStream: streamed('Streamed analysis.', 40, 75) });
    const result = streamText({ model: wrap(model, org), prompt: 'Analyse.', maxOutputTokens: 300 });
    expect(await result.text).toBe('Streamed analysis.');
    expect((await entries(org.orgId)).map((e) => [e.kind, e.charged])).toEqual([['reserve', 0], ['commit', 12]]);
    expect(await balance(org.orgId)).toEqual({ left: 88, held: 0, used: 12 });
    await expectReconciled(db, org.orgId);
  });

  it('refuses with the ledger error before any model call when the organization cannot pay', async () => {
    const org = await freshOrg();
    // 20,000 output tokens would cost 2,000 tokens; 100 are available.
    const model = new MockLanguageModelV4({ doGenerate: generated('never', 1, 1), doStream: streamed('never', 1, 1) });
    const refused = await generateText({ model: wrap(model, org), prompt: 'x', maxOutputTokens: 20_000, maxRetries: 0 }).catch((e) => e);
    expect(refused).toBeInstanceOf(TokenGateError);
    expect(refused).toMatchObject({ code: 'insufficient_tokens', status: 402 });
    const errors: unknown[] = [];
    const result = streamText({ model: wrap(model, org), prompt: 'x', maxOutputTokens: 20_000, maxRetries: 0, onError: ({ error }) => void errors.push(error) });
    await result.consumeStream();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'insufficient_tokens' });
    expect(model.doGenerateCalls).toHaveLength(0);
    expect(model.doStreamCalls).toHaveLength(0);
    expect(await entries(org.orgId)).toEqual([]);
    // No maxOutputTokens and no estimate: no safe hold, so no call.
    await expect(generateText({ model: wrap(model, org), prompt: 'x', maxRetries: 0 })).rejects.toThrow(/maxOutputTokens/);
    expect(model.doGenerateCalls).toHaveLength(0);
  });

  it('a model error mid-stream: charged the prompt and what was streamed (4 characters a token), the rest refunded', async () => {
    const org = await freshOrg();
    const body = driven();
    const model = new MockLanguageModelV4({ doStream: async () => ({ stream: body.stream }) });
    const errors: unknown[] = [];
    const seen: string[] = [];
    const result = streamText({
      model: wrap(model, org),
      prompt: 'Analyse.',
      maxOutputTokens: 300,
      maxRetries: 0,
      onError: ({ error }) => void errors.push(error),
      onChunk: ({ chunk }) => void (chunk.type === 'text-delta' && seen.push(chunk.text)),
    });
    const consumed = result.consumeStream({ onError: (error) => void errors.push(error) });
    body.push({ type: 'stream-start', warnings: [] });
    body.push({ type: 'text-start', id: 't' });
    body.push({ type: 'text-delta', id: 't', delta: 'x'.repeat(200) }); // 50 model tokens
    // (An errored stream drops parts not read yet: fail once the delta is through.)
    await waitFor(() => seen.length === 1, { what: 'the delta reaching the caller' });
    body.fail(new Error('provider connection reset'));
    await consumed;
    expect(errors.length).toBeGreaterThan(0);
    expect(String(errors[0])).toContain('provider connection reset');
    const charge = Math.ceil((promptTokens(model.doStreamCalls[0]!) + 50) / 10);
    expect((await entries(org.orgId)).map((e) => [e.kind, e.charged])).toEqual([['reserve', 0], ['commit', charge]]);
    expect(await balance(org.orgId)).toEqual({ left: 100 - charge, held: 0, used: charge });
    await expectReconciled(db, org.orgId);
  });

  it('an abort mid-stream: the model stream is cancelled and charged what was streamed so far, nothing else', async () => {
    const org = await freshOrg();
    const body = driven();
    const model = new MockLanguageModelV4({ doStream: async () => ({ stream: body.stream }) });
    const abort = new AbortController();
    const seen: string[] = [];
    const result = streamText({
      model: wrap(model, org),
      prompt: 'Analyse.',
      maxOutputTokens: 300,
      abortSignal: abort.signal,
      onChunk: ({ chunk }) => void (chunk.type === 'text-delta' && seen.push(chunk.text)),
    });
    const consumed = result.consumeStream({ onError: () => {} });
    body.push({ type: 'stream-start', warnings: [] });
    body.push({ type: 'text-start', id: 't' });
    body.push({ type: 'text-delta', id: 't', delta: 'y'.repeat(120) }); // 30 model tokens
    await waitFor(() => seen.length === 1, { what: 'the first delta reaching the caller' });
    abort.abort();
    await consumed;
    await waitFor(async () => (await balance(org.orgId)).held === 0, { what: 'the hold resolved' });
    expect(body.state.cancelled).toBe(true);
    const charge = Math.ceil((promptTokens(model.doStreamCalls[0]!) + 30) / 10);
    expect((await entries(org.orgId)).map((e) => [e.kind, e.charged])).toEqual([['reserve', 0], ['commit', charge]]);
    expect(await balance(org.orgId)).toEqual({ left: 100 - charge, held: 0, used: charge });
    await expectReconciled(db, org.orgId);
  });

  it('a multi-step tool loop: each step held and charged on its own; past the balance, never below zero and no further step', async () => {
    const org = await freshOrg();
    const toolCall = (id: string) => ({
      content: [{ type: 'tool-call' as const, toolCallId: id, toolName: 'lookup', input: '{"q":"revenue"}' }],
      finishReason: { unified: 'tool-calls' as const, raw: 'tool_calls' },
      usage: usage(200, 400), // 60 tokens a step
      warnings: [],
    });
    const model = new MockLanguageModelV4({ doGenerate: [toolCall('c1'), toolCall('c2'), generated('done', 10, 10)] });
    let lookups = 0;
    const lookup = tool({ inputSchema: jsonSchema<{ q: string }>({ type: 'object', properties: { q: { type: 'string' } } }), execute: async () => (lookups++, 'ok') });
    const failed = await generateText({
      model: wrap(model, org, { estimate: 5 }),
      prompt: 'Forecast.',
      tools: { lookup },
      stopWhen: stepCountIs(5),
      maxRetries: 0,
    }).catch((e) => e);
    // Step 1: 60 charged (5 held + 55 from what is available). Step 2: holds 5 of the 40 left and
    // uses 60: 40 charged, 20 recorded as uncharged, balance 0. Step 3: refused before the model call.
    expect(failed).toMatchObject({ code: 'insufficient_tokens' });
    expect(model.doGenerateCalls).toHaveLength(2);
    expect(lookups).toBe(2);
    expect((await entries(org.orgId)).map((e) => [e.kind, e.charged, e.uncharged])).toEqual([
      ['reserve', 0, null],
      ['commit', 60, null],
      ['reserve', 0, null],
      ['commit', 40, 20],
    ]);
    expect(await balance(org.orgId)).toEqual({ left: 0, held: 0, used: 100 });
    await expectReconciled(db, org.orgId);
  });

  it('inside a guarded route: no second hold; every step adds to ctx.reportUsage and the guard charges the total', async () => {
    const org = await freshOrg();
    const issuer = await createTestIssuer();
    const model = new MockLanguageModelV4({ doStream: streamed('Guarded analysis.', 60, 90) });
    const route = guard({ gate, authenticate: supabaseAuth(issuer.authOptions), tokenType: TYPE, estimate: 50, chargeEvent: true }, async (_request, ctx) => {
      const wrapped = wrapLanguageModel({ model, middleware: tokengateMiddleware({ gate, context: ctx, tokenType: TYPE, price }) });
      return streamText({ model: wrapped, prompt: 'Analyse.' }).toUIMessageStreamResponse();
    });
    const res = await route(
      new Request('http://app.test/api/analysis', {
        method: 'POST',
        headers: { authorization: await issuer.bearer(org.members[0]!), 'x-tokengate-org': org.orgId },
        body: '{}',
      }),
    );
    const text = await res.text();
    expect(text).toContain('Guarded analysis.'.slice(0, 5));
    const event = text.split('\n\n').find((e) => e.startsWith(`event: ${CHARGE_EVENT}`))!;
    expect(parseChargeEvent(event.split('\ndata: ')[1]!)).toMatchObject({ charged: 15, available: 85 });
    expect((await entries(org.orgId)).map((e) => [e.kind, e.charged])).toEqual([['reserve', 0], ['commit', 15]]);
    await expectReconciled(db, org.orgId);
  });

  it('validates its options', () => {
    const base = { gate, context: { userId: 'u', orgId: 'o' }, tokenType: TYPE, price } as TokengateMiddlewareOptions;
    expect(() => tokengateMiddleware({ ...base, gate: undefined as never })).toThrow(/gate/);
    expect(() => tokengateMiddleware({ ...base, context: undefined as never })).toThrow(/context/);
    expect(() => tokengateMiddleware({ ...base, price: undefined as never })).toThrow(/price/);
    expect(() => tokengateMiddleware({ ...base, estimate: 0 })).toThrow(/estimate/);
    expect(() => tokengateMiddleware({ ...base, ttlSeconds: 0 })).toThrow(/ttlSeconds/);
    expect(() => tokengateMiddleware({ ...base, minimumCharge: -1 })).toThrow(/minimumCharge/);
  });
});

const LANES = concurrencyPoolSize(50);

describeServer(`tokengate/ai: 50 concurrent streamed calls on a pool of ${LANES}`, (getDb) => {
  it('never overspends a bucket that allows K calls, and the ledger reconciles', async () => {
    const db = getDb();
    await db.setNow(NOW);
    const pool = db.pool(LANES);
    const gate = createTokenGate({ store: postgresStore({ pool }) });
    const org = await createOrg(db, { plan: 'pro', anchor: ANCHOR, members: 5 });
    // Each call holds 9 and uses 7 (40 + 30 model tokens): 100 tokens allow K = 11 holds at once,
    // and never more than 100 charged in all, whatever the interleaving.
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const model = new MockLanguageModelV4({ doStream: streamed('concurrent answer', 40, 30) });
        const wrapped = wrapLanguageModel({
          model,
          middleware: tokengateMiddleware({ gate, context: { userId: org.members[i % 5]!, orgId: org.orgId }, tokenType: TYPE, price, estimate: 9 }),
        });
        const errors: unknown[] = [];
        const text = await Promise.resolve(streamText({ model: wrapped, prompt: `call ${i}`, maxRetries: 0, onError: ({ error }) => void errors.push(error) }).text).catch(() => null);
        return { ok: errors.length === 0 && text === 'concurrent answer', errors, called: model.doStreamCalls.length };
      }),
    );
    const served = outcomes.filter((o) => o.ok).length;
    for (const o of outcomes.filter((o) => !o.ok)) {
      expect(o.errors[0]).toMatchObject({ code: 'insufficient_tokens' });
      expect(o.called).toBe(0);
    }
    expect(served).toBeGreaterThanOrEqual(11);
    expect(served * 7).toBeLessThanOrEqual(100);
    const b = (await bucket(db, org.orgId, TYPE))!;
    expect({ used: b.used, held: b.held, left: b.allowance_remaining + b.purchased_remaining }).toEqual({ used: served * 7, held: 0, left: 100 - served * 7 });
    await expectReconciled(db, org.orgId);
  });
});
