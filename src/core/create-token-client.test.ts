// @vitest-environment node
/**
 * The headless client: every route against the real handler on PGlite, and the failure modes
 * (network, abort, non-problem answers) with a fetch that fails on purpose — there is no real path
 * to a network failure.
 */
import { beforeAll, expect, it } from 'vitest';
import { BASE, createApp, type App } from '../../test/http/fixture.ts';
import { call, createOrg, type SeededOrg } from '../../test/ledger.ts';
import { freshPglite } from '../../test/db.ts';
import { createTokenClient, type TokenClientOptions } from './create-token-client.ts';
import { readGuardInfo } from './read-guard-info.ts';
import { TokenGateError } from './token-gate-error.ts';

let app: App;
let db: Awaited<ReturnType<typeof freshPglite>>;
let org: SeededOrg;
/** Requests the handler received (method, URL, headers). */
const seen: Request[] = [];

beforeAll(async () => {
  db = await freshPglite();
  app = await createApp(db);
  org = await createOrg(db, { plan: 'pro' });
});

function clientAs(user: string | null, extra: Partial<TokenClientOptions> = {}) {
  return createTokenClient({
    baseUrl: BASE + '/',
    fetch: async (input, init) => {
      const request = new Request(input, init);
      seen.push(request.clone());
      return app.handler(request);
    },
    getAccessToken: async () => (user ? (await app.issuer.bearer(user)).slice('Bearer '.length) : null),
    orgId: org.orgId,
    ...extra,
  });
}

it('reads balances, checks and stats of the org, authorised by the access token', async () => {
  const client = clientAs(org.members[0]!);
  const balances = await client.balances();
  expect(balances).toMatchObject({ orgId: org.orgId, plan: { id: 'pro' } });
  expect(await client.checkBalance('quest_generation', { amount: 61 })).toMatchObject({ allowed: false, reason: 'insufficient_tokens', required: 61 });
  expect(await client.checkBalance('quest_generation')).toMatchObject({ allowed: true, required: 3 });
  const today = new Date().toISOString().slice(0, 10);
  expect(await client.stats({ from: today, to: today })).toMatchObject({ orgId: org.orgId, from: today, to: today });
  const last = seen.at(-1)!;
  expect(last.headers.get('authorization')).toMatch(/^Bearer ey/);
  expect(new URL(last.url).pathname).toBe(`/api/tokengate/orgs/${org.orgId}/stats`);
});

it('lists the grants of the org in burn order, of one type, and with the ended ones on request', async () => {
  const grant = (tokenType: string, amount: number, expiresAt: string | null) =>
    call(db, 'grant_tokens', {
      p_org_id: org.orgId, p_actor_id: null, p_token_type: tokenType, p_amount: amount,
      p_idempotency_key: crypto.randomUUID(), p_metadata: {}, p_source: 'promo', p_expires_at: expiresAt,
    });
  const other = await createOrg(db, { plan: 'pro' });
  const never = await grant('lead_generation', 7, null);
  const soon = await grant('lead_generation', 5, new Date(Date.now() + 86_400_000).toISOString());
  const client = clientAs(org.members[0]!);
  const images = await client.grants({ tokenType: 'lead_generation' });
  expect(images.map((g) => [g.grantId, g.remaining, g.source])).toEqual([[soon.grantId, 5, 'promo'], [never.grantId, 7, 'promo']]);
  expect(new URL(seen.at(-1)!.url).search).toBe('?tokenType=lead_generation');
  await client.grants({ tokenType: 'lead_generation', includeEnded: true });
  expect(new URL(seen.at(-1)!.url).search).toBe('?tokenType=lead_generation&includeEnded=true');
  expect((await client.grants()).map((g) => g.grantId)).toEqual(expect.arrayContaining([soon.grantId, never.grantId]));
  // Another organization's grants are not the caller's to read.
  const refused = await clientAs(org.members[0]!, { orgId: other.orgId }).grants().catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(TokenGateError);
  expect((refused as TokenGateError).code).toBe('not_a_member');
});

it('deducts with a generated Idempotency-Key, and replays a given one without charging again', async () => {
  const client = clientAs(org.members[0]!);
  const first = await client.deduct('goal_generation');
  expect(first).toMatchObject({ charged: 1, replayed: false });
  expect(seen.at(-1)!.headers.get('idempotency-key')).toMatch(/^[0-9a-f-]{36}$/);
  const key = crypto.randomUUID();
  const a = await client.deduct('goal_generation', { idempotencyKey: key, units: 2, metadata: { feature: 'x' } });
  const b = await client.deduct('goal_generation', { idempotencyKey: key, units: 2, metadata: { feature: 'x' } });
  expect(a).toMatchObject({ charged: 2, replayed: false });
  expect(b).toMatchObject({ ledgerId: a.ledgerId, replayed: true });
  expect(b.balance.available).toBe(first.balance.available! - 2);
});

it('reserves, commits the actual usage and releases through the kit', async () => {
  const client = clientAs(org.members[0]!);
  const held = await client.reserve('strategy_analysis', { estimate: 20, ttlSeconds: 60 });
  expect(held).toMatchObject({ status: 'pending', estimate: 20, balance: { held: 20 } });
  expect(await client.commit(held.reservationId, { actual: 12 })).toMatchObject({ status: 'committed', charged: 12, refunded: 8 });
  const other = await client.reserve('strategy_analysis');
  expect(other.estimate).toBe(10);
  expect(await client.release(other.reservationId)).toMatchObject({ status: 'released', refunded: 10 });
});

