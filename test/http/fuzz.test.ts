/**
 * Fuzzing the HTTP API: for every endpoint, FUZZ_RUNS generated requests (default 10,000 with
 * TOKENGATE_LONG=1, as CI runs it; 1,000 otherwise, see test/long-runs.ts) —
 * valid-ish and garbage bodies, queries, headers (Authorization, Content-Type, Idempotency-Key),
 * methods and path parameters — against the real handler, gate and ledger (PGlite).
 *
 * Properties, per request:
 * - never a 5xx;
 * - every 4xx is well-formed problem+json (content type, `https://tokengate.dev/errors/<code>`,
 *   status matching the code, a known code, no-store) and no ledger call succeeded during it;
 * - rejected requests write nothing: test-only triggers count every row written to the ledger's
 *   tables (rolled back with their transaction); the count may change only across a ledger call
 *   that succeeded, and is compared before/after every call and at the end of each endpoint's run.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TYPE_BASE } from '../../src/core/error-codes.ts';
import type { LedgerFunction } from '../../server/ledger-call.ts';
import { freshPglite, type TestDb } from '../db.ts';
import { createTestIssuer, unsignedToken } from '../jwt.ts';
import { call } from '../ledger.ts';
import { runCount } from '../long-runs.ts';
import { BASE, createApp, problemOf, SERVICE_SECRET, type App } from './fixture.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? runCount({ long: 10_000, short: 1_000 }));
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

/** Tables a request could write, each counted by a trigger. */
const WRITTEN_TABLES = ['ledger', 'idempotency_keys', 'reservations', 'buckets', 'members', 'member_quotas', 'accounts', 'usage_daily', 'member_usage'];

/** One generated request. */
interface Spec {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
}

type Arb<T> = fc.Arbitrary<T>;
const MISSING = Symbol('missing');
const weighted = <T,>(...choices: [number, Arb<T>][]): Arb<T> => fc.oneof(...choices.map(([weight, arbitrary]) => ({ weight: Math.round(weight * 2), arbitrary })));
const k = <T,>(value: T) => fc.constant(value);

// ── building blocks ──────────────────────────────────────────────────────────────────────────

/** Text a header can carry (byte strings without CR, LF, NUL). */
const headerText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c < 0x7f || c >= 0xa0).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});
/** A path segment that is not a valid parameter. */
const badSegment: Arb<string> = weighted(
  [2, fc.string({ maxLength: 20 }).map(encodeURIComponent)],
  [1, fc.constantFrom('', '..', '.', '%zz', '%', 'null', 'undefined', '00000000-0000-0000-0000-00000000000g', '{00000000-0000-0000-0000-000000000000}', 'ORG', '%2F', '%00', 'a%20b')],
);
const uuidSegment = fc.uuid().map((u) => weirdCase(u));
const tokenTypes = ['goal_generation', 'quest_generation', 'lead_generation', 'revenue_forecast', 'strategy_analysis'];
const tokenType: Arb<unknown> = weighted([10, fc.constantFrom(...tokenTypes)], [1, k('teleportation')], [1, fc.string({ maxLength: 70 })]);
const garbage: Arb<unknown> = weighted(
  [3, fc.jsonValue({ maxDepth: 2 })],
  [2, fc.constantFrom(0, -1, 1.5, -0.5, 1e9, 1e10, -1e10, Number.MAX_SAFE_INTEGER, 2 ** 31, '1', '', null, true, false, [], {}, '\u0000', '\ud800', 'x'.repeat(600), { __proto__: null }, [1, 2])],
  [1, fc.string({ maxLength: 30 })],
  [1, fc.integer()],
  [1, fc.double()],
);
const metadata: Arb<unknown> = weighted(
  [6, fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })],
  [1, fc.constantFrom({ nul: 'a\u0000' }, { lone: '\udc00' }, { ['\u0000']: 1 }, { big: 'x'.repeat(5000) }, deep(20), deep(16), { n: 1e308 })],
);
const plans = weighted<unknown>([6, fc.constantFrom('starter', 'pro', 'enterprise')], [1, k('platinum')], [1, garbage]);
const day = (min: string, max: string) =>
  weighted<string>(
    [8, fc.date({ min: new Date(min), max: new Date(max), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10))],
    [1, fc.constantFrom('2028-02-30', '2028-13-01', '28-01-01', '2028-1-1', '1969-12-31', '0000-01-01', '99999-01-01', '2028-01-01T00:00:00Z', '')],
    [1, headerText],
  );
