/**
 * Who is calling: the server derives the user from a verified token, never from the body.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { TokenGateError } from '../src/core/token-gate-error.ts';

/**
 * The verified caller of a request.
 *
 * @example
 * const { userId, claims } = await authenticate(request); // claims.email, claims.app_metadata, …
 */
export interface AuthenticatedUser {
  /** The user id (`sub` of a Supabase access token). */
  userId: string;
  /** The verified claims, for apps that need more. */
  claims?: Record<string, unknown>;
}

/**
 * Verify a request and return its user, or throw `TokenGateError('unauthorized')`.
 * Use `supabaseAuth(...)` or supply your own.
 *
 * @example
 * const authenticate: Authenticate = async (request) => {
 *   const session = await mySessions.verify(request.headers.get('cookie'));
 *   if (!session) throw new TokenGateError('unauthorized', 'No session.');
 *   return { userId: session.userId };
 * };
 */
export type Authenticate = (request: Request) => Promise<AuthenticatedUser>;

/**
 * Signature algorithms `supabaseAuth` can accept. Asymmetric ones come from a JWKS, HS256 from a secret.
 *
 * @example
 * supabaseAuth({ issuer, algorithms: ['ES256'] satisfies SupabaseJwtAlgorithm[] });
 */
export type SupabaseJwtAlgorithm = 'ES256' | 'RS256' | 'HS256';

/**
 * Options of `supabaseAuth`.
 *
 * @example
 * const options: SupabaseAuthOptions = { issuer: 'https://abcd.supabase.co/auth/v1', clockTolerance: 5 };
 */
export interface SupabaseAuthOptions {
  /**
   * Issuer the tokens must carry: `https://<project-ref>.supabase.co/auth/v1`. Required: a token of
   * another project (or another service using the same keys) is refused.
   */
  issuer: string;
  /** Audience the tokens must carry. Default `'authenticated'` (Supabase's signed-in users). */
  audience?: string | string[];
  /**
   * URL of the project's JSON Web Key Set (asymmetric signing keys). Default, when neither `jwks`
   * nor `secret` is given: `${issuer}/.well-known/jwks.json`. Keys are cached and refetched on an
   * unknown `kid` (at most every 30 s).
   */
  jwksUrl?: string | URL;
  /** A JSON Web Key Set held in memory (tests, offline verification). Takes precedence over `jwksUrl`. */
  jwks?: JSONWebKeySet;
  /**
   * The project's legacy JWT secret, for HS256 tokens. At least 32 bytes. HS256 is accepted only
   * through this secret, never with a key of the JWKS (no HS/RS key confusion).
   */
  secret?: string | Uint8Array;
  /**
   * Accepted algorithms. Default: ES256 and RS256 when a key set is configured, HS256 when a secret
   * is. Anything else (including `none`) is always refused.
   */
  algorithms?: SupabaseJwtAlgorithm[];
  /** Allowed clock skew for `exp`/`nbf`, in seconds (or a jose duration such as `'30s'`). Default 0. */
  clockTolerance?: number | string;
}

