/** A Fetch handler (`(request: Request) => Promise<Response>`), e.g. from `createHandler` or `guard`. */
type FetchHandler = (request: Request) => Promise<Response>;

/**
 * The part of the Deno runtime the adapter uses, typed here so this module compiles without Deno's
 * types (and never clashes with them).
 */
export interface DenoLike {
  serve(handler: (request: Request) => Response | Promise<Response>): unknown;
}

/** Cross-origin access for browsers calling the function from the app's own origin(s). */
export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`), or `'*'` for any origin (tokens are bearer headers, never cookies). */
  origins: readonly string[] | '*';
  /** How long browsers may cache a preflight answer, in seconds. Default 600. */
  maxAgeSeconds?: number;
}

/** Options of `serveSupabaseEdge`. */
export interface SupabaseEdgeOptions {
  /** Answer CORS preflights and add CORS headers, for browsers on another origin. Default: none. */
  cors?: CorsOptions;
}

const ALLOW_METHODS = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
const ALLOW_HEADERS = 'authorization, apikey, content-type, idempotency-key, x-client-info, x-tokengate-org';
const EXPOSE_HEADERS = 'idempotent-replayed, x-tokengate-charged, x-tokengate-available, x-tokengate-reservation, allow, www-authenticate';

/**
 * Serve a Fetch handler as a Supabase Edge Function (Deno): calls `Deno.serve(handler)` and returns
 * what it returns. Throws a clear error outside Deno.
 *
 * Supabase routes `https://<ref>.supabase.co/functions/v1/<name>/…` to the function with the path
 * `/<name>/…`, so give `createHandler` `basePath: '/<name>'`. Use `postgresStore` with the
 * function's `SUPABASE_DB_URL`, or `supabaseStore` with the service-role key.
 *
 * @example
 * // supabase/functions/tokengate/index.ts
 * serveSupabaseEdge(
 *   createHandler({
 *     gate: createTokenGate({ store: postgresStore({ connectionString: Deno.env.get('SUPABASE_DB_URL')! }) }),
 *     authenticate: supabaseAuth({ issuer: `${Deno.env.get('SUPABASE_URL')}/auth/v1` }),
 *     basePath: '/tokengate',
 *   }),
 *   { cors: { origins: ['https://app.example.com'] } },
 * );
 */
export function serveSupabaseEdge(handler: FetchHandler, options: SupabaseEdgeOptions = {}): unknown {
  if (typeof handler !== 'function') throw new TypeError('serveSupabaseEdge: a handler function is required');
  const deno = (globalThis as { Deno?: Partial<DenoLike> }).Deno;
  if (!deno || typeof deno.serve !== 'function') {
    throw new Error(
      'serveSupabaseEdge needs the Deno runtime (Supabase Edge Functions): `Deno.serve` was not found. ' +
        'On Node.js use toNodeHandler, on Next.js toNextRouteHandlers, on Hono tokengateHono.',
    );
  }
  const served = options.cors ? withCors(handler, options.cors) : handler;
  return deno.serve((request) => served(request));
}

/**
 * Wrap a Fetch handler with CORS: `OPTIONS` preflights from an allowed origin are answered 204
 * (the handler is not called), other answers to an allowed origin get `Access-Control-Allow-Origin`
 * and expose Tokengate's headers. Requests from other origins pass through without CORS headers
 * (so browsers refuse them); requests without `Origin` (servers, curl) are unaffected.
 *
 * @example
 * const handler = withCors(createHandler({ gate, authenticate }), { origins: ['https://app.example.com'] });
 */
export function withCors(handler: FetchHandler, cors: CorsOptions): FetchHandler {
  const { origins, maxAgeSeconds = 600 } = cors;
  if (origins !== '*' && !Array.isArray(origins)) throw new TypeError("withCors: `origins` must be a list of origins or '*'");
  const allowed = (origin: string | null): string | null => {
    if (origin === null) return null;
    if (origins === '*') return '*';
    return origins.includes(origin) ? origin : null;
  };
  return async (request) => {
    const allow = allowed(request.headers.get('origin'));
    if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
      const headers = new Headers({ vary: 'Origin' });
      if (allow !== null) {
        headers.set('access-control-allow-origin', allow);
        headers.set('access-control-allow-methods', ALLOW_METHODS);
        headers.set('access-control-allow-headers', ALLOW_HEADERS);
        headers.set('access-control-max-age', String(maxAgeSeconds));
      }
      return new Response(null, { status: 204, headers });
    }
    const response = await handler(request);
    if (allow === null && origins === '*') return response;
    const headers = new Headers(response.headers);
    headers.append('vary', 'Origin');
    if (allow !== null) {
      headers.set('access-control-allow-origin', allow);
      headers.set('access-control-expose-headers', EXPOSE_HEADERS);
    }
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}