const timestamp = weighted<unknown>(
  [6, fc.date({ min: new Date('1970-01-01'), max: new Date('9999-12-31'), noInvalidDate: true }).map((d) => d.toISOString())],
  [1, fc.constantFrom('2028-01-05T08:00:00+02:00', '2028-01-05T08:00:00+15:59', '2028-01-05T24:00:00Z', '2028-01-05', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59-15:00')],
  [1, garbage],
);
const int = (min: number, max: number) => weighted<unknown>([8, fc.integer({ min, max })], [1, fc.integer({ min: min - 3, max: min })], [1, fc.integer({ min: max, max: max + 3 })]);

/** A JSON object whose fields are mostly valid, sometimes garbage or missing, sometimes with an extra field. */
function object(fields: Record<string, Arb<unknown>>): Arb<Record<string, unknown>> {
  const shaped: Record<string, Arb<unknown>> = {};
  for (const [name, valid] of Object.entries(fields)) shaped[name] = weighted<unknown>([6, valid], [1, garbage], [1, k(MISSING)]);
  return fc.tuple(fc.record(shaped), weighted<[string, unknown] | null>([8, k(null)], [1, fc.tuple(fc.constantFrom('cost', 'userId', 'orgId', 'charged', '__proto__', 'constructor'), garbage)], [1, fc.tuple(fc.string({ maxLength: 10 }), garbage)])).map(([record, extra]) => {
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(record)) if (value !== MISSING) out[name] = value;
    if (extra) Object.defineProperty(out, extra[0], { value: extra[1], enumerable: true, configurable: true, writable: true });
    return out;
  });
}

/** Raw JSON texts no serializer would produce. */
const NASTY = [
  '{"tokenType":"goal_generation","units":1e400}',
  '{"tokenType":"goal_generation","units":1,"units":2}',
  '{"__proto__":{"tokenType":"goal_generation"}}',
  '{"tokenType":"goal_generation","metadata":{"__proto__":{"a":1}}}',
  '\ufeff{"tokenType":"goal_generation"}',
  '{"tokenType":"goal_generation","metadata":{"a":"\\u0000"}}',
  '{"tokenType":"goal_generation","metadata":{"a":"\\ud800"}}',
  '{"actual":1,"metadata":{"k":"\\udfff\\ud800"}}',
  '{"quota":null,"quota":-1}',
  '['.repeat(8000) + ']'.repeat(8000),
  '{"a":'.repeat(3000) + '1' + '}'.repeat(3000),
  '{"tokenType":"goal_generation","metadata":' + '{"a":'.repeat(2000) + '1' + '}'.repeat(2001),
  'null',
  '"string"',
  '12',
  '[]',
  '{}',
  ' ',
  '\u0000',
];

/** A body: mostly the endpoint's JSON object, sometimes garbage bytes, broken or oversized JSON. */
function body(shape: Arb<Record<string, unknown>>): Arb<string | Uint8Array | undefined> {
  return weighted<string | Uint8Array | undefined>(
    [16, shape.map((o) => JSON.stringify(o))],
    [1, fc.jsonValue().map((v) => JSON.stringify(v))],
    [1, fc.string({ maxLength: 50 })],
    [1, shape.map((o) => JSON.stringify(o).slice(0, -1))],
    [1, fc.uint8Array({ maxLength: 64 })],
    [1, fc.constantFrom('', undefined)],
    [1, fc.constantFrom(...NASTY)],
    [0.5, fc.integer({ min: 16_300, max: 17_000 }).map((n) => JSON.stringify({ tokenType: 'goal_generation', metadata: { pad: 'x'.repeat(n) } }))],
  );
}

/** A query string from mostly-valid parameters, sometimes duplicated, extra or raw garbage. */
function query(params: Record<string, Arb<unknown>>): Arb<string> {
  const shaped: Record<string, Arb<unknown>> = {};
  for (const [name, valid] of Object.entries(params)) shaped[name] = weighted<unknown>([8, valid], [1, k(MISSING)], [1, headerText]);
  return weighted<string>(
    [16, fc.tuple(fc.record(shaped), weighted<[string, string] | null>([10, k(null)], [1, fc.tuple(fc.constantFrom(...Object.keys(params), 'x', 'userId'), headerText)])).map(([record, extra]) => {
      const search = new URLSearchParams();
      for (const [name, value] of Object.entries(record)) if (value !== MISSING) search.append(name, String(value));
      if (extra) search.append(extra[0], extra[1]);
      const text = search.toString();
      return text ? `?${text}` : '';
    })],
    [1, fc.constantFrom('?', '?%zz', '?=', '?&&', '?a=%ff', '?tokenType', '?from=%00&to=%00')],
  );
}

const noQuery = weighted<string>([12, k('')], [1, fc.constantFrom('?x=1', '?tokenType=goal_generation', '?%zz')]);

// ── the world ────────────────────────────────────────────────────────────────────────────────

describe('HTTP fuzz: every endpoint [pglite]', () => {
  let db: TestDb;
  let app: App;
  const people = { owner: crypto.randomUUID(), admin: crypto.randomUUID(), member: crypto.randomUUID(), outsider: crypto.randomUUID() };
  const orgs = { unlimited: crypto.randomUUID(), metered: crypto.randomUUID(), admin: crypto.randomUUID() };
  const reservations: string[] = [];
  const disposable: string[] = [];
  let auth: { member: Arb<string | undefined>; admin: Arb<string | undefined>; server: Arb<string | undefined> };

  // Write accounting (see the module comment).
  let stable: string | undefined;
  let pre = '';
  const violations: string[] = [];
  let current = '';
  const writes = async () => String((await db.query<{ s: string }>(`select string_agg(tbl || '=' || n, ' ' order by tbl) as s from public.fuzz_writes`))[0]!.s);

  const stats: Record<string, { runs: number; status: Record<number, number>; reachedLedger: number; unsendable: number; ms: number }> = {};

  beforeAll(async () => {
    db = await freshPglite();
    await db.setNow('2028-01-10T12:00:00Z');
    await db.exec(`
      create table public.fuzz_writes (tbl text primary key, n bigint not null default 0);
      insert into public.fuzz_writes (tbl) select unnest(array[${WRITTEN_TABLES.map((t) => `'${t}'`).join(', ')}]);
      create function public.fuzz_count() returns trigger language plpgsql as $$
      begin
        update public.fuzz_writes set n = n + 1 where tbl = tg_table_name;
        return null;
      end $$;
      ${WRITTEN_TABLES.map((t) => `create trigger fuzz_count after insert or update or delete on tokengate.${t} for each row execute function public.fuzz_count();`).join('\n')}
    `);

    const project = await createTestIssuer();
    const other = await createTestIssuer();
    app = await createApp(db, {
      issuer: project,
      exportPageSize: 500,
      hooks: {
        before: async () => {
          const now = await writes();
          if (stable !== undefined && now !== stable) violations.push(`${current}: rows changed outside a ledger call: ${stable} → ${now}`);
          pre = now;
        },
        after: async (fn: LedgerFunction, ok: boolean) => {
          const now = await writes();
          if (!ok && now !== pre) violations.push(`${current}: failed ${fn} wrote rows: ${pre} → ${now}`);
          stable = now;
        },
      },
    });

    for (const [orgId, plan] of [[orgs.unlimited, 'enterprise'], [orgs.metered, 'pro'], [orgs.admin, 'pro']] as const) {
      await call(db, 'create_account', { p_org_id: orgId, p_plan_id: plan, p_owner_id: people.owner, p_period_anchor: '2028-01-01T00:00:00Z' });
      await call(db, 'add_member', { p_org_id: orgId, p_actor_id: null, p_user_id: people.admin, p_role: 'admin' });
      await call(db, 'add_member', { p_org_id: orgId, p_actor_id: null, p_user_id: people.member, p_role: 'member' });
    }
    for (let i = 0; i < 300; i++) {
      const r = await call(db, 'reserve', { p_org_id: orgs.unlimited, p_user_id: people.member, p_token_type: 'lead_generation', p_idempotency_key: `pool-${i}`, p_estimate: 10, p_ttl_seconds: 86_400 });
      reservations.push(r.reservationId);
    }
    for (let i = 0; i < 300; i++) {
      const user = crypto.randomUUID();
      await call(db, 'add_member', { p_org_id: orgs.admin, p_actor_id: null, p_user_id: user, p_role: 'member' });
      disposable.push(user);
    }

    // Pre-minted Authorization headers (HS256 verifies fastest; the others keep every path busy).
    const bearer = (user: string, opts?: Parameters<typeof project.sign>[1]) => project.sign({ sub: user }, opts).then((t) => `Bearer ${t}`);
    const hs = { alg: 'HS256' } as const;
    const valid = {
      member: await bearer(people.member, hs),
      memberEs: await bearer(people.member),
      memberRs: await bearer(people.member, { alg: 'RS256' }),
      owner: await bearer(people.owner, hs),
      admin: await bearer(people.admin, hs),
      outsider: await bearer(people.outsider, hs),
    };
    const invalid = fc.constantFrom<string | undefined>(
      undefined,
      await bearer(people.member, { ...hs, expiresIn: -10 }),
      `Bearer ${await project.sign({ sub: people.owner, aud: 'anon' }, hs)}`,
      `Bearer ${await other.sign({ sub: people.owner }, hs)}`,
      `Bearer ${unsignedToken({ sub: people.owner, iss: project.issuer, aud: 'authenticated', exp: 4e9 })}`,
      `Basic ${SERVICE_SECRET}`,
      'Bearer',
      'garbage',
    );
    const users = (weights: { member: number; owner: number; admin: number; server: number; invalid: number }) =>
      weighted<string | undefined>(
        [weights.member, k(valid.member)],
        [1, fc.constantFrom(valid.memberEs, valid.memberRs)],
        [weights.owner, k(valid.owner)],
        [weights.admin, k(valid.admin)],
        [1, k(valid.outsider)],
        [weights.server, k(`Bearer ${SERVICE_SECRET}`)],
        [weights.invalid, invalid],
        [1, headerText],
      );
    auth = {
      member: users({ member: 5, owner: 1, admin: 1, server: 1, invalid: 6 }),
      admin: users({ member: 2, owner: 3, admin: 2, server: 3, invalid: 6 }),
      server: users({ member: 1, owner: 1, admin: 0, server: 6, invalid: 6 }),
    };
  }, 180_000);

  afterAll(async () => {
    const lines = Object.entries(stats).map(([name, s]) => {
      const ok = (s.status[200] ?? 0) + (s.status[201] ?? 0);
      const top = Object.entries(s.status).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([status, n]) => `${status}:${n}`).join(' ');
      return `${name.padEnd(28)} ${String(s.runs).padStart(6)} req  ${(s.ms / 1000).toFixed(1).padStart(5)} s  2xx ${String(ok).padStart(5)}  ledger ${String(s.reachedLedger).padStart(5)}  [${top}]`;
    });
    console.log(`[fuzz] requests per endpoint (FUZZ_RUNS=${RUNS}):\n${lines.join('\n')}`);
    await db?.close();
  });

  // ── endpoints ──────────────────────────────────────────────────────────────────────────────

  const memberOrg = () => weighted<string>([3, k(orgs.unlimited)], [2, k(orgs.metered)], [1, uuidSegment], [3, badSegment]);
  const adminOrg = () => weighted<string>([5, k(orgs.admin)], [1, uuidSegment], [2, badSegment]);
  const contentType = weighted<string | undefined>(
    [8, k('application/json')],
    [1, fc.constantFrom('application/json; charset=utf-8', 'application/json;charset="UTF-8"', 'APPLICATION/JSON')],
    [1, fc.constantFrom(undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'multipart/form-data; boundary=x', 'application/jsonp')],
    [0.5, headerText],
  );
  const idempotencyKey = weighted<string | undefined>(
    [8, fc.uuid()],
    [1, k('fuzz-fixed-key')],
    [1, fc.constantFrom(undefined, '', 'k'.repeat(256), 'has space', '~'.repeat(255))],
    [1, headerText],
  );
  const reservationId = () => weighted<string>([8, fc.constantFrom(...reservations)], [1, uuidSegment], [1, badSegment]);
  const userSegment = (pool: () => string[]) => weighted<string>([4, fc.constantFrom(...pool())], [3, uuidSegment], [1, badSegment]);

  interface Endpoint {
    name: string;
    method: string;
    /** The route's path with parameters filled in. */
    path: () => Arb<string>;
    auth: () => Arb<string | undefined>;
    query?: () => Arb<string>;
    body?: () => Arb<string | Uint8Array | undefined>;
    idempotent?: boolean;
  }

  const endpoints: Endpoint[] = [
    { name: 'GET balances', method: 'GET', path: () => memberOrg().map((o) => `/orgs/${o}/balances`), auth: () => auth.member, query: () => noQuery },
    {
      name: 'GET check-balance',
      method: 'GET',
      path: () => memberOrg().map((o) => `/orgs/${o}/check-balance`),
      auth: () => auth.member,
      query: () => query({ tokenType, amount: int(1, 1_000_000) }),
    },
    {
      name: 'POST deduct',
      method: 'POST',
      path: () => memberOrg().map((o) => `/orgs/${o}/deduct`),
      auth: () => auth.member,
      body: () => body(object({ tokenType, units: int(1, 1000), metadata })),
      idempotent: true,
    },
    {
      name: 'POST reservations',
      method: 'POST',
      path: () => memberOrg().map((o) => `/orgs/${o}/reservations`),
      auth: () => auth.member,
      body: () => body(object({ tokenType, estimate: int(1, 1_000_000), ttlSeconds: int(1, 86_400), metadata })),
      idempotent: true,
    },
    {
      name: 'POST reservations/:id/commit',
      method: 'POST',
      path: () => fc.tuple(memberOrg(), reservationId()).map(([o, r]) => `/orgs/${o}/reservations/${r}/commit`),
      auth: () => auth.member,
      body: () => body(object({ actual: int(0, 1_000_000), metadata })),
    },
    {
      name: 'POST reservations/:id/release',
      method: 'POST',
      path: () => fc.tuple(memberOrg(), reservationId()).map(([o, r]) => `/orgs/${o}/reservations/${r}/release`),
      auth: () => auth.member,
      body: () => weighted([3, k(undefined)], [6, body(object({ metadata }))]),
    },
    {
      name: 'GET stats',
      method: 'GET',
      path: () => memberOrg().map((o) => `/orgs/${o}/stats`),
      auth: () => auth.member,
      query: () => query({ from: day('2026-01-01', '2029-03-01'), to: day('2026-06-01', '2029-12-01') }),
    },
    ...(['csv', 'json'] as const).map(
      (format): Endpoint => ({
        name: `GET usage.${format}`,
        method: 'GET',
        path: () => memberOrg().map((o) => `/orgs/${o}/usage.${format}`),
        auth: () => auth.member,
        query: () => query({ from: day('2027-06-01', '2030-06-01'), to: day('2027-06-01', '2036-03-01') }),
      }),
    ),
    {
      name: 'POST admin/grant',
      method: 'POST',
      path: () => adminOrg().map((o) => `/orgs/${o}/admin/grant`),
      auth: () => auth.admin,
      body: () => body(object({ tokenType, amount: int(1, 1_000_000_000), metadata })),
      idempotent: true,
    },
    {
      name: 'POST admin/plan',
      method: 'POST',
      path: () => adminOrg().map((o) => `/orgs/${o}/admin/plan`),
      auth: () => auth.admin,
      body: () => body(object({ planId: plans })),
    },
    {
      name: 'POST admin/adjust',
      method: 'POST',
      path: () => adminOrg().map((o) => `/orgs/${o}/admin/adjust`),
      auth: () => auth.admin,
      body: () =>
        body(
          object({
            tokenType,
            amount: weighted<unknown>([8, fc.integer({ min: -1_000_000_000, max: 1_000_000_000 })], [1, fc.constantFrom(0, 1_000_000_001, -1_000_000_001)]),
            reason: weighted<unknown>([8, fc.string({ minLength: 1, maxLength: 40 })], [1, fc.constantFrom('', 'x'.repeat(501), '🪙'.repeat(500), 'nul\u0000', '\ud800')]),
            metadata,
          }),
        ),
      idempotent: true,
    },
    {
      name: 'PUT admin/members/:userId',
      method: 'PUT',
      path: () => fc.tuple(adminOrg(), userSegment(() => disposable)).map(([o, u]) => `/orgs/${o}/admin/members/${u}`),
      auth: () => auth.admin,
      body: () => body(object({ role: weighted<unknown>([8, fc.constantFrom('owner', 'admin', 'member')], [1, fc.constantFrom('king', 'OWNER', '')]) })),
    },
    {
      name: 'DELETE admin/members/:userId',
      method: 'DELETE',
      path: () => fc.tuple(adminOrg(), userSegment(() => disposable)).map(([o, u]) => `/orgs/${o}/admin/members/${u}`),
      auth: () => auth.admin,
      query: () => noQuery,
    },
    {
      name: 'PUT admin/members/:id/quotas/:type',
      method: 'PUT',
      path: () =>
        fc
          .tuple(adminOrg(), weighted<string>([4, k(people.member)], [1, userSegment(() => disposable)]), weighted<string>([8, fc.constantFrom(...tokenTypes)], [1, k('teleportation')], [1, badSegment]))
          .map(([o, u, t]) => `/orgs/${o}/admin/members/${u}/quotas/${t}`),
      auth: () => auth.admin,
      body: () => body(object({ quota: weighted<unknown>([6, fc.integer({ min: 0, max: 1_000_000_000 })], [2, k(null)], [1, fc.constantFrom(-1, 1_000_000_001, 0.5)]) })),
    },
    {
      name: 'POST admin/accounts',
      method: 'POST',
      path: () => k('/admin/accounts'),
      auth: () => auth.server,
      body: () => body(object({ orgId: weighted<unknown>([8, fc.uuid()], [1, k(orgs.metered)]), planId: plans, ownerId: fc.uuid(), periodAnchor: timestamp })),
    },
    {
      name: 'POST admin/expire-reservations',
      method: 'POST',
      path: () => k('/admin/expire-reservations'),
      auth: () => auth.server,
      body: () => weighted([3, k(undefined)], [6, body(object({ limit: int(1, 100_000) }))]),
    },
  ];

  function request(endpoint: Endpoint): Arb<Spec> {
    const otherMethods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'].filter((m) => m !== endpoint.method);
    const method = weighted<string>([6, k(endpoint.method)], [1, fc.constantFrom(...otherMethods)]);
    const path = weighted<(p: string) => string>(
      [10, k((p: string) => p)],
      [1, fc.constantFrom((p: string) => `${p}/`, (p: string) => `${p}/x`, (p: string) => p.toUpperCase(), (p: string) => p.replace('/orgs/', '/org/'), (p: string) => `/v2${p}`)],
    );
    return fc
      .record({
        method,
        path: fc.tuple(endpoint.path(), path).map(([p, mutate]) => mutate(p)),
        query: endpoint.query ? endpoint.query() : noQuery,
        authorization: endpoint.auth(),
        contentType: endpoint.body ? contentType : weighted<string | undefined>([10, k(undefined)], [1, contentType]),
        idempotencyKey: endpoint.idempotent ? idempotencyKey : weighted<string | undefined>([10, k(undefined)], [1, idempotencyKey]),
        body: endpoint.body ? endpoint.body() : weighted<string | Uint8Array | undefined>([10, k(undefined)], [1, fc.constantFrom('{}', 'x')]),
        extraHeaders: weighted<Record<string, string>>([10, k({})], [1, fc.constantFrom<Record<string, string>>({ 'x-user-id': crypto.randomUUID() }, { cookie: 'sb-access-token=x' }, { 'x-forwarded-user': crypto.randomUUID() }, { accept: 'text/csv' })]),
      })
      .map((r) => {
        const headers: Record<string, string> = { ...r.extraHeaders };
        if (r.authorization !== undefined) headers.authorization = r.authorization;
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
        return { method: r.method, path: r.path, query: r.query, headers, body: r.method === 'GET' || r.method === 'HEAD' ? undefined : r.body };
      });
  }

  function describeSpec(spec: Spec): string {
    const body = spec.body === undefined ? '' : typeof spec.body === 'string' ? spec.body.slice(0, 300) : `<${spec.body.byteLength} bytes>`;
    return `${spec.method} ${spec.path}${spec.query} ${JSON.stringify(spec.headers).slice(0, 400)} ${body}`;
  }

  async function send(endpoint: Endpoint, spec: Spec): Promise<void> {
    const s = stats[endpoint.name]!;
    s.runs++;
    let req: Request;
    try {
      req = new Request(BASE + spec.path + spec.query, { method: spec.method, headers: spec.headers, body: spec.body as BodyInit | undefined });
    } catch {
      s.unsendable++; // a header or URL the Fetch API itself refuses
      return;
    }
    current = `${endpoint.name} ${describeSpec(spec)}`;
    const callsBefore = app.calls.length;
    const res = await app.handler(req);
    s.status[res.status] = (s.status[res.status] ?? 0) + 1;
    if (res.status >= 500) throw new Error(`${res.status} for ${current}\n→ ${await res.text()}`);
    if (res.status >= 400) {
      const problem = await problemOf(res).catch((e: Error) => {
        throw new Error(`${e.message}\nfor ${current}`);
      });
      if (!problem.type.startsWith(ERROR_TYPE_BASE)) throw new Error(`bad type for ${current}`);
      const succeeded = app.calls.slice(callsBefore).filter((c) => c.ok);
      if (succeeded.length > 0) throw new Error(`${res.status} after a successful ${succeeded[0]!.fn} for ${current}`);
    } else {
      if (res.status !== 200 && res.status !== 201) throw new Error(`unexpected ${res.status} for ${current}`);
      await res.arrayBuffer(); // streams the export to the end
    }
    if (app.calls.length > callsBefore) s.reachedLedger++;
    if (violations.length > 0) throw new Error(violations.join('\n'));
  }

  for (const endpoint of endpoints) {
    it(`${endpoint.name}: ${RUNS} requests, no 5xx, valid problems, rejected requests write nothing`, async () => {
      stats[endpoint.name] = { runs: 0, status: {}, reachedLedger: 0, unsendable: 0, ms: 0 };
      const started = performance.now();
      stable = await writes();
      await fc.assert(
        fc.asyncProperty(request(endpoint), (spec) => send(endpoint, spec)),
        { numRuns: RUNS, endOnFailure: true, ...(SEED === undefined ? {} : { seed: SEED }) },
      );
      if ((await writes()) !== stable) violations.push(`${endpoint.name}: rows changed after the last ledger call`);
      expect(violations).toEqual([]);
      const s = stats[endpoint.name]!;
      s.ms = performance.now() - started;
      // Sanity: the generator reaches both sides (some succeed, most are refused before the ledger).
      expect(s.unsendable).toBeLessThan(RUNS / 20);
      expect((s.status[200] ?? 0) + (s.status[201] ?? 0)).toBeGreaterThan(0);
      expect(s.reachedLedger).toBeLessThan(s.runs);
    }, 600_000);
  }
});

/** `{ a: { a: … } }`, `levels` objects deep. */
function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

/** A uuid with some letters upper-cased (Postgres accepts any case). */
function weirdCase(uuid: string): string {
  return uuid.charCodeAt(0) % 3 === 0 ? uuid.toUpperCase() : uuid;
}
