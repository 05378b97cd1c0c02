/**
 * Faults around guarded requests, on a real Postgres server reached through a real TCP proxy that
 * the test stops and starts (node:net on loopback, forwarding to the server): the ledger becomes
 * unreachable before a request, or while the handler runs; the handler fails; the client's
 * connection drops after the work was done and it retries with the same Idempotency-Key.
 */
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { supabaseAuth } from '../../server/auth.ts';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import { guard, type GuardedHandler, type GuardErrorInfo } from '../../server/guard.ts';
import { createHandler } from '../../server/http/handler.ts';
import { toNodeHandler } from '../../server/adapters/node.ts';
import { postgresStore } from '../../server/stores/postgres-store.ts';
import type { TokenStore } from '../../server/store.ts';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { describeServer } from '../db.ts';
import { createTestIssuer, type TestIssuer } from '../jwt.ts';
import { bucket, call, createOrg, expectReconciled, type SeededOrg } from '../ledger.ts';
import { waitFor } from '../wait-for.ts';
import { expectProblem, fingerprint } from './fixture.ts';

const NOW = '2028-01-10T12:00:00Z';

/** A TCP proxy on a fixed loopback port that can be stopped (refusing connections, cutting open ones) and started again. */
class TcpProxy {
  #server: net.Server | null = null;
  #sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describeServer('guard and API under faults', (db) => {
  let proxy: TcpProxy;
  let store: TokenStore;
  let gate: TokenGate;
  let issuer: TestIssuer;
  let org: SeededOrg;
  let base: string;
  let server: Server;
  const errors: { error: unknown; info: GuardErrorInfo }[] = [];
  /** The guarded route's body, set per test; `runs` counts its calls. */
  let work: GuardedHandler = async () => new Response('ok');
  let runs = 0;

  beforeAll(async () => {
    await db().setNow(NOW);
    const url = new URL(db().url!);
    proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    await proxy.start();
    url.host = `127.0.0.1:${proxy.port}`;
    store = postgresStore({ connectionString: url.toString(), max: 4 });
    gate = createTokenGate({ store });
    issuer = await createTestIssuer();
    org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });

    const authenticate = supabaseAuth(issuer.authOptions);
    const api = toNodeHandler(createHandler({ gate, authenticate }));
    const ai = toNodeHandler(
      guard({ gate, authenticate, tokenType: 'strategy_analysis', estimate: 10, replay: 'store', onError: (error, info) => errors.push({ error, info }) }, (request, ctx) => {
        runs++;
        return work(request, ctx);
      }),
    );
    server = http.createServer((req, res) => (req.url?.startsWith('/api/tokengate/') ? api(req, res) : ai(req, res)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    await proxy?.start().catch(() => {});
    await store?.close?.();
    await proxy?.stop();
  });

  const headers = async (key?: string) => ({
    authorization: await issuer.bearer(org.members[0]!),
    'x-tokengate-org': org.orgId,
    ...(key ? { 'idempotency-key': key } : {}),
  });
  const kinds = async () =>
    (await db().query<{ kind: string }>(`select kind from tokengate.ledger where org_id = $1 and kind <> 'refresh' order by id`, [org.orgId])).map((r) => r.kind);
  const balance = async () => {
    const b = await bucket(db(), org.orgId, 'strategy_analysis');
    return b ? { left: b.allowance_remaining + b.purchased_remaining, held: b.held, used: b.used } : undefined;
  };
  const ai = async (key?: string, signal?: AbortSignal) => fetch(`${base}/api/ai`, { method: 'POST', headers: await headers(key), body: '{}', ...(signal ? { signal } : {}) });

  it('answers 503 unavailable while the database is unreachable, writes nothing, and recovers', async () => {
    work = async () => new Response('ok');
    expect((await ai()).status).toBe(200); // the pool has live connections now
    const before = await fingerprint(db());
    const runsBefore = runs;
    await proxy.stop();
    try {
      await expectProblem(await ai('down-1'), 'unavailable');
      await expectProblem(await fetch(`${base}/api/tokengate/orgs/${org.orgId}/balances`, { headers: await headers() }), 'unavailable');
      expect(runs).toBe(runsBefore); // the guarded handler never ran
      expect(await fingerprint(db())).toEqual(before);
    } finally {
      await proxy.start();
    }
    const back = await ai('down-1'); // the same key is fresh: nothing was written under it
    expect(back.status).toBe(200);
    expect(back.headers.get('x-tokengate-charged')).toBe('10');
    expect((await fetch(`${base}/api/tokengate/orgs/${org.orgId}/balances`, { headers: await headers() })).status).toBe(200);
    await expectReconciled(db(), org.orgId);
  });

