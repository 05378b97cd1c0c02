import { z } from 'zod';
import { ANY_TOKEN_TYPE } from '../../src/core/types.ts';

/**
 * Zod schemas of everything a request to the HTTP API may carry: path parameters, query strings,
 * headers and JSON bodies. Objects are strict (unknown fields are errors), numbers and strings are
 * bounded like the SQL arguments, and text that Postgres cannot store (NUL, lone surrogates) is
 * refused here rather than failing in the database. Costs are never accepted: they come from the
 * catalog or the reservation.
 *
 * @example
 * const parsed = requestSchemas.deduct.safeParse(await request.json());
 * if (!parsed.success) return problemResponse(invalidRequest(parsed.error, 'body'));
 */
export const requestSchemas = (() => {
  const uuid = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a uuid');
  const catalogId = (what: string) => z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, `must be a ${what} id (lowercase letters, digits, _)`);
  const tokenType = catalogId('token type');
  const planId = catalogId('plan');
  const metadata = z.custom<Record<string, unknown>>(() => true).superRefine((value, ctx) => {
    const problem = metadataProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
  const text = (min: number, max: number) =>
    z.string().superRefine((value, ctx) => {
      const problem = textProblem(value, min, max);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
  const day = z.string().superRefine((value, ctx) => {
    if (!isDay(value)) ctx.addIssue({ code: 'custom', message: 'must be a date YYYY-MM-DD (1970 to 9999)' });
  });
  const timestamp = z.string().superRefine((value, ctx) => {
    if (!isTimestamp(value)) ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 timestamp with a time zone (1970 to 9999)' });
  });
  const queryInt = (min: number, max: number) =>
    z
      .string()
      .regex(/^(0|[1-9][0-9]{0,9})$/, 'must be a whole number')
      .transform(Number)
      .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
  const lastEventId = z
    .string()
    .regex(/^(0|[1-9][0-9]{0,15})$/, 'must be a whole number (a ledger id)')
    .transform(Number)
    .pipe(z.number().max(Number.MAX_SAFE_INTEGER, 'must be a ledger id'));
  const range = (maxDays: number) =>
    z
      .strictObject({ from: day, to: day })
      .refine(({ from, to }) => to >= from, { path: ['to'], message: 'must be on or after from' })
      .refine(({ from, to }) => (Date.parse(to) - Date.parse(from)) / 86_400_000 <= maxDays, {
        path: ['to'],
        message: `must be at most ${maxDays} days after from`,
      });

  return {
    /** Path parameters, by name. */
    params: { orgId: uuid, reservationId: uuid, userId: uuid, tokenType },
    /** `Idempotency-Key`: 1 to 255 visible ASCII characters (a uuid or a payment id). */
    idempotencyKey: z.string({ error: 'is required' }).regex(/^[!-~]{1,255}$/, 'must be 1 to 255 visible ASCII characters'),
    /** GET check-balance */
    checkQuery: z.strictObject({ tokenType, amount: queryInt(1, 1_000_000).optional() }),
    /** GET stats: at most 366 days. */
    statsQuery: range(366),
    /** GET usage.csv / usage.json: at most 3660 days. */
    exportQuery: range(3660),
    /** POST deduct */
    deduct: z.strictObject({ tokenType, units: z.int().min(1).max(1000).optional(), metadata: metadata.optional() }),
    /** POST reservations */
    reserve: z.strictObject({
      tokenType,
      estimate: z.int().min(1).max(1_000_000).optional(),
      ttlSeconds: z.int().min(1).max(86_400).optional(),
      metadata: metadata.optional(),
    }),
    /** POST reservations/:id/commit */
    commit: z.strictObject({ actual: z.int().min(0).max(1_000_000), metadata: metadata.optional() }),
    /** POST reservations/:id/release (the body may be empty) */
    release: z.strictObject({ metadata: metadata.optional() }),
    /** POST admin/grant */
    grant: z.strictObject({
      // ANY_TOKEN_TYPE ('*'): a grant for every token type (the organization's shared pool).
      tokenType: z.union([tokenType, z.literal(ANY_TOKEN_TYPE)]),
      amount: z.int().min(1).max(1_000_000_000),
      metadata: metadata.optional(),
      source: z.enum(['plan', 'purchase', 'promo', 'adjustment']).optional(),
      expiresAt: timestamp.nullable().optional(),
      effectiveAt: timestamp.optional(),
      priority: z.int().min(0).max(100).optional(),
    }),
    /** GET grants */
    grantsQuery: z.strictObject({ tokenType: tokenType.optional(), includeEnded: z.enum(['true', 'false']).optional() }),
    /** POST admin/plan */
    setPlan: z.strictObject({ planId }),
    /** POST admin/adjust: a non-zero amount, credits positive. */
    adjust: z.strictObject({
      tokenType,
      amount: z
        .int()
        .min(-1_000_000_000)
        .max(1_000_000_000)
        .refine((n) => n !== 0, 'must not be 0'),
      reason: text(1, 500),
      metadata: metadata.optional(),
    }),
    /** PUT admin/members/:userId */
    member: z.strictObject({ role: z.enum(['owner', 'admin', 'member']) }),
    /** PUT admin/members/:userId/quotas/:tokenType; `null` removes the cap. */
    quota: z.strictObject({ quota: z.int().min(0).max(1_000_000_000).nullable() }),
    /** POST admin/accounts (server only) */
    account: z.strictObject({ orgId: uuid, planId, ownerId: uuid, periodAnchor: timestamp.optional() }),
    /** POST admin/expire-reservations (server only; the body may be empty) */
    expire: z.strictObject({ limit: z.int().min(1).max(100_000).optional() }),
    /** GET operator/top (server only): a range of at most 366 days, one type or all, per-type limit. */
    operatorTopQuery: z
      .strictObject({ from: day, to: day, tokenType: tokenType.optional(), limit: queryInt(1, 1000).optional() })
      .refine(({ from, to }) => to >= from, { path: ['to'], message: 'must be on or after from' })
      .refine(({ from, to }) => (Date.parse(to) - Date.parse(from)) / 86_400_000 <= 366, { path: ['to'], message: 'must be at most 366 days after from' }),
    /** GET operator/near-exhaustion (server only) */
    operatorNearExhaustionQuery: z.strictObject({ percent: queryInt(1, 100).optional(), limit: queryInt(1, 1000).optional() }),
    /** GET operator/spikes (server only); factor may have decimals (2.5). */
    operatorSpikesQuery: z.strictObject({
      day,
      windowDays: queryInt(1, 90).optional(),
      factor: z
        .string()
        .regex(/^[0-9]{1,4}(\.[0-9]{1,4})?$/, 'must be a number like 3 or 2.5')
        .transform(Number)
        .pipe(z.number().min(1, 'must be at least 1').max(1000, 'must be at most 1000'))
        .optional(),
      minTokens: queryInt(0, 1_000_000_000).optional(),
    }),
    /** GET operator/expiring-grants (server only) */
    operatorExpiringGrantsQuery: z.strictObject({ withinDays: queryInt(1, 366).optional(), limit: queryInt(1, 1000).optional() }),
    /** `Last-Event-ID` of GET events: the last ledger id the client received. */
    lastEventId,
    /** GET events: `?lastEventId=` for clients that cannot send the header. */
    eventsQuery: z.strictObject({ lastEventId: lastEventId.optional() }),
  };
})();

const MAX_METADATA_BYTES = 4096;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const MAX_METADATA_DEPTH = 16;

/** Why a metadata value cannot be stored, or null: a JSON object of at most 4 KiB and 16 levels. */
function metadataProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JSON object';
  const walk = (v: unknown, depth: number): string | null => {
    if (depth > MAX_METADATA_DEPTH) return `must be nested at most ${MAX_METADATA_DEPTH} levels deep`;
    if (typeof v === 'string') return textProblem(v, 0, MAX_METADATA_BYTES);
    if (typeof v === 'number') return Number.isFinite(v) ? null : 'numbers must be finite';
    if (v === null || typeof v === 'boolean') return null;
    if (Array.isArray(v)) {
      for (const item of v) {
        const problem = walk(item, depth + 1);
        if (problem) return problem;
      }
      return null;
    }
    if (typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        const problem = textProblem(key, 0, MAX_METADATA_BYTES) ?? walk(item, depth + 1);
        if (problem) return problem;
      }
      return null;
    }
    return 'must be JSON';
  };
  const problem = walk(value, 1);
  if (problem) return problem;
  if (new TextEncoder().encode(JSON.stringify(value)).byteLength > MAX_METADATA_BYTES) {
    return `must be at most ${MAX_METADATA_BYTES} bytes of JSON`;
  }
  return null;
}

/** Text Postgres can store (no NUL, no lone surrogate), with a length in characters. */
function textProblem(value: string, min: number, max: number): string | null {
  if (value.includes('\u0000')) return 'must not contain NUL characters';
  if (LONE_SURROGATE.test(value)) return 'must be valid Unicode';
  const length = [...value].length;
  if (length < min || length > max) return min > 0 ? `must be ${min} to ${max} characters` : `must be at most ${max} characters`;
  return null;
}

function isDay(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (y < 1970) return false;
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

function isTimestamp(value: string): boolean {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  if (!match || !isDay(match[1]!)) return false;
  const [h, min, s] = [Number(match[2]), Number(match[3]), Number(match[4] ?? 0)];
  if (h > 23 || min > 59 || s > 59) return false;
  const offset = match[6]!;
  if (offset !== 'Z' && (Number(offset.slice(1, 3)) > 15 || Number(offset.slice(4, 6)) > 59)) return false;
  return Number.isFinite(Date.parse(value));
}
