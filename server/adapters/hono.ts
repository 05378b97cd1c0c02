/** A Fetch handler (`(request: Request) => Promise<Response>`), e.g. from `createHandler` or `guard`. */
type FetchHandler = (request: Request) => Promise<Response>;

/**
 * The part of Hono's `Context` the adapter uses (`c.req.raw`, the original `Request`), so this
 * module needs no import of `hono`; any Hono 4 `Context` fits.
 */
export interface HonoContextLike {
  req: { raw: Request };
}

/**
 * A Hono handler that answers with `handler(c.req.raw)`. The raw request keeps its full URL, so
 * mount it at the path `createHandler`'s `basePath` names (default `/api/tokengate`), also inside
 * `app.route(...)` sub-apps. Works on every runtime Hono runs on (Node, Bun, Deno, Workers).
 *
 * @example
 * import { Hono } from 'hono';
 * const app = new Hono();
 * app.all('/api/tokengate/*', tokengateHono(createHandler({ gate, authenticate })));
 * app.post('/api/generate-quests', tokengateHono(guard({ gate, authenticate, tokenType: 'quest_generation' }, generate)));
 * export default app;
 */
export function tokengateHono(handler: FetchHandler): (c: HonoContextLike) => Promise<Response> {
  if (typeof handler !== 'function') throw new TypeError('tokengateHono: a handler function is required');
  return (c) => handler(c.req.raw);
}
