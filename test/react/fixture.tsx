/**
 * The React kit against the real server: the real handler, gate and ledger on PGlite
 * (`test/http/fixture.ts`), plus one of the APP's own routes protected by `guard(...)` — a fake
 * "generate quests" endpoint a test can make slow or fail. The client's `fetch` routes by URL to
 * either of them, in-process.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
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
  const control: RouteControl = { runs: [], hold: null, fail: false, holdBalances: null };
  const app: App = await createApp(db, {
    hooks: {
      before: async (fn) => {
        if (fn === 'balances' && control.holdBalances) await control.holdBalances;
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
  const fetch = async (input: string, init: RequestInit): Promise<Response> => {
    // The signal stays with the client (it races it); undici's Request refuses jsdom's AbortSignal.
    const { signal: _signal, ...rest } = init;
    const request = new Request(input, rest);
    if (input.startsWith(BASE + '/')) return app.handler(request);
    if (input.split('?')[0] === GENERATE_URL) return generate(request);
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
