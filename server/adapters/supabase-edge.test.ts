/**
 * `serveSupabaseEdge` with a stand-in `Deno.serve` that captures the handler, which is then called
 * the way the Edge Runtime calls it (`/<function-name>/…` paths), in front of the real handler and
 * the real gate over PGlite with real JWTs. Also `withCors`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { createApp, expectProblem, type App } from '../../test/http/fixture.ts';
import { createOrg, type SeededOrg } from '../../test/ledger.ts';
import { bearerSecret, supabaseAuth } from '../auth.ts';
import { createHandler } from '../http/handler.ts';
import { serveSupabaseEdge, withCors } from './supabase-edge.ts';

type Served = (request: Request) => Response | Promise<Response>;
const FUNCTION_URL = 'https://project.supabase.co/tokengate';

describe('serveSupabaseEdge [pglite]', () => {
  let db: TestDb;
  let app: App;
  let org: SeededOrg;
  let handler: (request: Request) => Promise<Response>;

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow('2028-01-10T12:00:00Z');
    app = await createApp(db);
    org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    handler = createHandler({ gate: app.gate, authenticate: supabaseAuth(app.issuer.authOptions), basePath: '/tokengate' });
  });
  afterAll(async () => db?.close());
  afterEach(() => {
    delete (globalThis as { Deno?: unknown }).Deno;
  });

  /** Install a fake Deno whose serve() captures the handler. */
  function fakeDeno() {
    const served: Served[] = [];
    const server = { finished: Promise.resolve() };
    (globalThis as { Deno?: unknown }).Deno = {
      serve: (h: Served) => {
        served.push(h);
        return server;
      },
    };
    return { served, server };
  }

  it('hands the handler to Deno.serve and returns its server', async () => {
    const { served, server } = fakeDeno();
    expect(serveSupabaseEdge(handler)).toBe(server);
    expect(served).toHaveLength(1);
    const user = org.members[0]!;
    const res = await served[0]!(new Request(`${FUNCTION_URL}/orgs/${org.orgId}/balances`, { headers: { authorization: await app.issuer.bearer(user) } }));
    expect(res.status).toBe(200);
    expect((await res.json()).member.userId).toBe(user);
    const deduct = await served[0]!(
      new Request(`${FUNCTION_URL}/orgs/${org.orgId}/deduct`, {
        method: 'POST',
        headers: { authorization: await app.issuer.bearer(user), 'content-type': 'application/json', 'idempotency-key': 'edge-1' },
        body: JSON.stringify({ tokenType: 'lead_generation' }),
      }),
    );
    expect((await deduct.json()).charged).toBe(2);
    await expectProblem(await served[0]!(new Request(`${FUNCTION_URL}/orgs/${org.orgId}/balances`)), 'unauthorized');
  });

  it('throws a clear error outside Deno', () => {
    expect(() => serveSupabaseEdge(handler)).toThrow(/Deno runtime.*toNodeHandler/s);
    (globalThis as { Deno?: unknown }).Deno = {};
    expect(() => serveSupabaseEdge(handler)).toThrow(/Deno\.serve/);
  });

  it('answers CORS preflights and adds CORS headers for allowed origins only', async () => {
    const { served } = fakeDeno();
    serveSupabaseEdge(handler, { cors: { origins: ['https://app.example.com'] } });
    const serve = served[0]!;
    const preflight = (origin: string) =>
      serve(
        new Request(`${FUNCTION_URL}/orgs/${org.orgId}/deduct`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, idempotency-key' },
        }),
      );
    const ok = await preflight('https://app.example.com');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('access-control-allow-headers')).toMatch(/authorization.*idempotency-key/);
    const evil = await preflight('https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();

    const res = await serve(
      new Request(`${FUNCTION_URL}/orgs/${org.orgId}/balances`, {
        headers: { origin: 'https://app.example.com', authorization: await app.issuer.bearer(org.members[0]!) },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-expose-headers')).toMatch(/x-tokengate-charged/);
    expect(res.headers.get('vary')).toMatch(/Origin/);
    const other = await serve(new Request(`${FUNCTION_URL}/orgs/${org.orgId}/balances`, { headers: { origin: 'https://evil.example' } }));
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    await expectProblem(other, 'unauthorized');
  });

  it('withCors("*") allows any origin and leaves server-to-server calls alone', async () => {
    const server = createHandler({ gate: app.gate, authenticate: supabaseAuth(app.issuer.authOptions), authenticateServer: bearerSecret('s'.repeat(32)), basePath: '/tokengate' });
    const open = withCors(server, { origins: '*' });
    const res = await open(new Request(`${FUNCTION_URL}/orgs/${org.orgId}/balances`, { headers: { origin: 'https://anywhere.example', authorization: await app.issuer.bearer(org.members[0]!) } }));
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const noOrigin = await open(new Request(`${FUNCTION_URL}/orgs/${org.orgId}/balances`, { headers: { authorization: await app.issuer.bearer(org.members[0]!) } }));
    expect(noOrigin.headers.get('access-control-allow-origin')).toBeNull();
    expect(noOrigin.status).toBe(200);
  });
});
