/**
 * Real Supabase-style access tokens for the HTTP benchmarks: HS256 with a random secret, verified
 * by `supabaseAuth` on every request (the same approach as test/jwt.ts, without the test-only key
 * pairs and forgery helpers).
 */
import { SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import type { SupabaseAuthOptions } from '../server/auth.ts';

/** A fake Supabase project that signs HS256 access tokens. */
export interface BenchIssuer {
  /** Options for `supabaseAuth` that accept this issuer's tokens. */
  authOptions: SupabaseAuthOptions;
  /** `Bearer <jwt>` for a user id, valid for an hour. */
  bearer(userId: string): Promise<string>;
}

/**
 * A fake Supabase project with a fresh 32-byte secret.
 *
 * @example
 * const issuer = createBenchIssuer();
 * const authenticate = supabaseAuth(issuer.authOptions);
 * const headers = { authorization: await issuer.bearer(userId) };
 */
export function createBenchIssuer(): BenchIssuer {
  const issuer = `https://bench-${randomBytes(4).toString('hex')}.supabase.co/auth/v1`;
  const secret = randomBytes(32).toString('base64url');
  const key = new TextEncoder().encode(secret);
  return {
    authOptions: { issuer, secret },
    async bearer(userId) {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ sub: userId, role: 'authenticated' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience('authenticated')
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(key);
      return `Bearer ${token}`;
    },
  };
}
