/**
 * The React kit against the real server: the real handler, gate and ledger on PGlite
 * (`test/http/fixture.ts`), plus one of the APP's own routes protected by `guard(...)` — a fake
 * "generate quests" endpoint a test can make slow or fail. The client's `fetch` routes by URL to
 * either of them, in-process.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createUIMessageStream, createUIMessageStreamResponse } from 'ai';
import type { ReactNode } from 'react';
import { supabaseAuth } from '../../server/auth.ts';
import { guard, type GuardContext } from '../../server/guard.ts';
import { createTokenClient, type TokenClient } from '../../src/core/create-token-client.ts';
import { TokenGateProvider } from '../../src/react/token-gate-provider.tsx';
import { freshPglite } from '../db.ts';
import { BASE, createApp, type App } from '../http/fixture.ts';
import { bucket, createOrg, type SeededOrg } from '../ledger.ts';

/** The app's guarded AI route. */
export const GENERATE_URL = 'http://localhost/api/generate-quests';
/** The app's guarded streamed route (server-sent events, `strategy_analysis`): one word per event. */
export const STREAM_URL = 'http://localhost/api/strategy';
/** The app's guarded chat route for `useChat` (an AI SDK UI message stream, `lead_generation`). */
export const CHAT_URL = 'http://localhost/api/chat';
/** The streamed route's answer, one word per event. */
export const STREAM_WORDS = ['Strength:', 'loyal', 'customers.', 'Risk:', 'one', 'supplier.', 'Next:', 'pilot', 'a', 'subscription', 'tier.', 'Done.'];
/** Words of the streamed route per token it reports (its usage: ceil(words sent / 2)). */
export const WORDS_PER_TOKEN = 2;
/** What the chat route answers, in deltas, and the tokens it reports (one per delta). */
export const CHAT_DELTAS = ['Three ', 'leads: ', 'Fern & Co., ', 'Harbor Dental, ', 'Lumen Studio.'];
export const CHAT_USAGE = CHAT_DELTAS.length;

/** What the guarded route does next: answer, fail with a 500, or wait for `release`. */
export interface RouteControl {
  /** Every request the guarded handler ran (after the guard let it through). */
  runs: GuardContext[];
  /** When set, the handler awaits it before answering (tests resolve it to continue). */
  hold: Promise<void> | null;
  /** When true, the handler answers 500 (the guard then refunds). */
  fail: boolean;
  /** When set, every balances read of the ledger waits for it (to observe the cache before a refetch lands). */
  holdBalances: Promise<void> | null;
  /** When set, the guard's charges (`guard_commit`) wait for it (to observe the client before the commit lands). */
  holdCommits: Promise<void> | null;
  /** The streamed and chat routes. */
  stream: StreamControl;
}

/** What the streamed route does next. */
export interface StreamControl {
  /** Every run of the streamed or chat route: its context and the request's headers. */
  runs: { ctx: GuardContext; headers: Headers }[];
  /** Words sent so far by the current streamed answer. */
  sent: number;
  /** When set, the streamed answer stops after this many words and awaits `resume`. */
  pauseAfter: number | null;
  resume: Promise<void> | null;
  /** When set, the streamed answer breaks off (its stream errors) after this many words. */
  failAfter: number | null;
  /** Set when the reader cancelled the streamed answer (the client went away). */
  cancelled: boolean;
}

/** A promise with its resolver. */
export function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * One database, handler, guarded route and control for a test file.
 *
 * @example
 * const env = await createReactEnv(); const org = await env.org('pro'); const client = env.clientFor(org);
 */
