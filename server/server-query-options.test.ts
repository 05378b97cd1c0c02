/**
 * The server's query options against the real gate and ledger on PGlite: the key and the data are
 * exactly what the kit's client reads through the real handler (so hydrated balances are the ones
 * the hooks would have fetched), and a caller who may not read the organization gets nothing into
 * the dehydrated state — a stranger, another organization's member, a missing or malformed id.
 */
import { dehydrate, QueryClient } from '@tanstack/react-query';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenClient, type TokenClient } from '../src/core/create-token-client.ts';
import { tokenGateKeys } from '../src/core/query-keys.ts';
import type { GateContext } from './gate.ts';
import { balancesQueryOptions, statsQueryOptions } from '../src/react/query-options.ts';
import { balancesServerQueryOptions, statsServerQueryOptions } from './server-query-options.ts';
import { freshPglite, type TestDb } from '../test/db.ts';
import { BASE, createApp, type App } from '../test/http/fixture.ts';
import { createOrg, type SeededOrg } from '../test/ledger.ts';

let db: TestDb;
let app: App;
let org: SeededOrg;
let other: SeededOrg;
let member: GateContext;

beforeAll(async () => {
  db = await freshPglite();
  app = await createApp(db);
  org = await createOrg(db, { plan: 'pro' });
  other = await createOrg(db, { plan: 'pro' });
  member = { userId: org.members[0]!, orgId: org.orgId };
  // Per-member data in the balances: this member's own quota.
  await app.gate.setMemberQuota({ orgId: org.orgId, actorId: org.owner }, member.userId, 'quest_generation', 9);
  await app.gate.deduct(member, 'quest_generation', { idempotencyKey: 'server-query-options-1' });
});
afterAll(async () => {
  await db?.close();
});

/** The kit's client for `user` over the real handler, as the browser uses it. */
function clientFor(user: string, orgId = org.orgId): TokenClient {
  return createTokenClient({
    baseUrl: BASE,
    fetch: (input, init) => app.handler(new Request(input, { ...init, signal: null })),
    getAccessToken: async () => (await app.issuer.bearer(user)).slice('Bearer '.length),
    orgId,
  });
}

/** A fresh server-side cache per render, as in a Server Component. */
const perRequest = () => new QueryClient({ defaultOptions: { queries: { retry: false } } });

describe('balancesServerQueryOptions', () => {
  it("uses the client's key and puts in the cache exactly what the client reads over HTTP", async () => {
    const options = balancesServerQueryOptions(app.gate, member);
    const client = clientFor(member.userId);
    expect(options.queryKey).toEqual(balancesQueryOptions(client).queryKey);
    expect(options.queryKey).toEqual(tokenGateKeys.balances(org.orgId));

    const queryClient = perRequest();
    await queryClient.prefetchQuery(options);
    // What crosses to the browser is JSON (Next.js serialises the props of HydrationBoundary).
    const state = JSON.parse(JSON.stringify(dehydrate(queryClient))) as ReturnType<typeof dehydrate>;
    expect(state.queries.map((q) => q.queryKey)).toEqual([tokenGateKeys.balances(org.orgId)]);
    const overHttp = await client.balances();
    expect(state.queries[0]!.state.data).toEqual(overHttp);
    expect(overHttp).toMatchObject({
      orgId: org.orgId,
      member: { userId: member.userId, quotas: [{ tokenType: 'quest_generation', quota: 9, spent: 3 }] },
    });
    expect(overHttp.tokenTypes.find((t) => t.tokenType === 'quest_generation')).toMatchObject({ available: 57, used: 3 });
  });

  it('keeps a refusal out of the dehydrated state: a stranger, and a member of another organization', async () => {
    for (const caller of [
      { userId: crypto.randomUUID(), orgId: org.orgId },
      { userId: other.members[0]!, orgId: org.orgId },
      { userId: other.owner, orgId: org.orgId },
    ]) {
      const queryClient = perRequest();
      await expect(queryClient.fetchQuery(balancesServerQueryOptions(app.gate, caller))).rejects.toMatchObject({
        name: 'TokenGateError',
        code: 'not_a_member',
      });
      await queryClient.prefetchQuery(balancesServerQueryOptions(app.gate, caller)); // never throws
      const state = dehydrate(queryClient);
      expect(state.queries).toEqual([]);
      expect(JSON.stringify(state)).not.toContain('quest_generation');
    }
  });

  it('refuses without asking the ledger when the verified user is missing or an id is malformed', async () => {
    const before = app.calls.length;
    const cases: [Partial<GateContext>, string][] = [
      [{ orgId: org.orgId }, 'unauthorized'],
      [{ userId: '', orgId: org.orgId }, 'unauthorized'],
      [{ userId: `${member.userId}' or true --`, orgId: org.orgId }, 'unauthorized'],
      [{ userId: member.userId, orgId: 'not-a-uuid' }, 'invalid_request'],
    ];
    for (const [caller, code] of cases) {
      const queryClient = perRequest();
      await expect(queryClient.fetchQuery(balancesServerQueryOptions(app.gate, caller as GateContext))).rejects.toMatchObject({ name: 'TokenGateError', code });
      await queryClient.prefetchQuery(balancesServerQueryOptions(app.gate, caller as GateContext));
      expect(dehydrate(queryClient).queries).toEqual([]);
    }
    expect(app.calls.length).toBe(before);
  });

  it('does not reuse one member’s options for another: the query reads the member it was made for', async () => {
    // Same key (one organization), per-member data: the reason a server cache must be per request.
    const owner = { userId: org.owner, orgId: org.orgId };
    const [a, b] = await Promise.all([
      perRequest().fetchQuery(balancesServerQueryOptions(app.gate, member)),
      perRequest().fetchQuery(balancesServerQueryOptions(app.gate, owner)),
    ]);
    expect(balancesServerQueryOptions(app.gate, owner).queryKey).toEqual(balancesServerQueryOptions(app.gate, member).queryKey);
    expect(a.member).toMatchObject({ userId: member.userId, role: 'member' });
    expect(b.member).toMatchObject({ userId: org.owner, role: 'owner', quotas: [] });
  });
});

describe('statsServerQueryOptions', () => {
  it("uses the client's key and data for a range", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const range = { from: today, to: today };
    const options = statsServerQueryOptions(app.gate, member, range);
    const client = clientFor(member.userId);
    expect(options.queryKey).toEqual(statsQueryOptions(client, range).queryKey);
    const queryClient = perRequest();
    await queryClient.prefetchQuery(options);
    const data = JSON.parse(JSON.stringify(queryClient.getQueryData(options.queryKey))) as unknown;
    expect(data).toEqual(await client.stats(range));
    expect(data).toMatchObject({ orgId: org.orgId, totals: { tokens: 3, events: 1 } });
  });

  it("refuses another organization's member", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const caller = { userId: other.members[0]!, orgId: org.orgId };
    await expect(perRequest().fetchQuery(statsServerQueryOptions(app.gate, caller, { from: today, to: today }))).rejects.toMatchObject({ code: 'not_a_member' });
  });
});
