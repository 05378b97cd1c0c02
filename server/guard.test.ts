/**
 * The guard on a real ledger: real gate, real store on a migrated database (PGlite and the server),
 * real JWTs (test/jwt.ts). The guarded handler counts its runs, so "not called" is observed, and
 * every test reads the ledger back (balances, ledger rows, verify_ledger).
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { TokenGateError } from '../src/core/token-gate-error.ts';
import { describeEachDb, type TestDb } from '../test/db.ts';
import { createApp, expectProblem, fingerprint, storeFor, countingStore } from '../test/http/fixture.ts';
import { waitFor } from '../test/wait-for.ts';
import { createTestIssuer, type TestIssuer } from '../test/jwt.ts';
import { bucket, call, createOrg, expectReconciled, type SeededOrg } from '../test/ledger.ts';
import { supabaseAuth } from './auth.ts';
import { createTokenGate, type TokenGate } from './gate.ts';
import { guard, type GuardContext, type GuardErrorInfo, type GuardOptions } from './guard.ts';

const NOW = '2028-01-10T12:00:00Z';
const ANCHOR = '2028-01-01T00:00:00Z';
const URL_ = 'http://app.test/api/generate';

describeEachDb('guard', (getDb) => {
  let db: TestDb;
  let issuer: TestIssuer;
  let gate: TokenGate;
  let pro: SeededOrg;

  beforeAll(async () => {
    db = getDb();
    await db.setNow(NOW);
    issuer = await createTestIssuer();
    gate = createTokenGate({ store: storeFor(db) });
    pro = await createOrg(db, { plan: 'pro', anchor: ANCHOR });
  });

  /** A guarded handler plus what it saw: runs, contexts, errors reported to onError. */
  function setup(options: Partial<GuardOptions> = {}, body?: (request: Request, ctx: GuardContext) => Promise<Response>) {
    const runs: GuardContext[] = [];
    const errors: { error: unknown; info: GuardErrorInfo }[] = [];
    const handler = guard(
      {
        gate,
        authenticate: supabaseAuth(issuer.authOptions),
        tokenType: 'strategy_analysis',
        onError: (error, info) => errors.push({ error, info }),
        ...options,
      },
      async (request, ctx) => {
        runs.push(ctx);
        return body ? body(request, ctx) : Response.json({ ok: true });
      },
    );
    return { handler, runs, errors };
  }

  /** A request as an app's client sends it. */
  async function request(org: string | null, opts: { user?: string | null; key?: string; headers?: Record<string, string>; body?: string; url?: string } = {}) {
    const headers = new Headers(opts.headers);
    if (opts.user !== null) headers.set('authorization', await issuer.bearer(opts.user ?? pro.members[0]!));
    if (org !== null) headers.set('x-tokengate-org', org);
    if (opts.key !== undefined) headers.set('idempotency-key', opts.key);
    return new Request(opts.url ?? URL_, { method: 'POST', headers, body: opts.body ?? '{"prompt":"hi"}' });
  }

  /** Ledger kinds of an org (without period refreshes), oldest first. */
  const kinds = async (orgId: string) =>
    (await db.query<{ kind: string }>(`select kind from tokengate.ledger where org_id = $1 and kind <> 'refresh' order by id`, [orgId])).map((r) => r.kind);
  const freshOrg = (plan = 'pro') => createOrg(db, { plan, anchor: ANCHOR });
  const available = async (orgId: string, type = 'strategy_analysis') => {
    const b = await bucket(db, orgId, type);
    return b ? { left: b.allowance_remaining + b.purchased_remaining, held: b.held, used: b.used } : undefined;
  };

  it('refuses a blocked plan with 403 plan_blocked, without running the handler or writing', async () => {
    const org = await freshOrg('starter');
    const { handler, runs } = setup();
    const before = await fingerprint(db);
    const problem = await expectProblem(await handler(await request(org.orgId, { user: org.members[0]!, key: 'k-blocked' })), 'plan_blocked');
    expect(problem.facts).toMatchObject({ reason: 'plan_blocked' });
    expect(runs).toHaveLength(0);
    expect(await fingerprint(db)).toEqual(before);
  });

  it('refuses with 402 insufficient_tokens when the estimate cannot be held, handler not run', async () => {
    const org = await freshOrg();
    const { handler, runs } = setup({ estimate: 101 }); // Pro: 100 strategy_analysis tokens
    const before = await fingerprint(db);
    const problem = await expectProblem(await handler(await request(org.orgId, { user: org.members[0]!, key: 'k-poor' })), 'insufficient_tokens');
    expect(problem.facts).toMatchObject({ available: 100, required: 101 });
    expect(runs).toHaveLength(0);
    expect(await fingerprint(db)).toEqual(before);
  });

  it("refuses with 402 member_quota_exceeded above the member's own cap, handler not run", async () => {
    const org = await freshOrg();
    await gate.setMemberQuota({ orgId: org.orgId, actorId: org.owner }, org.members[0]!, 'strategy_analysis', 15);
    const { handler, runs } = setup({ estimate: 10 });
    expect((await handler(await request(org.orgId, { user: org.members[0]! }))).status).toBe(200);
    const problem = await expectProblem(await handler(await request(org.orgId, { user: org.members[0]! })), 'member_quota_exceeded');
    expect(problem.facts).toMatchObject({ quota: 15, spent: 10, required: 10 });
    expect(runs).toHaveLength(1);
    // Another member of the same organization is not capped.
    expect((await handler(await request(org.orgId, { user: org.admin }))).status).toBe(200);
  });

  it('refuses outsiders (403 not_a_member) and unknown organizations (404), handler not run', async () => {
    const { handler, runs } = setup();
    await expectProblem(await handler(await request(pro.orgId, { user: randomUUID() })), 'not_a_member');
    await expectProblem(await handler(await request(randomUUID())), 'unknown_organization');
    expect(runs).toHaveLength(0);
  });

  it('charges the reported usage, refunds the rest of the estimate, and says so in headers', async () => {
    const org = await freshOrg();
    const { handler, runs } = setup({ estimate: 30 }, async (_req, ctx) => {
      ctx.reportUsage(12);
      return new Response('done', { status: 201, headers: { 'x-app': 'kept' } });
    });
    const res = await handler(await request(org.orgId, { user: org.members[0]!, key: 'k-ok' }));
    expect(res.status).toBe(201);
    expect(await res.text()).toBe('done');
    expect(res.headers.get('x-app')).toBe('kept');
    expect(res.headers.get('x-tokengate-charged')).toBe('12');
    expect(res.headers.get('x-tokengate-available')).toBe('88');
    expect(res.headers.get('x-tokengate-reservation')).toBe(runs[0]!.reservation.reservationId);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(runs[0]).toMatchObject({ userId: org.members[0], orgId: org.orgId, attempt: 1 });
    expect(runs[0]!.reservation).toMatchObject({ status: 'pending', estimate: 30, held: 30 });
    expect(await available(org.orgId)).toEqual({ left: 88, held: 0, used: 12 });
    expect(await kinds(org.orgId)).toEqual(['reserve', 'commit']);
    await expectReconciled(db, org.orgId);
  });

  it('charges one use at the catalog cost by default, and reads the org from ?orgId=', async () => {
    const org = await freshOrg();
    const { handler } = setup({ tokenType: 'quest_generation' });
    const res = await handler(await request(null, { user: org.members[0]!, url: `${URL_}?orgId=${org.orgId}` }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tokengate-charged')).toBe('3');
    expect(res.headers.get('x-tokengate-available')).toBe('57');
    expect(await available(org.orgId, 'quest_generation')).toEqual({ left: 57, held: 0, used: 3 });
    await expectReconciled(db, org.orgId);
  });

  it('charges usage above the estimate from what is available, and reports unlimited plans', async () => {
    const org = await freshOrg();
    const over = setup({ estimate: 5 }, async (_r, ctx) => (ctx.reportUsage(8), new Response('x')));
    const res = await over.handler(await request(org.orgId, { user: org.members[0]! }));
    expect(res.headers.get('x-tokengate-charged')).toBe('8');
    expect(await available(org.orgId)).toEqual({ left: 92, held: 0, used: 8 });

    const ent = await freshOrg('enterprise');
    const unlimited = setup({ estimate: 50 }, async (_r, ctx) => (ctx.reportUsage(40), new Response('x')));
    const r2 = await unlimited.handler(await request(ent.orgId, { user: ent.members[0]! }));
    expect(r2.headers.get('x-tokengate-charged')).toBe('40');
    expect(r2.headers.get('x-tokengate-available')).toBe('unlimited');
    await expectReconciled(db, org.orgId);
    await expectReconciled(db, ent.orgId);
  });

  it('refunds the hold when the handler throws, and answers 500 without its message', async () => {
    const org = await freshOrg();
    const { handler, runs, errors } = setup({ estimate: 20 }, async () => {
      throw new Error('secret: OPENAI_API_KEY=sk-123 at /srv/app.ts:42');
    });
    const res = await handler(await request(org.orgId, { user: org.members[0]!, key: 'k-throw' }));
    const text = await res.clone().text();
    const problem = await expectProblem(res, 'internal');
    expect(text).not.toMatch(/secret|sk-123|app\.ts/);
    expect(problem.detail).toBe('The request failed.');
    expect(runs).toHaveLength(1);
    expect(await available(org.orgId)).toEqual({ left: 100, held: 0, used: 0 });
    expect(await kinds(org.orgId)).toEqual(['reserve', 'release']);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.info).toMatchObject({ phase: 'handler', orgId: org.orgId, reservationId: runs[0]!.reservation.reservationId });
    expect((errors[0]!.error as Error).message).toMatch(/OPENAI_API_KEY/);
    await expectReconciled(db, org.orgId);
  });

  it('refunds the hold when the handler answers non-2xx, passing its response through', async () => {
    const org = await freshOrg();
    for (const status of [302, 400, 422, 500, 503]) {
      const { handler } = setup({ estimate: 20 }, async () =>
        new Response(`upstream said ${status}`, { status, headers: { 'x-upstream': 'yes', location: '/elsewhere' } }),
      );
      const original = await request(org.orgId, { user: org.members[0]! });
      const res = await handler(original);
      expect(res.status).toBe(status);
      expect(await res.text()).toBe(`upstream said ${status}`);
      expect(res.headers.get('x-upstream')).toBe('yes');
      expect(res.headers.get('x-tokengate-charged')).toBeNull();
    }
    expect(await available(org.orgId)).toEqual({ left: 100, held: 0, used: 0 });
    expect(await kinds(org.orgId)).toEqual(Array(5).fill(['reserve', 'release']).flat());
    await expectReconciled(db, org.orgId);
  });

  it('refunds when the handler resolves to something else than a Response, or reports bad usage', async () => {
    const org = await freshOrg();
    const weird = setup({}, async () => ({ body: 'not a response' }) as unknown as Response);
    await expectProblem(await weird.handler(await request(org.orgId, { user: org.members[0]! })), 'internal');
    for (const bad of [-1, 1.5, Number.NaN, 1_000_001]) {
      const g = setup({}, async (_r, ctx) => (ctx.reportUsage(bad), new Response('x')));
      await expectProblem(await g.handler(await request(org.orgId, { user: org.members[0]! })), 'internal');
      expect(g.errors[0]!.error).toBeInstanceOf(TypeError);
    }
    expect(await kinds(org.orgId)).toEqual(Array(5).fill(['reserve', 'release']).flat());
    expect(await available(org.orgId)).toEqual({ left: 100, held: 0, used: 0 });
  });

  it('answers 401 without a valid token, without running the handler or writing', async () => {
    const { handler, runs } = setup();
    const before = await fingerprint(db);
    await expectProblem(await handler(await request(pro.orgId, { user: null })), 'unauthorized');
    const other = await createTestIssuer();
    const forged = new Request(URL_, {
      method: 'POST',
      headers: { authorization: await other.bearer(pro.members[0]!), 'x-tokengate-org': pro.orgId },
    });
    await expectProblem(await handler(forged), 'unauthorized');
    const expired = new Request(URL_, {
      method: 'POST',
      headers: { authorization: await issuer.bearer(pro.members[0]!, { expiresIn: -10 }), 'x-tokengate-org': pro.orgId },
    });
    await expectProblem(await handler(expired), 'unauthorized');
    expect(runs).toHaveLength(0);
    expect(await fingerprint(db)).toEqual(before);
  });

  it('answers 400 invalid_request for a missing or malformed org id or Idempotency-Key', async () => {
    const { handler, runs } = setup();
    const cases: [Request, string][] = [
      [await request(null), 'headers.x-tokengate-org'],
      [await request('not-a-uuid'), 'headers.x-tokengate-org'],
      [await request(null, { url: `${URL_}?orgId=123` }), 'query.orgId'],
      [await request(pro.orgId, { key: 'has space' }), 'headers.idempotency-key'],
      [await request(pro.orgId, { key: 'x'.repeat(256) }), 'headers.idempotency-key'],
    ];
    const before = await fingerprint(db);
    for (const [req, path] of cases) {
      const problem = await expectProblem(await handler(req), 'invalid_request');
      expect(problem.errors?.map((e) => e.path)).toEqual([path]);
    }
    expect(runs).toHaveLength(0);
    expect(await fingerprint(db)).toEqual(before);
  });

  it('lets estimate read the body from a clone, and refuses one that consumes the request', async () => {
    const org = await freshOrg();
    const good = setup({ estimate: async (req) => (await req.clone().text()).length }, async (req) => new Response(await req.text()));
    const res = await good.handler(await request(org.orgId, { user: org.members[0]!, body: 'x'.repeat(7) }));
    expect(await res.text()).toBe('xxxxxxx');
    expect(res.headers.get('x-tokengate-charged')).toBe('7');

    const bad = setup({ estimate: async (req) => (await req.text()).length });
    await expectProblem(await bad.handler(await request(org.orgId, { user: org.members[0]! })), 'internal');
    expect(bad.runs).toHaveLength(0);
    expect(String(bad.errors[0]!.error)).toMatch(/request\.clone\(\)/);

    const refusing = setup({
      estimate: () => {
        throw new TokenGateError('invalid_request', 'Prompt too long.');
      },
    });
    await expectProblem(await refusing.handler(await request(org.orgId, { user: org.members[0]! })), 'invalid_request');
    expect(refusing.errors).toHaveLength(0);
    expect(await kinds(org.orgId)).toEqual(['reserve', 'commit']);
  });

  it('answers 404 for an unknown token type (from a function of the request)', async () => {
    const { handler, runs } = setup({ tokenType: (req) => new URL(req.url).searchParams.get('type') ?? 'none' });
    await expectProblem(await handler(await request(pro.orgId, { url: `${URL_}?type=nope` })), 'unknown_token_type');
    expect(runs).toHaveLength(0);
  });

  it('never runs a completed key twice: a repeat answers 409 request_completed, handler not run, nothing charged', async () => {
    const org = await freshOrg();
    const user = org.members[0]!;
    const { handler, runs } = setup({ estimate: 10 }, async (_r, ctx) => (ctx.reportUsage(6), new Response(`run ${runs.length}`)));
    const first = await handler(await request(org.orgId, { user, key: 'k-retry' }));
    expect(first.headers.get('x-tokengate-charged')).toBe('6');
    for (let i = 0; i < 5; i++) {
      const again = await expectProblem(await handler(await request(org.orgId, { user, key: 'k-retry' })), 'request_completed');
      expect(again.facts).toMatchObject({ charged: 6, reservationId: first.headers.get('x-tokengate-reservation') });
    }
    expect(runs).toHaveLength(1);
    expect(await available(org.orgId)).toEqual({ left: 94, held: 0, used: 6 });
    expect(await kinds(org.orgId)).toEqual(['reserve', 'commit']);
    await expectReconciled(db, org.orgId);
  });

  it("replay: 'store' answers a repeated key with the stored answer (status, headers, body), handler not run", async () => {
    const org = await freshOrg();
    const user = org.members[0]!;
    const { handler, runs } = setup({ estimate: 10, replay: 'store' }, async (_r, ctx) => {
      ctx.reportUsage(4);
      return new Response(JSON.stringify({ quests: ['a', 'b'] }), {
        status: 201,
        headers: { 'content-type': 'application/json', 'x-model': 'm1', 'set-cookie': 'session=secret' },
      });
    });
    const first = await handler(await request(org.orgId, { user, key: 'k-same' }));
    expect(first.status).toBe(201);
    const again = await handler(await request(org.orgId, { user, key: 'k-same' }));
    expect(runs).toHaveLength(1);
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual({ quests: ['a', 'b'] });
    expect(again.headers.get('x-model')).toBe('m1');
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-tokengate-charged')).toBe('4');
    expect(await kinds(org.orgId)).toEqual(['reserve', 'commit']);
    // Another member cannot read it back with the same key.
    await expectProblem(await handler(await request(org.orgId, { user: org.admin, key: 'k-same' })), 'idempotency_conflict');
  });

  it("replay: 'store' delivers an answer above maxReplayBytes in full, and then answers 409 on replay", async () => {
    const org = await freshOrg();
    const user = org.members[0]!;
    const big = 'x'.repeat(5000);
    const { handler, runs } = setup({ replay: 'store', maxReplayBytes: 1024 }, async () => new Response(big));
    expect(await (await handler(await request(org.orgId, { user, key: 'k-big' }))).text()).toBe(big);
    await expectProblem(await handler(await request(org.orgId, { user, key: 'k-big' })), 'request_completed');
    expect(runs).toHaveLength(1);
  });

  it('answers 409 request_in_progress with Retry-After while an attempt holds the key; after its lease lapses a retry runs', async () => {
    const org = await freshOrg();
    const user = org.members[0]!;
    // An earlier attempt took the hold, then its process died before the handler finished.
    await gate.guardBegin({ userId: user, orgId: org.orgId }, 'strategy_analysis', { idempotencyKey: 'k-dead', estimate: 10, ttlSeconds: 60 });
    const { handler, runs } = setup({ estimate: 10, ttlSeconds: 60 }, async (_r, ctx) => (ctx.reportUsage(7), new Response('x')));
    const busy = await handler(await request(org.orgId, { user, key: 'k-dead' }));
    await expectProblem(busy.clone(), 'request_in_progress');
    expect(busy.headers.get('retry-after')).toBe('60');
    expect(runs).toHaveLength(0);
    await db.setNow('2028-01-10T12:01:30Z');
    try {
      const res = await handler(await request(org.orgId, { user, key: 'k-dead' }));
      expect(res.headers.get('x-tokengate-charged')).toBe('7');
      expect(runs.map((r) => r.attempt)).toEqual([2]);
    } finally {
      await db.setNow(NOW);
    }
    expect(await kinds(org.orgId)).toEqual(['reserve', 'expire', 'reserve', 'commit']);
    expect(await available(org.orgId)).toEqual({ left: 93, held: 0, used: 7 });
    await expectReconciled(db, org.orgId);
  });

  it('runs a key once under 20 concurrent duplicates: one run, one charge, the rest 409', async () => {
    const org = await freshOrg();
    const user = org.members[0]!;
    let release!: () => void;
    const gateOpen = new Promise<void>((resolve) => (release = resolve));
    const { handler, runs } = setup({ estimate: 10 }, async () => (await gateOpen, new Response('work')));
    const requests = await Promise.all(Array.from({ length: 20 }, () => request(org.orgId, { user, key: 'k-dup' })));
    let answered = 0;
    const pending = requests.map((r) => handler(r).finally(() => answered++));
    // Whichever request won the key holds its run open; the 19 others answer meanwhile.
    await waitFor(() => answered === 19, { what: '19 duplicates answered while the run is held open' });
    expect(runs).toHaveLength(1);
    release();
    const all = await Promise.all(pending);
    expect(all.filter((r) => r.status === 200)).toHaveLength(1);
    expect(all.filter((r) => r.status === 409)).toHaveLength(19);
    expect(runs).toHaveLength(1);
    expect(await kinds(org.orgId)).toEqual(['reserve', 'commit']);
    await expectReconciled(db, org.orgId);
  });

  it('a retry of a failed (refunded) request runs again, and only the run that delivers is charged', async () => {
    const org = await freshOrg();
    const user = org.members[0]!;
    let fail = true;
    const { handler, runs } = setup({ estimate: 10 }, async () => {
      if (fail) throw new Error('model down');
      return new Response('x');
    });
    await expectProblem(await handler(await request(org.orgId, { user, key: 'k-refunded' })), 'internal');
    fail = false;
    expect((await handler(await request(org.orgId, { user, key: 'k-refunded' }))).status).toBe(200);
    await expectProblem(await handler(await request(org.orgId, { user, key: 'k-refunded' })), 'request_completed');
    expect(runs.map((r) => r.attempt)).toEqual([1, 2]);
    expect(await kinds(org.orgId)).toEqual(['reserve', 'release', 'reserve', 'commit']);
    expect(await available(org.orgId)).toEqual({ left: 90, held: 0, used: 10 });
  });

  it('a member cannot release or commit the guard\'s hold mid-flight through the member API', async () => {
    const org = await freshOrg();
    const user = org.members[0]!;
    const app = await createApp(db, { issuer });
    const attempts: number[] = [];
    const { handler, runs } = setup({ estimate: 10 }, async (_r, ctx) => {
      const path = `/orgs/${org.orgId}/reservations/${ctx.reservation.reservationId}`;
      for (const who of [user, org.owner]) {
        attempts.push((await app.request(`${path}/release`, { user: who, method: 'POST' })).status);
        attempts.push((await app.request(`${path}/commit`, { user: who, json: { actual: 0 } })).status);
      }
      // Repeating the guard's key on the reservations API gets a separate, separately paid hold.
      const own = await app.request(`/orgs/${org.orgId}/reservations`, { user, json: { tokenType: 'strategy_analysis', estimate: 10 }, idempotencyKey: 'k-mid' });
      attempts.push(own.status);
      expect((await own.json()).reservationId).not.toBe(ctx.reservation.reservationId);
      return new Response('work');
    });
    const res = await handler(await request(org.orgId, { user, key: 'k-mid' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tokengate-charged')).toBe('10');
    expect(attempts).toEqual([404, 404, 404, 404, 201]);
    expect(runs).toHaveLength(1);
    expect(await available(org.orgId)).toEqual({ left: 80, held: 10, used: 10 });
    await expectReconciled(db, org.orgId);
  });

  // Reported bug (migrations/20261125000003_tokengate_api.sql, reserve's replay branch): a replayed
  // reserve reads the reservation's status without touching its bucket, so a hold past its expiry
  // that nothing has swept yet is reported 'pending' (every other call expires it first).
  it('ledger: a replayed reserve reports a hold past its expiry as expired', async () => {
    const org = await freshOrg();
    const ctx = { userId: org.members[0]!, orgId: org.orgId };
    await gate.reserve(ctx, 'strategy_analysis', { idempotencyKey: 'k-replay-stale', estimate: 10, ttlSeconds: 60 });
    await db.setNow('2028-01-10T12:02:00Z');
    try {
      const replay = await gate.reserve(ctx, 'strategy_analysis', { idempotencyKey: 'k-replay-stale', estimate: 10, ttlSeconds: 60 });
      expect({ replayed: replay.replayed, status: replay.status }).toEqual({ replayed: true, status: 'expired' });
    } finally {
      await db.setNow(NOW);
    }
  });

  it('charges work delivered after its hold expired (a handler that outlived ttlSeconds), late, once', async () => {
    const org = await freshOrg();
    const { handler, errors } = setup({ estimate: 10, ttlSeconds: 30 }, async (_r, ctx) => {
      await db.setNow('2028-01-10T12:01:00Z'); // the work took a minute
      await call(db, 'expire_reservations', { p_limit: 1000 }); // and a sweep refunded the hold meanwhile
      ctx.reportUsage(8);
      return new Response('slow result');
    });
    try {
      const res = await handler(await request(org.orgId, { user: org.members[0]!, key: 'k-slow' }));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('slow result');
      expect(res.headers.get('x-tokengate-charged')).toBe('8');
      expect(errors).toEqual([]);
      expect(await available(org.orgId)).toEqual({ left: 92, held: 0, used: 8 });
      expect(await kinds(org.orgId)).toEqual(['reserve', 'expire', 'deduct']);
      await expectReconciled(db, org.orgId);
    } finally {
      await db.setNow(NOW);
    }
  });

  it('reads a slowly sent body before taking the hold, so trickling it past ttlSeconds gets nothing free', async () => {
    const org = await freshOrg();
    const { handler, runs } = setup({ estimate: 10, ttlSeconds: 30 }, async (req) => new Response(await req.text()));
    const chunks = ['{"prompt":', '"slow"}'];
    const trickle = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = chunks.shift();
        if (next === undefined) return controller.close();
        // Each chunk arrives a minute later than the one before (on the ledger's clock).
        await db.setNow(new Date(Date.parse(NOW) + (2 - chunks.length) * 60_000));
        controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const headers = new Headers({ authorization: await issuer.bearer(org.members[0]!), 'x-tokengate-org': org.orgId, 'idempotency-key': 'k-trickle' });
    try {
      const res = await handler(new Request(URL_, { method: 'POST', headers, body: trickle, duplex: 'half' } as RequestInit));
      expect(await res.text()).toBe('{"prompt":"slow"}');
      expect(res.headers.get('x-tokengate-charged')).toBe('10');
      expect(runs).toHaveLength(1);
      expect(await kinds(org.orgId)).toEqual(['reserve', 'commit']);
    } finally {
      await db.setNow(NOW);
    }
  });

  it('answers 413 for a body above maxBodyBytes, before any hold', async () => {
    const org = await freshOrg();
    const { handler, runs } = setup({ maxBodyBytes: 16 });
    const before = await fingerprint(db);
    await expectProblem(await handler(await request(org.orgId, { user: org.members[0]!, body: 'x'.repeat(17) })), 'payload_too_large');
    expect(runs).toHaveLength(0);
    expect(await fingerprint(db)).toEqual(before);
  });

  it('withholds the work (503) when the charge cannot be written after retries, and tells onError', async () => {
    const org = await freshOrg();
    let commits = 0;
    const { store } = countingStore(storeFor(db), {
      before: async (fn) => {
        if (fn === 'guard_commit' && ++commits <= 3) throw new TokenGateError('unavailable', 'The token ledger is unavailable. Try again shortly.');
      },
    });
    const errors: GuardErrorInfo[] = [];
    const handler = guard(
      {
        gate: createTokenGate({ store }),
        authenticate: supabaseAuth(issuer.authOptions),
        tokenType: 'strategy_analysis',
        onError: (_e, info) => {
          errors.push(info);
          throw new Error('a logger that throws');
        },
      },
      async () => new Response('work'),
    );
    const res = await handler(await request(org.orgId, { user: org.members[0]! }));
    await expectProblem(res, 'unavailable');
    expect(commits).toBe(3);
    expect(errors.map((e) => e.phase)).toEqual(['commit']);
    // Not charged, not delivered: the hold is refunded when it expires.
    expect(await available(org.orgId)).toEqual({ left: 90, held: 10, used: 0 });

    // One failed attempt is retried (the commit is idempotent): charged once, delivered.
    commits = 2;
    const ok = await handler(await request(org.orgId, { user: org.members[0]! }));
    expect(await ok.text()).toBe('work');
    expect(ok.headers.get('x-tokengate-charged')).toBe('10');
  });

  it('generates a key when none is sent: each request is charged (no dedup without a key)', async () => {
    const org = await freshOrg();
    const { handler } = setup();
    for (let i = 0; i < 2; i++) expect((await handler(await request(org.orgId, { user: org.members[0]! }))).status).toBe(200);
    expect(await kinds(org.orgId)).toEqual(['reserve', 'commit', 'reserve', 'commit']);
    expect(await available(org.orgId)).toEqual({ left: 80, held: 0, used: 20 });
  });

  it('validates its options', () => {
    const base = { gate, authenticate: supabaseAuth(issuer.authOptions), tokenType: 'x' } as GuardOptions;
    const h = async () => new Response();
    expect(() => guard({ ...base, gate: undefined as never }, h)).toThrow(/gate/);
    expect(() => guard({ ...base, tokenType: '' }, h)).toThrow(/tokenType/);
    expect(() => guard({ ...base, estimate: 0 }, h)).toThrow(/estimate/);
    expect(() => guard({ ...base, ttlSeconds: 0 }, h)).toThrow(/ttlSeconds/);
    expect(() => guard(base, undefined as never)).toThrow(/handler/);
  });
});