it('streams the usage export authorised; usageExportUrl names it', async () => {
  const client = clientAs(org.members[0]!);
  const range = { from: '2020-01-01', to: '2030-01-01' };
  expect(client.usageExportUrl(range, { format: 'json' })).toBe(`${BASE}/orgs/${org.orgId}/usage.json?from=2020-01-01&to=2030-01-01`);
  const response = await client.exportUsage(range);
  expect(response.headers.get('content-type')).toMatch(/text\/csv/);
  expect((await response.text()).split('\n')[0]).toMatch(/tokenType|token_type/);
});

it('turns problem+json into a TokenGateError with code, status and facts', async () => {
  const error = await clientAs(org.members[0]!).deduct('strategy_analysis', { units: 1000 }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TokenGateError);
  expect(error).toMatchObject({ code: 'insufficient_tokens', status: 402, facts: { required: 10_000 } });
  await expect(clientAs(null).balances()).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
  expect(seen.at(-1)!.headers.has('authorization')).toBe(false);
  await expect(clientAs(crypto.randomUUID()).balances()).rejects.toMatchObject({ code: 'not_a_member', status: 403 });
});

it('reads orgId from a function on every call (org switchers), and per call from options', async () => {
  const db = await freshPglite();
  const local = await createApp(db);
  const [a, b] = [await createOrg(db), await createOrg(db, { plan: 'starter' })];
  let current = a.orgId;
  const client = createTokenClient({
    baseUrl: BASE,
    fetch: (input, init) => local.handler(new Request(input, init)),
    getAccessToken: async () => (await local.issuer.bearer(a.owner)).slice(7),
    orgId: () => current,
  });
  expect((await client.balances()).orgId).toBe(a.orgId);
  await expect(client.balances({ orgId: b.orgId })).rejects.toMatchObject({ code: 'not_a_member' });
  current = b.orgId;
  expect(client.orgId()).toBe(b.orgId);
  await expect(client.balances()).rejects.toMatchObject({ code: 'not_a_member' });
});

it('maps a failed fetch to network, a cancelled one to aborted, other answers by status', async () => {
  const failing = (answer: () => Promise<Response>) =>
    createTokenClient({ baseUrl: BASE, fetch: answer, getAccessToken: () => 'token', orgId: org.orgId });
  await expect(failing(() => Promise.reject(new TypeError('fetch failed'))).balances()).rejects.toMatchObject({ code: 'network', status: 0 });

  // A fetch that never answers: the signal still ends the call.
  const controller = new AbortController();
  const pending = failing(() => new Promise<Response>(() => {})).balances({ signal: controller.signal });
  controller.abort();
  await expect(pending).rejects.toMatchObject({ code: 'aborted', status: 0 });
  let called = false;
  const pre = failing(async () => {
    called = true;
    return new Response('{}');
  });
  await expect(pre.balances({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
  expect(called).toBe(false);

  await expect(failing(async () => new Response('<html>bad gateway</html>', { status: 502 })).balances()).rejects.toMatchObject({
    code: 'internal',
    facts: { status: 502 },
  });
  await expect(failing(async () => new Response('', { status: 503 })).balances()).rejects.toMatchObject({ code: 'unavailable' });
  await expect(failing(async () => new Response('not json', { status: 200 })).balances()).rejects.toMatchObject({ code: 'internal' });
  const noToken = createTokenClient({
    baseUrl: BASE,
    fetch: async () => new Response('{}'),
    getAccessToken: () => Promise.reject(new Error('session expired')),
    orgId: org.orgId,
  });
  await expect(noToken.balances()).rejects.toMatchObject({ code: 'unauthorized' });
});

it('callGuarded sends Authorization, X-Tokengate-Org and an Idempotency-Key to the app route, keeping its headers', async () => {
  const requests: Request[] = [];
  const client = createTokenClient({
    baseUrl: BASE,
    fetch: async (input, init) => {
      requests.push(new Request(input, init));
      return new Response('{"ok":true}', {
        headers: { 'x-tokengate-charged': '3', 'x-tokengate-available': '57', 'x-tokengate-reservation': 'r-1' },
      });
    },
    getAccessToken: () => 'abc',
    orgId: org.orgId,
  });
  const response = await client.callGuarded('http://localhost/api/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    idempotencyKey: 'run-1',
  });
  const sent = requests[0]!;
  expect(Object.fromEntries(sent.headers)).toMatchObject({
    authorization: 'Bearer abc',
    'x-tokengate-org': org.orgId,
    'idempotency-key': 'run-1',
    'content-type': 'application/json',
  });
  expect(readGuardInfo(response)).toEqual({ charged: 3, available: 57, reservationId: 'r-1', replayed: false });
  await client.callGuarded('http://localhost/api/generate');
  expect(requests[1]!.headers.get('idempotency-key')).toMatch(/^[0-9a-f-]{36}$/);
  expect(readGuardInfo(new Response(null, { headers: { 'x-tokengate-available': 'unlimited', 'idempotent-replayed': 'true' } }))).toEqual({
    charged: null,
    available: 'unlimited',
    reservationId: null,
    replayed: true,
  });
});