  it('refunds the hold when the guarded handler throws or answers 5xx', async () => {
    const before = await balance();
    const k0 = (await kinds()).length;
    work = async () => {
      throw new Error('model crashed');
    };
    await expectProblem(await ai(), 'internal');
    work = async () => new Response('bad gateway', { status: 502 });
    const res = await ai();
    expect(res.status).toBe(502);
    expect(await res.text()).toBe('bad gateway');
    expect(await balance()).toEqual(before);
    expect((await kinds()).slice(k0)).toEqual(['reserve', 'release', 'reserve', 'release']);
    await expectReconciled(db(), org.orgId);
  });

  it('charges once and runs once when the answer is lost: the retry with the same Idempotency-Key gets the stored answer', async () => {
    const before = await balance();
    const k0 = (await kinds()).length;
    let ran!: () => void;
    const handlerRan = new Promise<void>((resolve) => (ran = resolve));
    let clientGone!: () => void;
    const dropped = new Promise<void>((resolve) => (clientGone = resolve));
    let attempt = 0;
    work = async (_request, ctx) => {
      attempt++;
      ctx.reportUsage(7);
      if (attempt === 1) {
        ran(); // the work is done…
        await dropped; // …but the client's connection drops before the answer is written
      }
      return new Response(`result ${attempt}`);
    };
    const client = new AbortController();
    const first = ai('lost-answer', client.signal).catch((e: unknown) => e);
    await handlerRan;
    client.abort();
    expect(await first).toBeInstanceOf(Error);
    clientGone();
    // The first attempt is charged server-side even though nobody read its answer.
    await waitFor(async () => (await kinds()).length >= k0 + 2, { what: 'the abandoned request to be charged (reserve + commit)' });
    expect((await kinds()).slice(k0)).toEqual(['reserve', 'commit']);

    const retry = await ai('lost-answer');
    expect(retry.status).toBe(200);
    expect(await retry.text()).toBe('result 1'); // the first run's answer, stored with its charge…
    expect(attempt).toBe(1); // …so the work did not run again
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('x-tokengate-charged')).toBe('7');
    expect((await kinds()).slice(k0)).toEqual(['reserve', 'commit']);
    expect(await balance()).toEqual({ left: before!.left - 7, held: 0, used: before!.used + 7 });
    await expectReconciled(db(), org.orgId);
  });

  it('withholds the work (503) when the database drops while the handler runs; the hold is refunded by expiry once it is back', async () => {
    const before = await balance();
    const k0 = (await kinds()).length;
    errors.length = 0;
    work = async () => {
      await proxy.stop(); // the ledger goes away mid-flight
      return new Response('finished anyway');
    };
    try {
      // Delivered work is always charged: what cannot be charged is not delivered.
      const res = await ai('mid-flight');
      await expectProblem(res, 'unavailable');
      expect(errors.map((e) => [e.info.phase, (e.error as TokenGateError).code])).toEqual([['commit', 'unavailable']]);
    } finally {
      await proxy.start();
    }
    expect(await balance()).toEqual({ left: before!.left - 10, held: 10, used: before!.used });
    // After the hold's ttl (300 s), the sweep refunds it.
    await db().setNow('2028-01-10T12:10:00Z');
    try {
      await call(db(), 'expire_reservations', { p_limit: 100 });
    } finally {
      await db().setNow(NOW);
    }
    expect(await balance()).toEqual(before);
    expect((await kinds()).slice(k0)).toEqual(['reserve', 'expire']);
    await expectReconciled(db(), org.orgId);
  });

  it('logs a refund that cannot be written; the hold is refunded by expiry', async () => {
    const before = await balance();
    errors.length = 0;
    work = async () => {
      await proxy.stop();
      throw new Error('model crashed while the database was away');
    };
    try {
      await expectProblem(await ai('release-down'), 'internal');
      expect(errors.map((e) => e.info.phase)).toEqual(['handler', 'release']);
      expect((errors[1]!.error as TokenGateError).code).toBe('unavailable');
    } finally {
      await proxy.start();
    }
    expect((await balance())!.held).toBe(10);
    await db().setNow('2028-01-10T12:10:00Z');
    try {
      await call(db(), 'expire_reservations', { p_limit: 100 });
    } finally {
      await db().setNow(NOW);
    }
    expect(await balance()).toEqual(before);
    await expectReconciled(db(), org.orgId);
  });
});
