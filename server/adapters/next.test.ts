/**
 * `toNextRouteHandlers` as a Next.js App Router route module would use it
 * (`export const { GET, POST } = toNextRouteHandlers(handler)`), called the way Next calls a route
 * handler: `(request, { params })`, in front of the real handler and a guarded route, on a real
 * gate over PGlite with real JWTs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { BASE, createApp, expectProblem, type App } from '../../test/http/fixture.ts';
import { createOrg, type SeededOrg } from '../../test/ledger.ts';
import { supabaseAuth } from '../auth.ts';
import { guard } from '../guard.ts';
import { toNextRouteHandlers } from './next.ts';

/** What Next passes as the second argument of a route handler (Next 15: params is a Promise). */
type NextContext = { params: Promise<Record<string, string | string[]>> };
type NextRoute = (request: Request, context: NextContext) => Promise<Response>;

describe('toNextRouteHandlers [pglite]', () => {
  let db: TestDb;
  let app: App;
  let org: SeededOrg;
  /** `app/api/tokengate/[...path]/route.ts` */
  let apiRoute: Record<'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', NextRoute>;
  /** `app/api/quests/route.ts` (guarded) */
  let questsRoute: { POST: NextRoute };
  let runs = 0;

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow('2028-01-10T12:00:00Z');
    app = await createApp(db);
    org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    // The route modules' exports, exactly as an app writes them.
    const { GET, POST, PUT, DELETE, PATCH } = toNextRouteHandlers(app.handler);
    apiRoute = { GET, POST, PUT, DELETE, PATCH };
    const quests = toNextRouteHandlers(
      guard({ gate: app.gate, authenticate: supabaseAuth(app.issuer.authOptions), tokenType: 'quest_generation' }, async () => {
        runs++;
        return Response.json({ quests: ['a', 'b'] });
      }),
    );
    questsRoute = { POST: quests.POST };
  });
  afterAll(async () => db?.close());

  const params = (path: string[]): NextContext => ({ params: Promise.resolve({ path }) });

  it('routes every method of the catch-all route to the handler', async () => {
    const user = org.members[0]!;
    const balances = await apiRoute.GET(await app.build(`/orgs/${org.orgId}/balances`, { user }), params(['orgs', org.orgId, 'balances']));
    expect((await balances.json()).orgId).toBe(org.orgId);
    const deduct = await apiRoute.POST(
      await app.build(`/orgs/${org.orgId}/deduct`, { user, json: { tokenType: 'goal_generation' }, idempotencyKey: 'next-1' }),
      params(['orgs', org.orgId, 'deduct']),
    );
    expect((await deduct.json()).charged).toBe(1);
    const member = crypto.randomUUID();
    const put = await apiRoute.PUT(
      await app.build(`/orgs/${org.orgId}/admin/members/${member}`, { user: org.owner, method: 'PUT', json: { role: 'member' } }),
      params([]),
    );
    expect(put.status).toBe(200);
    const del = await apiRoute.DELETE(await app.build(`/orgs/${org.orgId}/admin/members/${member}`, { user: org.owner, method: 'DELETE' }), params([]));
    expect(del.status).toBe(200);
    await expectProblem(await apiRoute.PATCH(await app.build(`/orgs/${org.orgId}/balances`, { user, method: 'PATCH' }), params([])), 'method_not_allowed');
    await expectProblem(await apiRoute.GET(new Request(`${BASE}/orgs/${org.orgId}/balances`), params([])), 'unauthorized');
  });

  it('runs a guarded route handler: charged one use, with the charge headers', async () => {
    const request = new Request('http://localhost/api/quests', {
      method: 'POST',
      headers: { authorization: await app.issuer.bearer(org.members[0]!), 'x-tokengate-org': org.orgId, 'idempotency-key': 'q-1' },
    });
    const res = await questsRoute.POST(request, params([]));
    expect(await res.json()).toEqual({ quests: ['a', 'b'] });
    expect(res.headers.get('x-tokengate-charged')).toBe('3');
    expect(res.headers.get('x-tokengate-available')).toBe('57');
    expect(runs).toBe(1);
  });

  it('refuses to wrap something that is not a handler', () => {
    expect(() => toNextRouteHandlers(undefined as never)).toThrow(TypeError);
  });
});
