/**
 * Forged, stale and foreign tokens against the real handler and ledger: every one is a 401
 * `unauthorized` problem, reaches no ledger function, and writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supabaseAuth } from '../../server/auth.ts';
import { createHandler } from '../../server/http/handler.ts';
import { freshPglite, type TestDb } from '../db.ts';
import { createTestIssuer, hmacToken, unsignedToken, type TestIssuer } from '../jwt.ts';
import { createOrg, type SeededOrg } from '../ledger.ts';
import { BASE, createApp, expectProblem, fingerprint, jsonOf, SERVICE_SECRET, type App } from './fixture.ts';

describe('JWT attacks [pglite]', () => {
  let db: TestDb;
  let app: App;
  let project: TestIssuer;
  let other: TestIssuer;
  let org: SeededOrg;
  let user: string;

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow('2028-01-10T12:00:00Z');
    project = await createTestIssuer();
    other = await createTestIssuer();
    app = await createApp(db, { issuer: project });
    org = await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    user = org.members[0]!;
  });
  afterAll(async () => db?.close());

  const claims = () => ({ sub: user, iss: project.issuer, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3600 });

  /** Send `authorization` (or none) to a read, a charge and an admin route; each must be a 401 that touched nothing. */
  async function refused(authorization: string | null, reason?: string | RegExp, handler = app.handler) {
    const headers = (extra: Record<string, string> = {}) => ({ ...(authorization === null ? {} : { authorization }), ...extra });
    const requests = [
      new Request(`${BASE}/orgs/${org.orgId}/balances`, { headers: headers() }),
      new Request(`${BASE}/orgs/${org.orgId}/deduct`, {
        method: 'POST',
        headers: headers({ 'content-type': 'application/json', 'idempotency-key': randomUUID() }),
        body: JSON.stringify({ tokenType: 'goal_generation' }),
      }),
      new Request(`${BASE}/orgs/${org.orgId}/admin/grant`, {
        method: 'POST',
        headers: headers({ 'content-type': 'application/json', 'idempotency-key': randomUUID() }),
        body: JSON.stringify({ tokenType: 'goal_generation', amount: 1000 }),
      }),
    ];
    const before = await fingerprint(db);
    const calls = app.calls.length;
    for (const request of requests) {
      const res = await handler(request);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      const problem = await expectProblem(res, 'unauthorized');
      if (reason !== undefined) expect(problem.detail).toMatch(reason);
    }
    expect(app.calls.length).toBe(calls);
    expect(await fingerprint(db)).toEqual(before);
  }

  it('the genuine tokens work (so every refusal below is about the forgery)', async () => {
    for (const alg of ['ES256', 'RS256', 'HS256'] as const) {
      const token = await project.sign({ sub: user }, { alg });
      const res = await app.handler(new Request(`${BASE}/orgs/${org.orgId}/balances`, { headers: { authorization: `Bearer ${token}` } }));
      expect((await jsonOf(res)).member.userId).toBe(user);
    }
    // The scheme is case-insensitive (RFC 9110).
    const token = await project.sign({ sub: user });
    expect((await app.handler(new Request(`${BASE}/orgs/${org.orgId}/balances`, { headers: { authorization: `bearer ${token}` } }))).status).toBe(200);
  });

  it('tampered signature or payload', async () => {
    for (const alg of ['ES256', 'RS256', 'HS256'] as const) {
      const [h, p, s] = (await project.sign({ sub: user }, { alg })).split('.') as [string, string, string];
      const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
      await refused(`Bearer ${h}.${p}.${flipped}`, 'Invalid token signature.');
      const owner = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: org.owner })).toString('base64url');
      await refused(`Bearer ${h}.${owner}.${s}`, 'Invalid token signature.');
      await refused(`Bearer ${h}.${p}.${s.slice(0, -4)}`);
    }
  });

  it('expired and not yet valid', async () => {
    await refused(`Bearer ${await project.sign({ sub: user }, { expiresIn: -5 })}`, 'Token expired.');
    await refused(`Bearer ${await project.sign({ sub: user }, { alg: 'HS256', expiresIn: -5 })}`, 'Token expired.');
    await refused(`Bearer ${await project.sign({ sub: user }, { notBefore: 600 })}`, 'Token not yet valid.');
    await refused(`Bearer ${await project.sign({ sub: user }, { expiresIn: null })}`, /exp/);
  });

  it('wrong issuer or audience', async () => {
    await refused(`Bearer ${await project.sign({ sub: user, iss: 'https://evil.supabase.co/auth/v1' })}`, 'Wrong token issuer.');
    await refused(`Bearer ${await project.sign({ sub: user, iss: undefined })}`);
    for (const aud of ['anon', 'service_role', 'authenticated-not', ['other']]) {
      await refused(`Bearer ${await project.sign({ sub: user, aud })}`, 'Wrong token audience.');
    }
    await refused(`Bearer ${await project.sign({ sub: user, aud: undefined })}`);
  });

  it('alg: none, in every spelling', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await refused(`Bearer ${unsignedToken(claims(), '', { alg, typ: 'JWT' })}`);
      await refused(`Bearer ${unsignedToken(claims(), 'c2lnbmF0dXJl', { alg, typ: 'JWT' })}`, 'Token algorithm not allowed.');
    }
    await refused(`Bearer ${unsignedToken(claims(), 'c2ln', { typ: 'JWT' })}`, 'Token algorithm not allowed.');
  });

  it('HS256 signed with the public key material (RS/ES key confusion)', async () => {
    const materials = [
      project.publicKeys.rs256Spki,
      project.publicKeys.es256Spki,
      JSON.stringify(project.publicKeys.rs256Jwk),
      JSON.stringify(project.publicKeys.es256Jwk),
      JSON.stringify(project.jwks),
      project.publicKeys.rs256Jwk.n!,
      Buffer.from(project.publicKeys.rs256Jwk.n!, 'base64url').toString('latin1'),
    ];
    const jwksOnly = createHandler({ gate: app.gate, authenticate: supabaseAuth({ issuer: project.issuer, jwks: project.jwks }) });
    for (const material of materials) {
      for (const kid of [undefined, project.publicKeys.rs256Jwk.kid, project.publicKeys.es256Jwk.kid]) {
        const token = await hmacToken({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) }, claims(), material);
        await refused(`Bearer ${token}`, 'Invalid token signature.'); // HS256 is checked with the secret only
        await refused(`Bearer ${token}`, 'Token algorithm not allowed.', jwksOnly); // no secret: HS256 is not accepted at all
      }
    }
  });

  it('an asymmetric token whose header claims another algorithm', async () => {
    const [, p, s] = (await project.sign({ sub: user }, { alg: 'ES256' })).split('.') as [string, string, string];
    for (const alg of ['RS256', 'HS256', 'ES384', 'PS256', 'EdDSA']) {
      const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT', kid: project.publicKeys.es256Jwk.kid })).toString('base64url');
      await refused(`Bearer ${header}.${p}.${s}`);
    }
  });

  it('a token of another project: other keys, other secret (also when it claims our issuer)', async () => {
    for (const alg of ['ES256', 'RS256', 'HS256'] as const) {
      await refused(`Bearer ${await other.sign({ sub: user }, { alg })}`);
      const sameIssuer = await other.sign({ sub: user, iss: project.issuer }, { alg });
      await refused(`Bearer ${sameIssuer}`, alg === 'HS256' ? 'Invalid token signature.' : 'Unknown token signing key.');
      // …even when it borrows our key id.
      const kid = alg === 'ES256' ? project.publicKeys.es256Jwk.kid : project.publicKeys.rs256Jwk.kid;
      if (alg !== 'HS256') await refused(`Bearer ${await other.sign({ sub: user, iss: project.issuer }, { alg, kid })}`, 'Invalid token signature.');
    }
  });

  it('a self-signed token that embeds its own key', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const { exportJWK } = await import('jose');
    const jwk = await exportJWK(attacker.publicKey);
    for (const kid of [undefined, project.publicKeys.es256Jwk.kid]) {
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', jwk, ...(kid ? { kid } : {}) })
        .sign(attacker.privateKey);
      await refused(`Bearer ${token}`);
    }
  });

  it('a subject that is not a user id (anon and service keys, odd subjects)', async () => {
    await refused(`Bearer ${await project.sign({ role: 'anon' })}`, /sub/);
    await refused(`Bearer ${await project.sign({ role: 'service_role' }, { alg: 'HS256' })}`, /sub/);
    for (const sub of ['admin', '', `${user} `, `${user}x`, '00000000-0000-0000-0000-00000000000g']) {
      await refused(`Bearer ${await project.sign({ sub })}`, 'Token subject is not a user id.');
    }
    await refused(`Bearer ${await project.sign({ sub: 42 as unknown as string })}`);
  });

  it('missing or malformed Authorization headers', async () => {
    const valid = await project.sign({ sub: user });
    await refused(null, 'Missing bearer token.');
    for (const header of [
      'Bearer',
      'Bearer ',
      'Basic dXNlcjpwYXNzd29yZA==',
      `Basic ${valid}`,
      `Token ${valid}`,
      `Bearer  ${valid}`,
      `Bearer ${valid} extra`,
      `Bearer ${valid},Bearer ${valid}`,
      `Bearer Bearer ${valid}`,
      'Bearer a.b',
      'Bearer a.b.c.d',
      'Bearer ...',
      'Bearer @@@.###.$$$',
      'garbage',
      valid,
      `Bearer ${'a'.repeat(20_000)}.b.c`,
    ]) {
      await refused(header);
    }
    await refused('Bearer e30.e30.e30', /Invalid token|Malformed token|algorithm/);
    await refused('Bearer !!!!.e30.e30', 'Malformed authorization header.');
    await refused(`Bearer ${Buffer.from('not json').toString('base64url')}.e30.e30`, 'Malformed token.');
  });

  it('the token is read from the Authorization header only (not cookies, not the query string)', async () => {
    const valid = await project.sign({ sub: user });
    const before = await fingerprint(db);
    for (const request of [
      new Request(`${BASE}/orgs/${org.orgId}/balances?access_token=${valid}`),
      new Request(`${BASE}/orgs/${org.orgId}/balances`, { headers: { cookie: `sb-access-token=${valid}` } }),
      new Request(`${BASE}/orgs/${org.orgId}/balances`, { headers: { apikey: valid } }),
    ]) {
      await expectProblem(await app.handler(request), 'unauthorized');
    }
    expect(await fingerprint(db)).toEqual(before);
  });

  it('server-only routes refuse user tokens and wrong service secrets', async () => {
    const body = JSON.stringify({ orgId: randomUUID(), planId: 'enterprise', ownerId: user });
    const before = await fingerprint(db);
    const calls = app.calls.length;
    for (const authorization of [
      `Bearer ${await project.sign({ sub: org.owner })}`,
      `Bearer ${await project.sign({ sub: user, role: 'service_role' })}`,
      `Bearer ${SERVICE_SECRET}x`,
      `Bearer ${SERVICE_SECRET.slice(0, -1)}`,
      `Basic ${SERVICE_SECRET}`,
      SERVICE_SECRET,
    ]) {
      for (const path of ['/admin/accounts', '/admin/expire-reservations']) {
        const res = await app.handler(new Request(BASE + path, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: path === '/admin/accounts' ? body : '{}' }));
        await expectProblem(res, 'unauthorized');
      }
    }
    expect(app.calls.length).toBe(calls);
    expect(await fingerprint(db)).toEqual(before);
  });
});
