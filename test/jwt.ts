/**
 * Test keys and tokens: a fake Supabase project that mints real JWTs (HS256 with a secret, ES256
 * and RS256 with a generated key pair published as a JWKS), for the auth and HTTP suites.
 */
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import type { SupabaseAuthOptions } from '../server/auth.ts';

/**
 * Algorithms a test issuer can sign with.
 *
 * @example
 * for (const alg of ['ES256', 'RS256', 'HS256'] satisfies TestAlgorithm[]) await project.bearer(user, { alg });
 */
export type TestAlgorithm = 'HS256' | 'ES256' | 'RS256';

/**
 * Options of `TestIssuer.sign`.
 *
 * @example
 * await project.sign({ sub: user }, { alg: 'HS256', expiresIn: -60 }); // already expired
 */
export interface SignOptions {
  /** Default 'ES256'. */
  alg?: TestAlgorithm;
  /** Override the `kid` header (asymmetric keys). */
  kid?: string;
  /** Seconds from now until `exp` (negative: already expired). Default 3600; `null` omits exp. */
  expiresIn?: number | null;
  /** Seconds from now of `nbf`; omitted by default. */
  notBefore?: number;
}

/**
 * A fake Supabase project.
 *
 * @example
 * const project: TestIssuer = await createTestIssuer();
 * supabaseAuth(project.authOptions);
 */
export interface TestIssuer {
  issuer: string;
  /** The HS256 secret (legacy Supabase JWT secret). */
  secret: string;
  /** The public JWKS (ES256 and RS256 keys). */
  jwks: JSONWebKeySet;
  /** Public key material, as an attacker could download it (for key-confusion tests). */
  publicKeys: { es256Jwk: JWK; rs256Jwk: JWK; es256Spki: string; rs256Spki: string };
  /** Options for `supabaseAuth` that accept this issuer's tokens (both the JWKS and the secret). */
  authOptions: SupabaseAuthOptions;
  /** Mint a token: claims default to a Supabase access token for `sub`, audience `authenticated`. */
  sign(claims: JWTPayload & { sub?: string }, options?: SignOptions): Promise<string>;
  /** `Bearer <token>` for a user id (ES256 by default). */
  bearer(userId: string, options?: SignOptions): Promise<string>;
}

/**
 * Create a fake Supabase project with fresh keys.
 *
 * @example
 * const project = await createTestIssuer();
 * const authenticate = supabaseAuth(project.authOptions);
 * const request = new Request(url, { headers: { authorization: await project.bearer(userId) } });
 */
export async function createTestIssuer(options: { issuer?: string; secret?: string } = {}): Promise<TestIssuer> {
  const issuer = options.issuer ?? `https://${randomBytes(6).toString('hex')}.supabase.co/auth/v1`;
  const secret = options.secret ?? randomBytes(32).toString('base64url');
  const es = await generateKeyPair('ES256', { extractable: true });
  const rs = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const esKid = randomUUID();
  const rsKid = randomUUID();
  const es256Jwk = { ...(await exportJWK(es.publicKey)), kid: esKid, alg: 'ES256', use: 'sig' };
  const rs256Jwk = { ...(await exportJWK(rs.publicKey)), kid: rsKid, alg: 'RS256', use: 'sig' };
  const jwks: JSONWebKeySet = { keys: [es256Jwk, rs256Jwk] };
  const hsKey = new TextEncoder().encode(secret);

  const sign: TestIssuer['sign'] = async (claims, opts = {}) => {
    const alg = opts.alg ?? 'ES256';
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = {
      iss: issuer,
      aud: 'authenticated',
      role: 'authenticated',
      iat: now,
      ...(opts.expiresIn === null ? {} : { exp: now + (opts.expiresIn ?? 3600) }),
      ...(opts.notBefore === undefined ? {} : { nbf: now + opts.notBefore }),
      ...claims,
    };
    const header =
      alg === 'HS256' ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid: opts.kid ?? (alg === 'ES256' ? esKid : rsKid) };
    const key = alg === 'HS256' ? hsKey : alg === 'ES256' ? es.privateKey : rs.privateKey;
    return new SignJWT(payload).setProtectedHeader(header).sign(key);
  };

  return {
    issuer,
    secret,
    jwks,
    publicKeys: { es256Jwk, rs256Jwk, es256Spki: await exportSPKI(es.publicKey), rs256Spki: await exportSPKI(rs.publicKey) },
    authOptions: { issuer, jwks, secret },
    sign,
    bearer: async (userId, opts) => `Bearer ${await sign({ sub: userId }, opts)}`,
  };
}

/**
 * Sign arbitrary header and payload with HMAC-SHA256 and any key bytes (forged tokens: `alg`
 * confusion, `alg: none` variants).
 *
 * @example
 * const forged = await hmacToken({ alg: 'HS256' }, { sub, iss, aud: 'authenticated' }, project.publicKeys.rs256Spki);
 */
export async function hmacToken(header: Record<string, unknown>, payload: Record<string, unknown>, key: string | Uint8Array): Promise<string> {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const raw = typeof key === 'string' ? new TextEncoder().encode(key) : new Uint8Array(key);
  const cryptoKey = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const signature = new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, new TextEncoder().encode(signingInput)));
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
}

/**
 * An unsigned token (`alg: none`): header and payload, and the given signature segment (default empty).
 *
 * @example
 * const token = unsignedToken({ sub, iss, aud: 'authenticated', exp });
 */
export function unsignedToken(payload: Record<string, unknown>, signature = '', header: Record<string, unknown> = { alg: 'none', typ: 'JWT' }): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature}`;
}

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
