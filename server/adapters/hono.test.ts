/**
 * `tokengateHono` mounted in a real Hono app (`app.request`), in front of the real handler and a
 * guarded route, on a real gate over PGlite with real JWTs.
 */
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { createApp, expectProblem, type App } from '../../test/http/fixture.ts';
import { createOrg, type SeededOrg } from '../../test/ledger.ts';
import { supabaseAuth } from '../auth.ts';
import { guard } from '../guard.ts';
import { tokengateHono } from './hono.ts';

describe('tokengateHono [pglite]', () => {
  let db: TestDb;
  let app: App;
  let org: SeededOrg;
  let web: Hono;
  let runs = 0;

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow('2028-01-10T12:00:00Z');
    app = await createApp(db);
    org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    web = new Hono();
    web.all('/api/tokengate/*', tokengateHono(app.handler));
    // A guarded AI route inside a sub-app mounted with app.route(): the raw URL keeps its full path.
    const ai = new Hono();
    ai.post(
      '/summarize',
      tokengateHono(
        guard({ gate: app.gate, authenticate: supabaseAuth(app.issuer.authOptions), tokenType: 'revenue_forecast' }, async (request, ctx) => {
          runs++;
          const { text } = (await request.json()) as { text: string };
          ctx.reportUsage(2);
          return Response.json({ summary: text.slice(0, 5), path: new URL(request.url).pathname });
        }),
      ),
    );
    web.route('/api/ai', ai);
  });
  afterAll(async () => db?.close());

  const headers = async (user = org.members[0]!) => ({ authorization: await app.issuer.bearer(user), 'x-tokengate-org': org.orgId });

  it('serves the REST API through app.all(prefix/*)', async () => {
    const res = await web.request(`/api/tokengate/orgs/${org.orgId}/balances`, { headers: await headers() });
    expect(res.status).toBe(200);
    expect((await res.json()).orgId).toBe(org.orgId);
    const post = await web.request(`/api/tokengate/orgs/${org.orgId}/deduct`, {
      method: 'POST',
      headers: { ...(await headers()), 'content-type': 'application/json', 'idempotency-key': 'hono-1' },
      body: JSON.stringify({ tokenType: 'goal_generation' }),
    });
    expect((await post.json()).charged).toBe(1);
    await expectProblem(await web.request(`/api/tokengate/orgs/${org.orgId}/balances`), 'unauthorized');
  });

  it('runs a guarded route in a sub-app: charged, with the charge headers', async () => {
    const res = await web.request('/api/ai/summarize', {
      method: 'POST',
      headers: { ...(await headers()), 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'quarterly numbers' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ summary: 'quart', path: '/api/ai/summarize' });
    expect(res.headers.get('x-tokengate-charged')).toBe('2');
    expect(res.headers.get('x-tokengate-available')).toBe('48');
    expect(runs).toBe(1);
  });

  it('refuses a blocked plan without running the guarded handler', async () => {
    const starter = await createOrg(db, { plan: 'starter', anchor: '2028-01-01T00:00:00Z' });
    const res = await web.request('/api/ai/summarize', {
      method: 'POST',
      headers: { authorization: await app.issuer.bearer(starter.members[0]!), 'x-tokengate-org': starter.orgId },
      body: '{"text":"x"}',
    });
    await expectProblem(res, 'plan_blocked');
    expect(runs).toBe(1);
  });
});
