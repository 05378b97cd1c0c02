/**
 * The alert webhook worker on a real ledger (PGlite and the Postgres server) against a real
 * receiver on a loopback port (test/webhooks/receiver.ts). Alerts are made the way an app makes
 * them — charging an organization below 20 % of its allowance and to zero, a member to their
 * quota, a hold left to expire, a month passing — never by inserting rows.
 *
 * The ledger's clock is the gate's `now` (moved forward to make retries due); the worker's own
 * timeouts and the receiver's signature check run on the real clock.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeEachDb, describeServer, type TestDb } from '../../test/db.ts';
import { storeFor } from '../../test/http/fixture.ts';
import { createOrg, type SeededOrg } from '../../test/ledger.ts';
import { waitFor } from '../../test/wait-for.ts';
import { startReceiver, type Answer, type ReceivedRequest, type Receiver } from '../../test/webhooks/receiver.ts';
import { createTokenGate, type TokenGate } from '../gate.ts';
import { postgresStore } from '../stores/postgres-store.ts';
import type { Alert } from '../alert.ts';
import { createAlertWorker, type AlertWorker, type AlertWorkerOptions } from './create-alert-worker.ts';
import { verifyWebhook } from './verify-webhook.ts';
import { WEBHOOK_EVENT_TYPES, alertEvent, webhookId, type TokenGateWebhookEvent } from './webhook-event.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const ANCHOR = '2028-01-01T00:00:00Z';

/** The request a receiver got, as the app's route handler sees it. */
function asRequest(received: ReceivedRequest, url = 'http://127.0.0.1/webhooks/tokengate'): Request {
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'webhook-id', 'webhook-timestamp', 'webhook-signature']) headers[name] = received.headers[name] ?? '';
  return new Request(url, { method: 'POST', headers, body: received.body });
}

/** The shared setup of both suites: a gate on a movable clock, receivers closed after each test. */
function harness(getDb: () => TestDb) {
  const h = {
    db: undefined as unknown as TestDb,
    gate: undefined as unknown as TokenGate,
    clock: Date.parse('2028-01-10T12:00:00Z'),
    receivers: [] as Receiver[],
    errors: [] as unknown[],
  };
  beforeAll(() => {
    h.db = getDb();
    h.gate = createTokenGate({ store: storeFor(h.db), now: () => new Date(h.clock) });
  });
  beforeEach(async () => {
    // Each test delivers or fails what it made: one left pending would go to the next test's receiver.
    expect(await h.gate.listAlerts({ status: 'pending' }), 'alerts left pending by an earlier test').toEqual([]);
    h.errors = [];
  });
  afterEach(async () => {
    await Promise.all(h.receivers.splice(0).map((r) => r.close()));
    // A test that failed half-way may leave alerts due or leased: deliver them to a sink, so that
    // only that test fails.
    if ((await h.gate.listAlerts({ status: 'pending' })).length > 0) {
      const sink = await startReceiver(SECRET);
      h.clock += 3_600_000;
      await createAlertWorker({ gate: h.gate, url: sink.url, secret: SECRET }).drain();
      await sink.close();
    }
    expect(h.errors, 'errors reported to onError').toEqual([]);
  });
  return h;
}

