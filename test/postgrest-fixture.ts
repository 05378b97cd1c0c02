/*
  A TEST FIXTURE, NOT THE PRODUCT: a small PostgREST-compatible server for the RPC part of the
  Data API, so supabaseStore (supabase-js v2) can be tested end to end against the real ledger
  database (PGlite or the Postgres server) without a Supabase project. Tokengate never ships it.

  What it does, following PostgREST's documented behaviour:
  - `POST /rpc/<fn>` with a JSON object of named arguments (and `GET /rpc/<fn>?name=value`), the
    schema chosen by `Content-Profile` (POST) or `Accept-Profile` (GET) among the exposed schemas
    (default: the first one), else 406 PGRST106. Arguments are typed by the function's signature
    (`json_to_record`), the overload picked by argument names; none matches → 404 PGRST202.
  - Authentication: `Authorization: Bearer <jwt>`, else the `apikey` header's JWT (as Supabase's
    gateway forwards it), else the anon role. HS256 with the fixture's secret; a JWT that fails
    verification → 401 PGRST301. The `role` claim is the database role.
  - Each request is ONE transaction: `set local role <role>`, `request.jwt.claims` = the verified
    claims (transaction-local), then `select <schema>.<fn>(named args)`. A scalar result (our jsonb)
    is the response body as is.
  - Errors are `{ code, message, details, hint }` with PostgREST's status mapping of SQLSTATEs
    (subset: 08* → 503, 42501 → 401 for anon / 403 otherwise, 42883 → 404, P0001 and any other
    unlisted code (so the ledger's TG*** codes) → 400, …).
  Not implemented: tables and views, filters, Prefer, media types, pooling, schema cache reloads.
*/
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import type { Actor, TestDb } from './db.ts';

