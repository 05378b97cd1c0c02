/**
 * Any-type grants over HTTP: only the server credential grants to '*' (the shared pool); an owner's
 * token cannot; a member cannot charge '*'; a member's balances show the pool in every type.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPglite, type TestDb } from '../db.ts';
import { createOrg, type SeededOrg } from '../ledger.ts';
import { createApp, expectProblem, fingerprint, jsonOf, type App } from './fixture.ts';

describe('any-type grants over HTTP [pglite]', () => {
  let db: TestDb;
  let app: App;
  let org: SeededOrg;

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow('2028-01-10T12:00:00Z');
    app = await createApp(db);
    org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
  });
  afterAll(async () => db?.close());

  it("the server grants to '*'; every balance counts the pool as shared and available", async () => {
    const res = await app.request(`/orgs/${org.orgId}/admin/grant`, { server: true, idempotencyKey: 'pack-1', json: { tokenType: '*', amount: 40, source: 'promo' } });
    expect(await jsonOf(res)).toMatchObject({ tokenType: '*', granted: 40, source: 'promo' });
    const balances = await jsonOf(await app.request(`/orgs/${org.orgId}/balances`, { user: org.members[0]! }));
    const metered = balances.tokenTypes.filter((b: any) => !b.unlimited);
    expect(metered.length).toBeGreaterThan(1);
    for (const b of metered) expect(b).toMatchObject({ shared: 40, available: b.allowanceRemaining + b.purchased + 40 });
    const grants = await jsonOf(await app.request(`/orgs/${org.orgId}/grants?tokenType=lead_generation`, { user: org.members[0]! }));
    expect(grants).toMatchObject([{ tokenType: '*', anyType: true, remaining: 40 }]);
  });

  it("attackers: an owner's token cannot grant to '*', and a member cannot charge '*' — nothing is written", async () => {
    const before = await fingerprint(db);
    await expectProblem(await app.request(`/orgs/${org.orgId}/admin/grant`, { user: org.owner, idempotencyKey: 'mint', json: { tokenType: '*', amount: 1_000_000 } }), 'server_only');
    await expectProblem(await app.request(`/orgs/${org.orgId}/deduct`, { user: org.members[0]!, idempotencyKey: 'd-any', json: { tokenType: '*' } }), 'invalid_request');
    expect(await fingerprint(db)).toEqual(before);
  });
});