describeEachDb('alert webhooks', (getDb) => {
  const h = harness(getDb);

  const receiver = async (answer?: (request: ReceivedRequest, n: number) => Answer) => {
    const r = await startReceiver(SECRET, answer);
    h.receivers.push(r);
    return r;
  };
  const worker = (url: string, options: Partial<AlertWorkerOptions> = {}): AlertWorker =>
    createAlertWorker({
      gate: h.gate,
      url,
      secret: SECRET,
      // Generous: the receiver and PGlite share this process's event loop on a loaded machine.
      timeoutMs: 2000,
      leaseSeconds: 5,
      retry: { baseSeconds: 5, maxSeconds: 60 },
      onError: (error) => h.errors.push(error),
      ...options,
    });

  /** A new organization charged below 20 % of its goal_generation allowance (20), then to 0. */
  async function exhaust(): Promise<{ org: SeededOrg; alerts: Alert[] }> {
    const org = await createOrg(h.db, { plan: 'pro', anchor: ANCHOR });
    const ctx = { orgId: org.orgId, userId: org.owner };
    await h.gate.deduct(ctx, 'goal_generation', { idempotencyKey: randomUUID(), units: 17 }); // 3 left: below 4
    await h.gate.deduct(ctx, 'goal_generation', { idempotencyKey: randomUUID(), units: 3 }); // 0 left
    const alerts = (await h.gate.listAlerts({ orgId: org.orgId })).reverse();
    expect(alerts.map((a) => [a.type, a.threshold, a.available])).toEqual([
      ['low', 4, 3],
      ['exhausted', 0, 0],
    ]);
    return { org, alerts };
  }

  /** Drain, move the clock past every backoff, again, until none of `alerts` is pending. Returns the rounds. */
  async function settle(w: AlertWorker, alerts: Alert[]): Promise<number> {
    const ids = new Set(alerts.map((a) => a.alertId));
    for (let round = 1; round <= 30; round++) {
      await w.drain();
      const pending = (await h.gate.listAlerts({ status: 'pending' })).filter((a) => ids.has(a.alertId));
      if (pending.length === 0) return round;
      h.clock += 2 * 60_000; // past the longest backoff here (60 s + 20 %) and the lease
    }
    throw new Error('alerts still pending after 30 drains');
  }

  it('delivers every alert exactly once to a receiver that fails the first attempts (500, timeout, reset, lost answer), then stops sending', async () => {
    const alerts = [...(await exhaust()).alerts, ...(await exhaust()).alerts];
    const ids = alerts.map((a) => webhookId(a.alertId));
    const script: Record<string, Answer[]> = {
      [ids[0]!]: [{ kind: 'status', status: 500, body: '<html>\n  upstream   exploded\n</html>' }, { kind: 'status', status: 503 }],
      [ids[1]!]: [{ kind: 'hang' }],
      [ids[2]!]: [{ kind: 'reset' }],
      [ids[3]!]: [{ kind: 'process-then-hang' }],
    };
    const r = await receiver((request, n) => script[request.id]?.[n - 1] ?? { kind: 'ok' });
    const w = worker(r.url);

    const first = await w.drain();
    expect(first).toMatchObject({ claimed: 4, delivered: 0, retrying: 4, failed: 0, deferred: 0, unrecorded: 0 });
    // Backed off: nothing is due again before its time, so nothing is sent.
    expect((await w.drain()).claimed).toBe(0);
    expect(r.requests).toHaveLength(4);

    await settle(w, alerts);

    // Every alert reached the receiver's processing; after dedupe by webhook-id, each exactly once.
    expect(new Set(r.processed.keys())).toEqual(new Set(ids));
    // The lost answer's alert arrived twice: the duplicate a receiver must drop by webhook-id.
    expect(Object.fromEntries(r.processed)).toEqual({ [ids[0]!]: 1, [ids[1]!]: 1, [ids[2]!]: 1, [ids[3]!]: 2 });
    // One 2xx per alert; every request signed with the secret.
    for (const id of ids) expect(r.requests.filter((q) => q.id === id && q.answer === 'ok'), id).toHaveLength(1);
    expect(r.requests.map((q) => q.verified)).not.toContain(false);
    expect(ids.map(r.count)).toEqual([3, 2, 2, 2]);

    // The delivery log, attempt by attempt.
    const log = await Promise.all(alerts.map((a) => h.gate.alertDeliveries(a.alertId)));
    expect(log.map((attempts) => attempts.map((d) => [d.attempt, d.ok, d.status]))).toEqual([
      [[1, false, 500], [2, false, 503], [3, true, 204]],
      [[1, false, null], [2, true, 204]],
      [[1, false, null], [2, true, 204]],
      [[1, false, null], [2, true, 204]],
    ]);
    expect(log[0]![0]!.error).toBe('HTTP 500: <html> upstream exploded </html>');
    expect(log[0]![1]!.error).toBe('HTTP 503');
    expect(log[1]![0]!.error).toBe('timed out after 2000 ms');
    expect(log[2]![0]!.error).toMatch(/^fetch failed: (ECONNRESET|UND_ERR_SOCKET)/);
    expect(log[3]![0]!.error).toBe('timed out after 2000 ms');
    for (const attempts of log) expect(attempts.at(-1)!.error).toBeNull();

    // Delivered is final: later drains, however late, send nothing.
    const after = await h.gate.listAlerts({ status: 'delivered' });
    expect(after.filter((a) => ids.includes(webhookId(a.alertId))).map((a) => [a.status, a.nextAttemptAt])).toEqual(ids.map(() => ['delivered', null]));
    const sent = r.requests.length;
    h.clock += 7 * 86_400_000;
    expect((await w.drain()).claimed).toBe(0);
    expect(r.requests).toHaveLength(sent);
  });

  it('signs each webhook so that the library and verifyWebhook accept it, and refuse it tampered or replayed late', async () => {
    const { alerts } = await exhaust();
    const r = await receiver();
    expect(await worker(r.url).drain()).toMatchObject({ claimed: 2, delivered: 2 });
    expect(r.requests.map((q) => q.verified)).toEqual([true, true]);
    const low = r.requests.find((q) => q.id === webhookId(alerts[0]!.alertId))!;
    expect(low.headers['content-type']).toBe('application/json');
    expect(low.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(Math.abs(Number(low.timestamp) - Date.now() / 1000)).toBeLessThan(300);

    const event = await verifyWebhook(asRequest(low), SECRET);
    expect(event).toEqual(alertEvent(alerts[0]!));
    expect(JSON.parse(low.body)).toEqual(event);
    expect(event).toMatchObject({ type: 'tokengate.alert.low', data: { alertId: alerts[0]!.alertId, orgId: alerts[0]!.orgId, tokenType: 'goal_generation', threshold: 4, available: 3 } });

    const tampered = (change: (q: ReceivedRequest) => ReceivedRequest) => verifyWebhook(asRequest(change({ ...low, headers: { ...low.headers } })), SECRET);
    const cases: [string, Promise<unknown>][] = [
      ['body', tampered((q) => ({ ...q, body: q.body.replace('"available":3', '"available":30') }))],
      ['timestamp', tampered((q) => ({ ...q, headers: { ...q.headers, 'webhook-timestamp': String(Number(q.timestamp) + 1) } }))],
      ['signature', tampered((q) => ({ ...q, headers: { ...q.headers, 'webhook-signature': q.signature.replace(/^v1,./, (s) => `v1,${s.endsWith('A') ? 'B' : 'A'}`) } }))],
      ['id', tampered((q) => ({ ...q, headers: { ...q.headers, 'webhook-id': webhookId(alerts[1]!.alertId) } }))],
      ['secret', verifyWebhook(asRequest(low), `whsec_${randomBytes(32).toString('base64')}`)],
    ];
    for (const [label, attempt] of cases) await expect(attempt, label).rejects.toMatchObject({ code: 'invalid_signature', status: 400 });

    // A captured request replayed after the tolerance: its signature is genuine, its timestamp too old.
    const capturedLate = { ...low, headers: { ...low.headers } };
    const sixMinutesAgo = new Date(Date.now() - 6 * 60_000);
    const { Webhook } = await import('standardwebhooks');
    capturedLate.headers['webhook-timestamp'] = String(Math.floor(sixMinutesAgo.getTime() / 1000));
    capturedLate.headers['webhook-signature'] = new Webhook(SECRET).sign(low.id, sixMinutesAgo, low.body);
    await expect(verifyWebhook(asRequest(capturedLate), SECRET)).rejects.toMatchObject({ code: 'invalid_signature', message: expect.stringMatching(/too old/) });
  });

  it('sends every kind of alert as its typed event: low, exhausted, member_quota_reached, expired_hold, refreshed', async () => {
    const org = await createOrg(h.db, { plan: 'pro', anchor: ANCHOR, members: 1 });
    const owner = { orgId: org.orgId, userId: org.owner };
    const member = { orgId: org.orgId, userId: org.members[0]! };
    await h.gate.deduct(owner, 'goal_generation', { idempotencyKey: randomUUID(), units: 20 }); // low and exhausted at once
    await h.gate.setMemberQuota({ orgId: org.orgId, actorId: null }, member.userId, 'lead_generation', 4);
    await h.gate.deduct(member, 'lead_generation', { idempotencyKey: randomUUID(), units: 2 }); // 2 × 2 tokens: the quota
    const hold = await h.gate.reserve(owner, 'quest_generation', { idempotencyKey: randomUUID(), ttlSeconds: 60 });
    h.clock += 2 * 60_000;
    expect((await h.gate.expireReservations()).expired).toBeGreaterThanOrEqual(1);
    h.clock += 32 * 86_400_000; // the next period
    await h.gate.balances(owner);

    const alerts = await h.gate.listAlerts({ orgId: org.orgId });
    const r = await receiver();
    expect(await worker(r.url).drain()).toMatchObject({ claimed: alerts.length, delivered: alerts.length });
    const events = new Map<number, TokenGateWebhookEvent>();
    for (const q of r.requests) {
      const event = await verifyWebhook(asRequest(q), SECRET);
      events.set(event.data.alertId, event);
    }
    expect([...new Set([...events.values()].map((e) => e.type))].sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    for (const alert of alerts) expect(events.get(alert.alertId), alert.type).toEqual(alertEvent(alert));
    for (const event of events.values()) {
      expect(event.data.orgId).toBe(org.orgId);
      switch (event.type) {
        case 'tokengate.alert.member_quota_reached':
          expect(event.data).toMatchObject({ userId: member.userId, tokenType: 'lead_generation', threshold: 4 });
          break;
        case 'tokengate.alert.expired_hold':
          expect(event.data).toMatchObject({ reservationId: hold.reservationId, tokenType: 'quest_generation' });
          break;
        case 'tokengate.alert.refreshed':
          expect(Date.parse(event.data.periodStart!)).toBeGreaterThan(Date.parse('2028-02-01T00:00:00Z') - 1);
          break;
        default:
          expect(event.data.tokenType).toBe('goal_generation');
      }
    }
  });

  it('replays an alert with the same webhook-id and body: the receiver can tell it already handled it', async () => {
    const { alerts } = await exhaust();
    const r = await receiver();
    const w = worker(r.url);
    expect(await w.drain()).toMatchObject({ delivered: 2 });
    const [low, exhausted] = alerts as [Alert, Alert];

    const replayed = await h.gate.replayAlert(low.alertId);
    expect(replayed).toMatchObject({ alertId: low.alertId, status: 'pending', attempts: 0 });
    expect(await w.drain()).toMatchObject({ claimed: 1, delivered: 1 });
    const both = r.requests.filter((q) => q.id === webhookId(low.alertId));
    expect(both).toHaveLength(2);
    expect(both[1]!.body).toBe(both[0]!.body);
    expect(both.map((q) => q.verified)).toEqual([true, true]);
    expect((await verifyWebhook(asRequest(both[1]!), SECRET)).data.alertId).toBe(low.alertId);
    expect(r.processed.get(webhookId(low.alertId))).toBe(2); // dedupe on webhook-id drops the second
    expect(r.count(webhookId(exhausted.alertId))).toBe(1);
    expect((await h.gate.alertDeliveries(low.alertId)).map((d) => [d.attempt, d.ok])).toEqual([
      [1, true],
      [2, true],
    ]);
    expect((await w.drain()).claimed).toBe(0);
  });

  it('gives up after maxAttempts: the alert is failed, never sent again, until replayed', async () => {
    const { alerts } = await exhaust();
    let healthy = false;
    const r = await receiver(() => (healthy ? { kind: 'ok' } : { kind: 'status', status: 500, body: 'down for maintenance' }));
    const w = worker(r.url, { retry: { baseSeconds: 1, maxSeconds: 10, maxAttempts: 3 } });
    await settle(w, alerts);
    const ids = alerts.map((a) => webhookId(a.alertId));
    expect(ids.map(r.count)).toEqual([3, 3]);
    const failed = (await h.gate.listAlerts({ status: 'failed' })).filter((a) => alerts.some((x) => x.alertId === a.alertId));
    expect(failed.map((a) => [a.status, a.attempts, a.lastStatus, a.lastError, a.nextAttemptAt])).toEqual(
      alerts.map(() => ['failed', 3, 500, 'HTTP 500: down for maintenance', null]),
    );
    h.clock += 86_400_000;
    expect((await w.drain()).claimed).toBe(0);
    expect(r.requests).toHaveLength(6);

    healthy = true;
    await h.gate.replayAlert(alerts[0]!.alertId);
    expect(await w.drain()).toMatchObject({ claimed: 1, delivered: 1 });
    expect((await h.gate.alertDeliveries(alerts[0]!.alertId)).map((d) => d.ok)).toEqual([false, false, false, true]);
  });

  it('does not start a delivery that could outlast its lease: it is left for the next drain, never sent twice', async () => {
    const alerts = [...(await exhaust()).alerts, ...(await exhaust()).alerts];
    let first = true;
    const r = await receiver(() => {
      if (!first) return { kind: 'ok' };
      first = false;
      // The first answer takes longer than the time left for starting another delivery in this lease.
      return { kind: 'hold', released: new Promise((resolve) => setTimeout(resolve, 1500)) };
    });
    // lease 4 s, 10 % spare, 3 s timeout: deliveries may start in the first 600 ms after the claim.
    const w = worker(r.url, { leaseSeconds: 4, timeoutMs: 3000, concurrency: 1 });
    const result = await w.drain();
    expect(result.claimed).toBe(4);
    expect(result.deferred).toBeGreaterThanOrEqual(3);
    expect(result.delivered + result.deferred).toBe(4);
    expect(r.requests).toHaveLength(result.delivered);
    // Still leased: not claimed again until the lease ends.
    expect((await w.drain()).claimed).toBe(0);
    h.clock += 5000;
    await settle(w, alerts);
    for (const a of alerts) expect(r.count(webhookId(a.alertId)), String(a.alertId)).toBe(1);
  });

  it('never follows a redirect: the signed event does not go to another host, and the attempt failed', async () => {
    const { alerts } = await exhaust();
    const elsewhere = await receiver();
    const r = await receiver(() => ({ kind: 'status', status: 307, headers: { location: elsewhere.url } }));
    expect(await worker(r.url, { retry: { maxAttempts: 1 } }).drain()).toMatchObject({ claimed: 2, failed: 2 });
    expect(elsewhere.requests).toEqual([]);
    expect((await h.gate.alertDeliveries(alerts[0]!.alertId)).map((d) => [d.ok, d.status, d.error])).toEqual([[false, 307, 'HTTP 307']]);
  });

  it('is server only: a member of the organization can neither read, claim, record nor replay alerts', async () => {
    const { org, alerts } = await exhaust();
    const id = alerts[0]!.alertId;
    const statements = [
      'select * from tokengate.alerts',
      'select * from tokengate.webhook_deliveries',
      'select tokengate.claim_alerts(10, 60)',
      `select tokengate.record_delivery(${id}, true)`,
      `select tokengate.replay_alert(${id})`,
      `select tokengate.list_alerts(null, '${org.orgId}', 10)`,
      `select tokengate.alert_deliveries(${id})`,
    ];
    for (const sql of statements) {
      for (const who of [{ role: 'authenticated' as const, userId: org.owner }, { role: 'anon' as const }]) {
        await expect(h.db.as(who, (q) => q.query(sql)), `${who.role}: ${sql}`).rejects.toMatchObject({ code: '42501' });
      }
    }
    // Nothing was claimed: both are still due, and go out now.
    const r = await receiver();
    expect(await worker(r.url).drain()).toMatchObject({ claimed: 2, delivered: 2 });
  });

  it('start() drains on an interval until stopped', async () => {
    const { alerts } = await exhaust();
    const r = await receiver();
    const stop = worker(r.url).start(20);
    await waitFor(() => r.requests.length === 2, { what: 'both alerts delivered by the interval' });
    await stop();
    const more = await exhaust();
    const after = r.requests.length;
    // Stopped: the new alerts stay pending (and are delivered here, so the next test starts clean).
    expect((await h.gate.listAlerts({ status: 'pending' })).map((a) => a.alertId).sort()).toEqual(more.alerts.map((a) => a.alertId).sort());
    expect(r.requests).toHaveLength(after);
    expect(alerts.map((a) => r.count(webhookId(a.alertId)))).toEqual([1, 1]);
    expect(await worker(r.url).drain()).toMatchObject({ delivered: 2 });
  });
});

describeServer('alert webhooks, two workers at once', (getDb) => {
  const h = harness(getDb);

  it('never sends one alert from two workers at the same time: each claimed batch is leased to one', async () => {
    const orgs = await Promise.all([0, 1, 2].map(() => createOrg(h.db, { plan: 'pro', anchor: ANCHOR })));
    for (const org of orgs) {
      const ctx = { orgId: org.orgId, userId: org.owner };
      await h.gate.deduct(ctx, 'goal_generation', { idempotencyKey: randomUUID(), units: 17 });
      await h.gate.deduct(ctx, 'goal_generation', { idempotencyKey: randomUUID(), units: 3 });
    }
    const alerts = await h.gate.listAlerts({ status: 'pending' });
    expect(alerts).toHaveLength(6);

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const r = await startReceiver(SECRET, () => ({ kind: 'hold', released }));
    h.receivers.push(r);
    // Two workers, each on its own connection (as on two machines), on the same ledger clock.
    const gates = [0, 1].map(() => createTokenGate({ store: postgresStore({ pool: h.db.pool(1) }), now: () => new Date(h.clock) }));
    const workers = gates.map((gate) =>
      createAlertWorker({ gate, url: r.url, secret: SECRET, batchSize: 3, concurrency: 3, leaseSeconds: 60, timeoutMs: 30_000, onError: (e) => h.errors.push(e) }),
    );
    const drains = Promise.all(workers.map((w) => w.drain()));
    // Every alert is in flight at once before any is answered: the two batches are disjoint.
    await waitFor(() => r.requests.length === 6, { what: 'all six alerts in flight' });
    expect(r.maxInFlightPerId()).toBe(1);
    release();
    const results = await drains;
    expect(results.map((x) => x.claimed)).toEqual([3, 3]);
    expect(results.map((x) => x.delivered)).toEqual([3, 3]);
    expect(new Set(r.requests.map((q) => q.id))).toEqual(new Set(alerts.map((a) => webhookId(a.alertId))));
    expect(r.requests).toHaveLength(6);
    expect((await Promise.all(workers.map((w) => w.drain()))).map((x) => x.claimed)).toEqual([0, 0]);
  });
});

describe('createAlertWorker options', () => {
  const gate = { claimAlerts: async () => [], recordDelivery: async () => ({}) as Alert };
  const base = { gate, url: 'https://app.example.com/hook', secret: SECRET };

  it('refuses a bad configuration at once with a TypeError', () => {
    const bad: Partial<AlertWorkerOptions>[] = [
      { gate: undefined as never },
      { url: 'ftp://app.example.com/hook' },
      { url: '/relative' },
      { secret: 'hunter2' },
      { secret: `whsec_${randomBytes(8).toString('base64')}` },
      { batchSize: 0 },
      { batchSize: 1001 },
      { concurrency: 0 },
      { leaseSeconds: 10, timeoutMs: 9500 },
      { retry: { maxAttempts: 0 } },
      { retry: { baseSeconds: -1 } },
      { retry: { maxSeconds: Number.NaN } },
    ];
    for (const options of bad) expect(() => createAlertWorker({ ...base, ...options }), JSON.stringify(options)).toThrow(TypeError);
    expect(() => createAlertWorker(base)).not.toThrow();
  });

  it('a drain that cannot reach the gate rejects; under start() it goes to onError and the interval goes on', async () => {
    let calls = 0;
    const errors: unknown[] = [];
    const failing = { ...gate, claimAlerts: async () => { calls++; throw new Error('database down'); } };
    const w = createAlertWorker({ ...base, gate: failing, onError: (e) => errors.push(e) });
    await expect(w.drain()).rejects.toThrow('database down');
    const stop = w.start(5);
    await waitFor(() => errors.length >= 2, { what: 'two failed drains reported' });
    await stop();
    expect(errors[0]).toMatchObject({ message: 'database down' });
    expect(calls).toBe(errors.length + 1);
  });
});
