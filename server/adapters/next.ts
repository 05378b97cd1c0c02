/** A Fetch handler (`(request: Request) => Promise<Response>`), e.g. from `createHandler` or `guard`. */
type FetchHandler = (request: Request) => Promise<Response>;

/** Next.js App Router route handlers, one per method. */
export interface NextRouteHandlers {
  GET: FetchHandler;
  POST: FetchHandler;
  PUT: FetchHandler;
  DELETE: FetchHandler;
  PATCH: FetchHandler;
}

/**
 * Route handlers for the Next.js App Router (13.4+): every method goes to `handler`, which sees the
 * full request URL (so `createHandler`'s default base path `/api/tokengate` matches the folder).
 * `NextRequest` is a `Request`; the route's `params` are not needed (the handler routes itself).
 * Use the Node.js runtime when the store needs `pg`, and keep the route dynamic.
 *
 * @example
 * // app/api/tokengate/[...path]/route.ts
 * export const runtime = 'nodejs';
 * export const dynamic = 'force-dynamic';
 * export const { GET, POST, PUT, DELETE, PATCH } = toNextRouteHandlers(
 *   createHandler({ gate, authenticate: supabaseAuth({ issuer: `${process.env.SUPABASE_URL}/auth/v1` }) }),
 * );
 *
 * @example
 * // app/api/generate-quests/route.ts: a guarded AI route
 * export const { POST } = toNextRouteHandlers(guard({ gate, authenticate, tokenType: 'quest_generation' }, generate));
 */
export function toNextRouteHandlers(handler: FetchHandler): NextRouteHandlers {
  if (typeof handler !== 'function') throw new TypeError('toNextRouteHandlers: a handler function is required');
  const route: FetchHandler = (request) => handler(request);
  return { GET: route, POST: route, PUT: route, DELETE: route, PATCH: route };
}
