import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { LedgerArgs } from '../ledger-call.ts';
import type { DeductBatchStore, RpcOptions } from '../store.ts';
import { databaseError } from './database-error.ts';
import { deductBatch } from './deduct-batch.ts';

/** An error as PostgREST answers it: PostgreSQL's fields, or PostgREST's own `PGRST…` codes. */
export interface PostgrestErrorLike {
  code?: string;
  message?: string;
  details?: string | null;
  hint?: string | null;
}

/** What `.rpc()` resolves to in supabase-js v2 (it resolves with `error` rather than throwing). */
export interface PostgrestResponseLike {
  data: unknown;
  error: PostgrestErrorLike | null;
  status: number;
}

/**
 * A supabase-js v2 client: the store calls `client.schema('tokengate').rpc(fn, args)`.
 * Typed loosely on purpose, so a client typed with the app's generated `Database` (which does not
 * list the tokengate schema) fits without a cast.
 */
export interface SupabaseClientLike {
  schema(schema: never): unknown;
}

/** What the store expects `client.schema('tokengate')` to be. */
interface RpcSchema {
  rpc(fn: string, args?: Record<string, unknown>): PromiseLike<PostgrestResponseLike>;
}

/** Options of `supabaseStore` when it creates its own client. */
export interface SupabaseStoreOptions {
  /** The project URL, e.g. `https://<ref>.supabase.co`. */
  url: string;
  /** The service-role key (server only: it bypasses RLS and may call the ledger's functions). */
  serviceRoleKey: string;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
}

/**
 * A store over Supabase's Data API (PostgREST) with supabase-js v2: every call is
 * `client.schema('tokengate').rpc(fn, args)`, one function in one transaction, as the service role.
 * The `tokengate` schema must be in the project's exposed schemas (Settings → Data API).
 *
 * Pass either the project URL and service-role key (the store creates a client without a session;
 * `@supabase/supabase-js` is loaded on the first call), or a service-role client the app already
 * has. Never a client signed in as a user: the ledger's functions only run as the service role.
 *
 * The ledger clock cannot be pinned over PostgREST: `rpc(…, { now })` (and so
 * `createTokenGate({ now })`) rejects with a `TypeError`. Use `postgresStore` or `pgliteStore`
 * for simulations and tests that move time.
 *
 * It has no `listen`: PostgREST cannot hold a LISTEN, so `createHandler`'s live route answers 501
 * `live_unavailable` on it and the kit polls. Supabase apps get live balances from Supabase
 * Realtime instead (the migration broadcasts every change on the private channel
 * `tokengate:org:<orgId>`), or give `createHandler` a `postgresStore` on the direct URL.
 *
 * Errors are `TokenGateError`s: the ledger's own codes keep their code and facts; a network failure
 * or a 502/503/504 answer is `unavailable`; a key that may not call the ledger, a schema that is
 * not exposed or a missing function are `internal` (server misconfiguration, not the caller's fault).
 *
 * @example
 * const store = supabaseStore({ url: process.env.SUPABASE_URL!, serviceRoleKey: process.env.SUPABASE_SERVICE_ROLE_KEY! });
 * const gate = createTokenGate({ store });
 * @example
 * const admin = createClient(url, serviceRoleKey, { auth: { persistSession: false } });
 * const gate = createTokenGate({ store: supabaseStore(admin) });
 */
