/// <reference types="vite/client" />
/**
 * The REAL Tokengate backend inside the browser: the package's SQL migrations on PGlite (Postgres
 * in WebAssembly), the real gate, HTTP handler and guard, and a fake "generate quest" AI route
 * behind the guard. The client's `fetch` routes to them in-process — no server, no network.
 */
import { PGlite } from '@electric-sql/pglite';
import { createTokenClient, type TokenClient } from '../../src/core/create-token-client.ts';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import { guard } from '../../server/guard.ts';
import { createHandler } from '../../server/http/handler.ts';
import { pgliteStore } from '../../server/stores/pglite-store.ts';
import { GENERATE_URL } from './quest-button.tsx';

// Bundled as text by Vite (server/migrate.ts reads them with node:fs, which the browser lacks).
const sqlFiles = import.meta.glob<string>('../../migrations/**/*.sql', { query: '?raw', import: 'default', eager: true });

/** The migrations in the order `migrationFiles()` runs them: the compat script, then top-level files by name. */
export function migrationsInOrder(files: Record<string, string> = sqlFiles): { name: string; sql: string }[] {
  const entries = Object.entries(files).map(([path, sql]) => ({ name: path.replace(/^.*\/migrations\//, ''), sql }));
  const compat = entries.filter((e) => e.name === 'compat/supabase-compat.sql');
  const top = entries.filter((e) => !e.name.includes('/')).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return [...compat, ...top];
}

/** The fixed signed-in user of the live story. */
export const DEMO_USER = '00000000-0000-4000-8000-00000000a11c';
/** The live story's organization (on Pro: 60 quest tokens a month, 3 per quest). */
export const DEMO_ORG = '00000000-0000-4000-8000-0000000000a1';
const BASE = '/api/tokengate';

/** The live backend: client for the kit, switches of the fake AI route, and admin shortcuts. */
export interface LiveBackend {
  client: TokenClient;
  gate: TokenGate;
  /**
   * `failNext`: the next guarded call answers 500 (the guard refunds the hold), then it turns itself
   * off and calls `onFailConsumed`. `delayMs`: how long the fake AI "thinks".
   */
  control: { failNext: boolean; onFailConsumed?: () => void; delayMs: number };
  /** Leave only `left` quest tokens (an admin debit), to reach "exhausted" in a few clicks. */
  leaveOnly(left: number): Promise<void>;
  /** Buy `amount` quest tokens (an admin grant, as after a checkout). */
  topUp(amount: number): Promise<void>;
  /** Move the organization to another plan (as after a subscription change). */
  setPlan(planId: 'starter' | 'pro' | 'enterprise'): Promise<void>;
  /** Tokens of `quest_generation` available, read from the database. */
  available(): Promise<number>;
}

/**
 * Where `npm test` serves its migrated PGlite data directory (test/pglite-dump-route.ts); Storybook
 * itself has no such route.
 */
const DUMP_ROUTE = '/__tokengate/pglite-datadir.tar';

/**
 * The test run's migrated data directory, or null: under `npm test` the migrations already ran
 * once (in Node, from the same files), and loading the result boots about twice as fast as migrating again.
 */
async function migratedDump(): Promise<Blob | null> {
  try {
    const res = await fetch(DUMP_ROUTE);
    return res.ok && res.headers.get('content-type') === 'application/x-tar' ? await res.blob() : null;
  } catch {
    return null;
  }
}

/** A migrated PGlite: from the test run's dump when there is one, else by running the migrations here. */
async function migratedPglite(): Promise<PGlite> {
  const dump = await migratedDump();
  if (dump) return PGlite.create({ loadDataDir: dump });
  const db = await PGlite.create();
  for (const file of migrationsInOrder()) {
    try {
      await db.exec(file.sql);
    } catch (error) {
      throw new Error(`migration ${file.name} failed: ${(error as Error).message}`, { cause: error });
    }
  }
  return db;
}

/** Boot PGlite (migrated), seed one Pro organization, and wire handler + guard. */
export async function createLiveBackend(): Promise<LiveBackend> {
  const db = await migratedPglite();
  const gate = createTokenGate({ store: pgliteStore(db) });
  await gate.createAccount({ orgId: DEMO_ORG, planId: 'pro', ownerId: DEMO_USER });

  const authenticate = async () => ({ userId: DEMO_USER });
  const handler = createHandler({ gate, authenticate, basePath: BASE });
  const control: LiveBackend['control'] = { failNext: false, delayMs: 400 };
  const generate = guard({ gate, authenticate, tokenType: 'quest_generation' }, async (request) => {
    const { goal } = (await request.json()) as { goal: string };
    await new Promise((r) => setTimeout(r, control.delayMs));
    if (control.failNext) {
      control.failNext = false;
      control.onFailConsumed?.();
      return Response.json({ error: 'The model failed' }, { status: 500 });
    }
    return Response.json({ quest: `${goal}: set aside 20 € every Friday for a month` });
  });

  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const { signal: _signal, ...rest } = init;
    const request = new Request(new URL(url, 'http://story.local'), rest);
    const path = new URL(request.url).pathname;
    if (path.startsWith(BASE + '/')) return handler(request);
    if (path === GENERATE_URL) return generate(request);
    return new Response('not found', { status: 404 });
  };
  const client = createTokenClient({ baseUrl: BASE, fetch, getAccessToken: () => 'live-story', orgId: DEMO_ORG });

  const owner = { orgId: DEMO_ORG, actorId: DEMO_USER };
  let n = 0;
  const available = async () => {
    const b = await gate.balances({ orgId: DEMO_ORG, userId: DEMO_USER });
    return b.tokenTypes.find((t) => t.tokenType === 'quest_generation')?.available ?? 0;
  };
  return {
    client,
    gate,
    control,
    available,
    async leaveOnly(left) {
      const now = await available();
      if (now > left) await gate.adjust(owner, 'quest_generation', { amount: left - now, reason: 'Storybook: use up tokens', idempotencyKey: `leave-${++n}-${Date.now()}` });
    },
    async setPlan(planId) {
      await gate.setPlan(owner, planId);
    },
    async topUp(amount) {
      await gate.grant(owner, 'quest_generation', { amount, idempotencyKey: `topup-${++n}-${Date.now()}` });
    },
  };
}