/** A running fixture. */
export interface PostgrestFixture {
  /** Base URL to give supabase-js (`createClient(url, key)`); the Data API is under `/rest/v1`. */
  url: string;
  /** A JWT with role service_role, signed with the fixture's secret. */
  serviceRoleKey: string;
  /** A JWT with role anon, signed with the fixture's secret. */
  anonKey: string;
  /** Sign any claims with the fixture's secret (e.g. an authenticated user's access token). */
  sign(claims: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

/** Options of `start`. */
export interface PostgrestFixtureOptions {
  /** HS256 secret the JWTs are signed and verified with. */
  secret: string;
  /** Exposed schemas (PostgREST's `db-schemas`); the first is the default. Default: public, tokengate. */
  schemas?: string[];
}

type Row = Record<string, unknown>;

interface Signature {
  /** Input argument names, in order. */
  names: string[];
  /** Their types as SQL (format_type). */
  types: string[];
  /** How many of the trailing arguments have defaults. */
  defaults: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: { code: string; message: string; details: string | null; hint: string | null },
  ) {
    super(body.message);
  }
}

/**
 * Start the fixture on 127.0.0.1 (ephemeral port) in front of a test database.
 *
 * @example
 * const api = await start(db, { secret: 'test-secret-at-least-32-characters-long' });
 * const store = supabaseStore({ url: api.url, serviceRoleKey: api.serviceRoleKey });
 * // …
 * await api.close();
 */
export async function start(db: TestDb, options: PostgrestFixtureOptions): Promise<PostgrestFixture> {
  const key = new TextEncoder().encode(options.secret);
  const schemas = options.schemas ?? ['public', 'tokengate'];
  const signatures = new Map<string, Signature[]>();

  const sign = (claims: JWTPayload) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime('1d').sign(key);

  async function authenticate(req: IncomingMessage): Promise<JWTPayload> {
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const apikey = typeof req.headers.apikey === 'string' ? req.headers.apikey : undefined;
    const token = bearer ?? apikey;
    if (!token) return { role: 'anon' };
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] });
      return payload;
    } catch (error) {
      throw new HttpError(401, { code: 'PGRST301', message: (error as Error).message || 'JWSError', details: null, hint: null });
    }
  }

  async function signaturesOf(schema: string, fn: string): Promise<Signature[]> {
    const cacheKey = `${schema}.${fn}`;
    let found = signatures.get(cacheKey);
    if (!found) {
      const rows = await db.query<{ names: string[] | null; types: string[]; defaults: number }>(
        `select coalesce(p.proargnames[1:p.pronargs], '{}') as names,
                array(select format_type(t.oid, null) from unnest(p.proargtypes::oid[]) with ordinality as t(oid, i) order by t.i) as types,
                p.pronargdefaults::int as defaults
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = $1 and p.proname = $2 and p.prokind = 'f'`,
        [schema, fn],
      );
      found = rows.map((r) => ({ names: r.names ?? [], types: r.types, defaults: Number(r.defaults) }));
      signatures.set(cacheKey, found);
    }
    return found;
  }

  async function call(req: IncomingMessage, fn: string, schema: string, args: Row, claims: JWTPayload): Promise<unknown> {
    const given = Object.keys(args);
    const candidates = (await signaturesOf(schema, fn)).filter(
      (s) => given.every((g) => s.names.includes(g)) && s.names.slice(0, s.names.length - s.defaults).every((n) => given.includes(n)),
    );
    if (candidates.length === 0) {
      throw new HttpError(404, {
        code: 'PGRST202',
        message: `Could not find the function ${schema}.${fn}(${[...given].sort().join(', ')}) in the schema cache`,
        details: 'Searched for the function with the given parameter names, but no matches were found in the schema cache.',
        hint: null,
      });
    }
    if (candidates.length > 1) {
      throw new HttpError(300, { code: 'PGRST203', message: `Could not choose the best candidate function for ${schema}.${fn}`, details: null, hint: null });
    }
    const signature = candidates[0]!;
    const used = signature.names.filter((n) => given.includes(n));
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
    const argList = used.map((n) => `${quote(n)} => _.${quote(n)}`).join(', ');
    const recordType = used.map((n) => `${quote(n)} ${signature.types[signature.names.indexOf(n)]}`).join(', ');
    const text =
      used.length > 0
        ? `select ${quote(schema)}.${quote(fn)}(${argList}) as result from json_to_record($1::json) as _(${recordType})`
        : `select ${quote(schema)}.${quote(fn)}() as result`;

    const role = String(claims.role ?? 'anon');
    const actor: Actor | undefined =
      role === 'anon' || role === 'service_role'
        ? { role }
        : role === 'authenticated' && typeof claims.sub === 'string'
          ? { role, userId: claims.sub }
          : undefined;
    if (!actor) throw new HttpError(400, { code: '22023', message: `role "${role}" does not exist`, details: null, hint: null });
    try {
      return await db.as(actor, async (q) => {
        // The actor's transaction has `set local role`; the claims are the verified JWT's, as PostgREST sets them.
        await q.query(`select set_config('request.jwt.claims', $1, true), set_config('request.method', $2, true)`, [
          JSON.stringify(claims),
          req.method ?? 'POST',
        ]);
        const rows = await q.query<{ result: unknown }>(text, used.length > 0 ? [JSON.stringify(args)] : []);
        return rows[0]?.result ?? null;
      });
    } catch (error) {
      throw pgError(error, role);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fixture');
    const match = /^\/rest\/v1\/rpc\/([^/]+)$/.exec(url.pathname);
    if (!match) {
      throw new HttpError(404, { code: 'PGRST205', message: `The fixture serves only /rest/v1/rpc/<fn>, not ${url.pathname}`, details: null, hint: null });
    }
    const fn = decodeURIComponent(match[1]!);
    if (req.method !== 'POST' && req.method !== 'GET') {
      throw new HttpError(405, { code: 'PGRST101', message: 'Only GET and POST are allowed for functions', details: null, hint: null });
    }
    const profile = req.method === 'GET' ? req.headers['accept-profile'] : req.headers['content-profile'];
    const schema = typeof profile === 'string' && profile !== '' ? profile : schemas[0]!;
    if (!schemas.includes(schema)) {
      throw new HttpError(406, { code: 'PGRST106', message: `Invalid schema: ${schema}`, details: null, hint: `Only the following schemas are exposed: ${schemas.join(', ')}` });
    }
    const claims = await authenticate(req);

    let args: Row;
    if (req.method === 'GET') {
      args = Object.fromEntries(url.searchParams);
    } else {
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
        throw new HttpError(415, { code: 'PGRST107', message: `Content-Type not acceptable: ${req.headers['content-type'] ?? ''}`, details: null, hint: null });
      }
      const raw = await readBody(req);
      try {
        args = raw.trim() === '' ? {} : JSON.parse(raw);
      } catch (error) {
        throw new HttpError(400, { code: 'PGRST102', message: 'Empty or invalid json', details: (error as Error).message, hint: null });
      }
      if (args === null || typeof args !== 'object' || Array.isArray(args)) {
        throw new HttpError(400, { code: 'PGRST102', message: 'Function arguments must be a JSON object', details: null, hint: null });
      }
    }
    const result = await call(req, fn, schema, args, claims);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(result));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const e = error instanceof HttpError ? error : pgError(error, 'service_role');
      const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
      if (e.status === 401) headers['www-authenticate'] = 'Bearer';
      res.writeHead(e.status, headers);
      res.end(JSON.stringify(e.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    serviceRoleKey: await sign({ iss: 'tokengate-fixture', role: 'service_role' }),
    anonKey: await sign({ iss: 'tokengate-fixture', role: 'anon' }),
    sign,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A database error as PostgREST answers it: the fields, and the status its SQLSTATE maps to. */
function pgError(error: unknown, role: string): HttpError {
  if (error instanceof HttpError) return error;
  const e = (error ?? {}) as { code?: string; message?: string; detail?: string; hint?: string };
  const code = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : 'XX000';
  return new HttpError(statusOf(code, role), {
    code,
    message: e.message ?? 'internal error',
    details: e.detail ?? null,
    hint: e.hint ?? null,
  });
}

/** PostgREST's SQLSTATE → HTTP status table (docs: references/errors, "HTTP Status Codes"). */
export function statusOf(sqlstate: string, role: string): number {
  const exact: Record<string, number> = {
    '23503': 409,
    '23505': 409,
    '25006': 405,
    '53400': 500,
    P0001: 400,
    '42883': 404,
    '42P01': 404,
    '42P17': 500,
  };
  if (sqlstate in exact) return exact[sqlstate]!;
  if (sqlstate === '42501') return role === 'anon' ? 401 : 403;
  const byClass: Record<string, number> = {
    '08': 503,
    '09': 500,
    '0L': 403,
    '0P': 403,
    '25': 500,
    '28': 403,
    '2D': 500,
    '38': 500,
    '39': 500,
    '3B': 500,
    '40': 500,
    '53': 503,
    '54': 500,
    '55': 500,
    '57': 500,
    '58': 500,
    F0: 500,
    HV: 500,
    P0: 500,
    XX: 500,
  };
  return byClass[sqlstate.slice(0, 2)] ?? 400;
}