export function supabaseStore(clientOrOptions: SupabaseClientLike | SupabaseStoreOptions): DeductBatchStore {
  let client: () => Promise<SupabaseClientLike>;
  if (isClient(clientOrOptions)) {
    const given = Promise.resolve(clientOrOptions);
    client = () => given;
  } else {
    const { url, serviceRoleKey, fetch } = clientOrOptions ?? ({} as SupabaseStoreOptions);
    if (typeof url !== 'string' || url === '') throw new TypeError('supabaseStore: `url` (the Supabase project URL) is required');
    if (typeof serviceRoleKey !== 'string' || serviceRoleKey === '') {
      throw new TypeError('supabaseStore: `serviceRoleKey` is required');
    }
    // Created on first use, so importing this module never requires the optional peer dependency.
    let created: Promise<SupabaseClientLike> | undefined;
    client = () => (created ??= createServiceClient(url, serviceRoleKey, fetch));
  }

  const store = {
    async rpc<T>(fn: string, args: LedgerArgs, options?: { now?: Date }): Promise<T> {
      if (options?.now !== undefined) {
        throw new TypeError(
          'supabaseStore cannot pin the ledger clock (`now`): PostgREST runs each function with the database clock. ' +
            'Use postgresStore or pgliteStore to simulate time.',
        );
      }
      const body: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(args)) if (value !== undefined) body[name] = value;
      const supabase = await client();
      let response: PostgrestResponseLike;
      try {
        response = await (supabase.schema as (schema: string) => RpcSchema).call(supabase, 'tokengate').rpc(fn, body);
      } catch (error) {
        // supabase-js resolves with `error`; it throws only for a client set to throw on errors
        // (a PostgrestError, with a code but no status) or a fetch that failed (no response: 0).
        throw postgrestError(error, hasCode(error) ? -1 : 0);
      }
      if (response.error) throw postgrestError(response.error, response.status);
      return response.data as T;
    },
    /** Many deducts in one rpc (`tokengate.deduct_batch`): see `TokenStore.deductBatch`. */
    deductBatch: <T>(items: LedgerArgs[], options?: RpcOptions) => deductBatch<T>(store, items, options),
  };
  return store;
}

function hasCode(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' && !/^(ECONN|ETIMEDOUT|ENOTFOUND|EPIPE|EHOST|UND_ERR)/.test(code);
}

function isClient(value: unknown): value is SupabaseClientLike {
  return typeof (value as { schema?: unknown } | null)?.schema === 'function';
}

async function createServiceClient(url: string, key: string, fetch: typeof globalThis.fetch | undefined): Promise<SupabaseClientLike> {
  // Typed by hand: the optional peer dependency's types must not be needed to compile this file.
  let supabase: { createClient(url: string, key: string, options: object): unknown };
  try {
    supabase = (await import('@supabase/supabase-js')) as typeof supabase;
  } catch (error) {
    throw new Error('supabaseStore({ url, serviceRoleKey }) needs @supabase/supabase-js v2: npm install @supabase/supabase-js', {
      cause: error,
    });
  }
  return supabase.createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    // Recent supabase-js refuses to create a client on a runtime without WebSocket (Node 20)
    // unless given a transport for Realtime; the store never opens a Realtime connection.
    ...(typeof globalThis.WebSocket === 'undefined' ? { realtime: { transport: NoRealtime } } : {}),
    ...(fetch ? { global: { fetch } } : {}),
  }) as SupabaseClientLike;
}

/** The Realtime transport of the store's own client: never used, so it refuses to connect. */
class NoRealtime {
  constructor() {
    throw new Error('supabaseStore does not use Supabase Realtime');
  }
}

/** PostgREST codes that mean the database cannot be reached (PGRST000–003). */
const UNREACHABLE = /^PGRST00[0-3]$/;
/** Refusals of the store's own key: PostgreSQL's insufficient_privilege, and PostgREST's JWT errors. */
const REFUSED = new Set(['42501', 'PGRST300', 'PGRST301', 'PGRST302']);

/**
 * Map a PostgREST error (and the HTTP status it came with; 0 = no response, -1 = unknown) to a
 * `TokenGateError`.
 *
 * A refused key is `internal`, not `unauthorized`: the end user did nothing wrong, the server is
 * configured with a key that may not call the ledger (a 401 would send their client to sign in again).
 */
export function postgrestError(error: unknown, status: number): TokenGateError {
  if (error instanceof TokenGateError) return error;
  const e = (error ?? {}) as PostgrestErrorLike;
  const code = typeof e.code === 'string' ? e.code : '';
  if (code.startsWith('TG')) return databaseError(e);
  if (status === 0 || status === 502 || status === 503 || status === 504 || UNREACHABLE.test(code)) {
    return new TokenGateError('unavailable', 'The token ledger is unavailable. Try again shortly.', { cause: error });
  }
  if (REFUSED.has(code) || status === 401 || status === 403) {
    return new TokenGateError('internal', "The token ledger refused the server's credentials (the Supabase store needs the service-role key).", {
      cause: error,
    });
  }
  if (code === 'PGRST106') {
    return new TokenGateError('internal', 'The tokengate schema is not exposed by the Data API (add it to the exposed schemas).', {
      cause: error,
    });
  }
  if (code === 'PGRST202' || code === '42883') {
    return new TokenGateError('internal', 'A token ledger function was not found (apply the Tokengate migrations and reload the schema cache).', {
      cause: error,
    });
  }
  return databaseError(e);
}