const ASYMMETRIC: readonly SupabaseJwtAlgorithm[] = ['ES256', 'RS256'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `Bearer <three base64url segments>`; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;
const MAX_TOKEN_LENGTH = 16384;

/** The keys could not be fetched: a server-side outage, not the caller's fault. */
class KeysUnavailable extends Error {}

/**
 * Verify Supabase access tokens (`Authorization: Bearer <jwt>`) with `jose`: signature (the
 * project's JWKS for ES256/RS256, or its secret for HS256 — each algorithm only with its own kind of
 * key), issuer, audience, `exp` and `nbf`, and a `sub` that is a user id (a uuid). Every failure is
 * `TokenGateError('unauthorized')` with a short reason; only a key set that cannot be fetched is
 * `unavailable` (503), so an outage does not sign users out.
 *
 * @example
 * const authenticate = supabaseAuth({ issuer: `${process.env.SUPABASE_URL}/auth/v1` });
 * const { userId } = await authenticate(request);
 *
 * @example
 * // Projects still on the legacy shared secret:
 * supabaseAuth({ issuer: `${SUPABASE_URL}/auth/v1`, secret: process.env.SUPABASE_JWT_SECRET });
 */
export function supabaseAuth(options: SupabaseAuthOptions): Authenticate {
  const { issuer, audience = 'authenticated', clockTolerance } = options;
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('supabaseAuth: `issuer` is required');

  const secret = typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret;
  if (secret !== undefined && secret.byteLength < 32) throw new TypeError('supabaseAuth: `secret` must be at least 32 bytes');

  let keySet: JWTVerifyGetKey | undefined;
  if (options.jwks) {
    keySet = createLocalJWKSet(options.jwks);
  } else if (options.jwksUrl || !secret) {
    const remote = createRemoteJWKSet(new URL(options.jwksUrl ?? `${issuer.replace(/\/+$/, '')}/.well-known/jwks.json`));
    keySet = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw error;
        throw new KeysUnavailable('signing keys unavailable', { cause: error });
      }
    };
  }

  const allowed = new Set<SupabaseJwtAlgorithm>(options.algorithms ?? [...(keySet ? ASYMMETRIC : []), ...(secret ? ['HS256' as const] : [])]);
  for (const alg of allowed) {
    if (alg === 'HS256' ? !secret : !ASYMMETRIC.includes(alg) || !keySet) {
      throw new TypeError(`supabaseAuth: algorithm ${String(alg)} needs ${alg === 'HS256' ? 'a secret' : 'a key set'}`);
    }
  }
  const asymmetric = ASYMMETRIC.filter((alg) => allowed.has(alg));
  const claims = { issuer, audience, clockTolerance: clockTolerance ?? 0, requiredClaims: ['exp', 'sub'] };
  // Given raw bytes, jose imports them as a CryptoKey on every verification (about a tenth of an
  // authenticated request's CPU): import once, and again only if that failed.
  let hmacKey: Promise<CryptoKey> | undefined;
  const hmac = (bytes: Uint8Array): Promise<CryptoKey> => {
    hmacKey ??= crypto.subtle.importKey('raw', bytes as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    const imported = hmacKey;
    imported.catch(() => {
      if (hmacKey === imported) hmacKey = undefined;
    });
    return imported;
  };

  return async (request) => {
    const token = bearerToken(request);
    let payload: JWTPayload;
    try {
      const alg = headerAlgorithm(token);
      if (alg === 'HS256' && allowed.has('HS256') && secret) {
        ({ payload } = await jwtVerify(token, await hmac(secret), { ...claims, algorithms: ['HS256'] }));
      } else if (asymmetric.includes(alg as SupabaseJwtAlgorithm) && keySet) {
        ({ payload } = await jwtVerify(token, keySet, { ...claims, algorithms: asymmetric }));
      } else {
        throw new TokenGateError('unauthorized', 'Token algorithm not allowed.');
      }
    } catch (error) {
      throw authError(error);
    }
    if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) {
      throw new TokenGateError('unauthorized', 'Token subject is not a user id.');
    }
    return { userId: payload.sub.toLowerCase(), claims: payload as Record<string, unknown> };
  };
}

/** Read `Authorization: Bearer <jwt>`; nothing else (no cookies, no query string). */
function bearerToken(request: Request): string {
  const header = request.headers.get('authorization');
  if (header === null || header === '') throw new TokenGateError('unauthorized', 'Missing bearer token.');
  if (header.length > MAX_TOKEN_LENGTH) throw new TokenGateError('unauthorized', 'Token too long.');
  const match = BEARER.exec(header);
  if (!match) throw new TokenGateError('unauthorized', 'Malformed authorization header.');
  return match[1]!;
}

function headerAlgorithm(token: string): string {
  try {
    const { alg } = decodeProtectedHeader(token);
    return typeof alg === 'string' ? alg : '';
  } catch {
    throw new TokenGateError('unauthorized', 'Malformed token.');
  }
}

function authError(error: unknown): TokenGateError {
  if (error instanceof TokenGateError) return error;
  if (error instanceof KeysUnavailable) {
    return new TokenGateError('unavailable', 'Signing keys are unavailable. Try again shortly.', { cause: error.cause });
  }
  if (error instanceof joseErrors.JWTExpired) return new TokenGateError('unauthorized', 'Token expired.');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const reason =
      error.claim === 'nbf' ? 'Token not yet valid.'
      : error.claim === 'iss' ? 'Wrong token issuer.'
      : error.claim === 'aud' ? 'Wrong token audience.'
      : `Invalid token claim: ${error.claim}.`;
    return new TokenGateError('unauthorized', reason);
  }
  const code = (error as { code?: unknown })?.code;
  if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return new TokenGateError('unauthorized', 'Invalid token signature.');
  if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') {
    return new TokenGateError('unauthorized', 'Unknown token signing key.');
  }
  if (code === 'ERR_JOSE_ALG_NOT_ALLOWED') return new TokenGateError('unauthorized', 'Token algorithm not allowed.');
  return new TokenGateError('unauthorized', 'Invalid token.');
}

/**
 * An `authenticateServer` check for `createHandler`: the request carries
 * `Authorization: Bearer <secret>` (a service secret the app configures, at least 32 characters).
 * Compared in constant time on SHA-256 digests.
 *
 * @example
 * const handler = createHandler({ gate, authenticate, authenticateServer: bearerSecret(process.env.TOKENGATE_SERVICE_SECRET!) });
 */
export function bearerSecret(secret: string): (request: Request) => Promise<boolean> {
  if (typeof secret !== 'string' || secret.length < 32) throw new TypeError('bearerSecret: the secret must be at least 32 characters');
  const expected = digest(secret);
  return async (request) => {
    const header = request.headers.get('authorization') ?? '';
    const match = /^bearer (.+)$/is.exec(header);
    if (!match || match[1]!.length > 4096) return false;
    const [a, b] = await Promise.all([expected, digest(match[1]!)]);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
    return diff === 0;
  };
}

async function digest(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)));
}
