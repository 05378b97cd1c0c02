import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenGateError } from '../src/core/token-gate-error.ts';
import { createTestIssuer, type TestIssuer } from '../test/jwt.ts';
import { bearerSecret, supabaseAuth } from './auth.ts';

const request = (authorization?: string) => new Request('http://x/', authorization ? { headers: { authorization } } : {});

async function failure(promise: Promise<unknown>): Promise<TokenGateError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TokenGateError) return error;
    throw error;
  }
  throw new Error('expected a TokenGateError');
}

describe('supabaseAuth', () => {
  let project: TestIssuer;
  const user = randomUUID();
  beforeAll(async () => {
    project = await createTestIssuer();
  });

  it('returns the user id and the verified claims', async () => {
    const authenticate = supabaseAuth(project.authOptions);
    const result = await authenticate(request(await project.bearer(user.toUpperCase())));
    expect(result.userId).toBe(user); // canonical lower case
    expect(result.claims).toMatchObject({ iss: project.issuer, aud: 'authenticated', role: 'authenticated' });
  });

  it('accepts a custom audience and a clock tolerance', async () => {
    const token = await project.sign({ sub: user, aud: 'my-app' }, { expiresIn: -20 });
    await expect(supabaseAuth({ ...project.authOptions, audience: 'my-app' })(request(`Bearer ${token}`))).rejects.toThrow('Token expired.');
    const authenticate = supabaseAuth({ ...project.authOptions, audience: 'my-app', clockTolerance: 60 });
    expect((await authenticate(request(`Bearer ${token}`))).userId).toBe(user);
  });

  it('accepts only the configured algorithms', async () => {
    const esOnly = supabaseAuth({ ...project.authOptions, algorithms: ['ES256'] });
    expect((await esOnly(request(await project.bearer(user)))).userId).toBe(user);
    for (const alg of ['RS256', 'HS256'] as const) {
      const error = await failure(esOnly(request(await project.bearer(user, { alg }))));
      expect([error.code, error.message]).toEqual(['unauthorized', 'Token algorithm not allowed.']);
    }
    const secretOnly = supabaseAuth({ issuer: project.issuer, secret: project.secret });
    expect((await secretOnly(request(await project.bearer(user, { alg: 'HS256' })))).userId).toBe(user);
    expect((await failure(secretOnly(request(await project.bearer(user))))).message).toBe('Token algorithm not allowed.');
  });

  it('refuses unsafe configurations', () => {
    expect(() => supabaseAuth({ issuer: '' })).toThrow(/issuer/);
    expect(() => supabaseAuth({ issuer: project.issuer, secret: 'short' })).toThrow(/32 bytes/);
    expect(() => supabaseAuth({ issuer: project.issuer, jwks: project.jwks, algorithms: ['HS256'] })).toThrow(/needs a secret/);
    expect(() => supabaseAuth({ issuer: project.issuer, secret: project.secret, algorithms: ['ES256'] })).toThrow(/needs a key set/);
    expect(() => supabaseAuth({ issuer: project.issuer, jwks: project.jwks, algorithms: ['none' as 'ES256'] })).toThrow(/algorithm none/);
    expect(() => supabaseAuth({ issuer: project.issuer, jwks: project.jwks, algorithms: ['HS512' as 'ES256'] })).toThrow(/HS512/);
  });

  describe('remote JWKS', () => {
    let server: Server;
    let url: string;
    let fetches = 0;
    let down = false;
    beforeAll(async () => {
      server = createServer((req, res) => {
        fetches++;
        if (down || req.url !== '/auth/v1/.well-known/jwks.json') {
          res.writeHead(down ? 503 : 404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(project.jwks));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('fetches the key set once from `${issuer}/.well-known/jwks.json` by default and caches it', async () => {
      const token = await project.sign({ sub: user, iss: `${url}/auth/v1` });
      const authenticate = supabaseAuth({ issuer: `${url}/auth/v1` });
      const before = fetches;
      expect((await authenticate(request(`Bearer ${token}`))).userId).toBe(user);
      expect((await authenticate(request(`Bearer ${token}`))).userId).toBe(user);
      expect(fetches - before).toBe(1);
    });

    it('answers 503 unavailable (not 401) when the key set cannot be fetched', async () => {
      down = true;
      try {
        const authenticate = supabaseAuth({ issuer: `${url}/auth/v1`, jwksUrl: `${url}/auth/v1/.well-known/jwks.json` });
        const error = await failure(authenticate(request(`Bearer ${await project.sign({ sub: user, iss: `${url}/auth/v1` })}`)));
        expect([error.code, error.status]).toEqual(['unavailable', 503]);
        const closed = supabaseAuth({ issuer: 'https://x.supabase.co/auth/v1', jwksUrl: 'http://127.0.0.1:1/jwks.json' });
        expect((await failure(closed(request(`Bearer ${await project.sign({ sub: user, iss: 'https://x.supabase.co/auth/v1' })}`)))).code).toBe('unavailable');
      } finally {
        down = false;
      }
    });

    it('still answers 401 for a token whose key is not in the set', async () => {
      const other = await createTestIssuer();
      const authenticate = supabaseAuth({ issuer: `${url}/auth/v1` });
      const error = await failure(authenticate(request(`Bearer ${await other.sign({ sub: user, iss: `${url}/auth/v1` })}`)));
      expect([error.code, error.message]).toEqual(['unauthorized', 'Unknown token signing key.']);
    });
  });
});

describe('bearerSecret', () => {
  const secret = 'a-service-secret-of-at-least-32-chars!';
  const check = bearerSecret(secret);

  it('accepts exactly `Bearer <secret>` (scheme case-insensitive)', async () => {
    expect(await check(request(`Bearer ${secret}`))).toBe(true);
    expect(await check(request(`bearer ${secret}`))).toBe(true);
    for (const header of [undefined, secret, `Bearer ${secret}x`, `Bearer ${secret.slice(1)}`, `Basic ${secret}`, `Bearer  ${secret}`, 'Bearer ', `Bearer ${'x'.repeat(5000)}`]) {
      expect(await check(request(header)), String(header)).toBe(false);
    }
  });

  it('refuses short secrets', () => {
    expect(() => bearerSecret('short')).toThrow(/32 characters/);
  });
});