export async function createReactEnv() {
  const db = await freshPglite();
  const control: RouteControl = {
    runs: [],
    hold: null,
    fail: false,
    holdBalances: null,
    holdCommits: null,
    stream: { runs: [], sent: 0, pauseAfter: null, resume: null, failAfter: null, cancelled: false },
  };
  const app: App = await createApp(db, {
    hooks: {
      before: async (fn) => {
        if (fn === 'balances' && control.holdBalances) await control.holdBalances;
        if (fn === 'guard_commit' && control.holdCommits) await control.holdCommits;
      },
    },
  });
  const generate = guard(
    { gate: app.gate, authenticate: supabaseAuth(app.issuer.authOptions), tokenType: 'quest_generation' },
    async (request, ctx) => {
      control.runs.push(ctx);
      const { goal } = (await request.json()) as { goal: string };
      if (control.hold) await control.hold;
      if (control.fail) return Response.json({ error: 'model failed' }, { status: 500 });
      return Response.json({ quests: [`${goal}: first`, `${goal}: second`] });
    },
  );
  const authenticate = supabaseAuth(app.issuer.authOptions);
  const strategy = guard({ gate: app.gate, authenticate, tokenType: 'strategy_analysis', chargeEvent: true }, async (request, ctx) => {
    const s = control.stream;
    s.runs.push({ ctx, headers: request.headers });
    s.sent = 0;
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (s.sent === s.pauseAfter && s.resume) await s.resume;
        if (s.sent === s.failAfter) return controller.error(new Error('the model failed mid-answer'));
        if (s.sent === STREAM_WORDS.length) return controller.close();
        const word = STREAM_WORDS[s.sent++]!;
        // Usage as the tokens are produced: the guard charges the last value when the body ends.
        ctx.reportUsage(Math.ceil(s.sent / WORDS_PER_TOKEN));
        controller.enqueue(encoder.encode(`data: ${s.sent === 1 ? word : ` ${word}`}\n\n`));
      },
      cancel() {
        s.cancelled = true;
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } });
  });
  const chat = guard({ gate: app.gate, authenticate, tokenType: 'lead_generation', chargeEvent: true }, async (request, ctx) => {
    const s = control.stream;
    s.runs.push({ ctx, headers: request.headers });
    s.cancelled = false;
    const stream = createUIMessageStream({
      execute: async ({ writer }) => {
        writer.write({ type: 'text-start', id: 't1' });
        for (const [i, delta] of CHAT_DELTAS.entries()) {
          if (i === s.pauseAfter && s.resume) await s.resume;
          writer.write({ type: 'text-delta', id: 't1', delta });
          // One token per delta, reported as the model produces them.
          ctx.reportUsage(i + 1);
        }
        writer.write({ type: 'text-end', id: 't1' });
      },
    });
    return createUIMessageStreamResponse({ stream });
  });
  const fetch = async (input: string, init: RequestInit): Promise<Response> => {
    // The signal stays with the client (it races it); undici's Request refuses jsdom's AbortSignal.
    const { signal: _signal, ...rest } = init;
    const request = new Request(input, rest);
    if (input.startsWith(BASE + '/')) return app.handler(request);
    if (input.split('?')[0] === GENERATE_URL) return generate(request);
    if (input === STREAM_URL) return strategy(request);
    if (input === CHAT_URL) return chat(request);
    throw new TypeError(`no route for ${input}`);
  };

  return {
    db,
    app,
    control,
    /** A new organization on `plan` (its first member acts). */
    org: (plan = 'pro'): Promise<SeededOrg> => createOrg(db, { plan }),
    /** A client acting as `user` (default: the org's first member) for `org`. */
    clientFor(org: SeededOrg, user = org.members[0]!): TokenClient {
      return createTokenClient({
        baseUrl: BASE,
        fetch,
        getAccessToken: async () => (await app.issuer.bearer(user)).slice('Bearer '.length),
        orgId: org.orgId,
      });
    },
    /** The stored bucket of a token type: what is left, held and used. */
    async stored(orgId: string, type = 'quest_generation') {
      const b = await bucket(db, orgId, type);
      return b && { left: b.allowance_remaining + b.purchased_remaining, held: b.held, used: b.used };
    },
  };
}

/** The environment `createReactEnv` returns. */
export type ReactEnv = Awaited<ReturnType<typeof createReactEnv>>;

/**
 * A Testing Library wrapper: the app's QueryClient (no retries, so failures show at once) and the provider.
 *
 * @example
 * renderHook(() => useTokenBalances(), { wrapper: wrapperFor(client).wrapper });
 */
export function wrapperFor(client: TokenClient) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={queryClient}>
      <TokenGateProvider client={client}>{children}</TokenGateProvider>
    </QueryClientProvider>
  );
  return { queryClient, wrapper };
}
