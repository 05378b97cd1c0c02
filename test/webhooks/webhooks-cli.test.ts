/**
 * `tokengate webhooks list|deliveries|replay|drain` run in-process (the command's function with a
 * captured Io, as `main` calls it) against a fresh database on the Postgres server, with alerts
 * made by charging organizations and a receiver on a loopback port.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CommandError, UsageError } from '../../cli/errors.ts';
import { WEBHOOKS_HELP, webhooks } from '../../cli/webhooks.ts';
import type { Alert } from '../../server/alert.ts';
import { createTokenGate, type TokenGate } from '../../server/gate.ts';
import { createAlertWorker } from '../../server/webhooks/create-alert-worker.ts';
import { verifyWebhook } from '../../server/webhooks/verify-webhook.ts';
import { webhookId } from '../../server/webhooks/webhook-event.ts';
import { describeServer, type TestDb } from '../db.ts';
import { storeFor } from '../http/fixture.ts';
import { createOrg } from '../ledger.ts';
import { startReceiver, type Receiver } from './receiver.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const UNREACHABLE = ['--database-url', 'postgres://postgres@127.0.0.1:1/unreachable'];

interface Run {
  code: number;
  out: string[];
  err: string[];
}

/** The environment of the CLI runs: DATABASE_URL and the secret, once the database exists. */
let env: NodeJS.ProcessEnv = {};

/** Runs `tokengate webhooks …args` as `main` would: exit 2 for a UsageError, 1 for a CommandError. */
async function cli(args: string[], environment: NodeJS.ProcessEnv = env): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
  try {
    return { code: await webhooks(args, io, environment), out, err };
  } catch (error) {
    if (error instanceof UsageError) return { code: 2, out, err: [...err, error.message] };
    if (error instanceof CommandError) return { code: 1, out, err: [...err, error.message] };
    throw error;
  }
}

function expectOneLineFailure(run: Run, code: 1 | 2, label: string): void {
  expect({ label, code: run.code, out: run.out, lines: run.err.length }).toEqual({ label, code, out: [], lines: 1 });
  expect(run.err[0], label).toMatch(/^tokengate webhooks/);
}

describeServer('tokengate webhooks (CLI)', (getDb) => {
  let db: TestDb;
  let gate: TokenGate;
  let receiver: Receiver;
  let alerts: Alert[];
  let orgId: string;

  beforeAll(async () => {
    db = getDb();
    env = { DATABASE_URL: db.url!, TOKENGATE_WEBHOOK_SECRET: SECRET };
    gate = createTokenGate({ store: storeFor(db) });
    receiver = await startReceiver(SECRET);
    const org = await createOrg(db, { plan: 'pro' });
    orgId = org.orgId;
    const ctx = { orgId, userId: org.owner };
    await gate.deduct(ctx, 'goal_generation', { idempotencyKey: randomUUID(), units: 17 });
    await gate.deduct(ctx, 'goal_generation', { idempotencyKey: randomUUID(), units: 3 });
    alerts = (await gate.listAlerts({ orgId })).reverse();
    expect(alerts.map((a) => a.type)).toEqual(['low', 'exhausted']);
  });

  afterAll(async () => {
    await receiver?.close();
  });

  it('has --help, and reports wrong arguments in one line with exit code 2 before touching the database', async () => {
    expect(await cli(['--help'], {})).toEqual({ code: 0, out: [WEBHOOKS_HELP], err: [] });
    expect(await cli(['list', '--help'])).toMatchObject({ code: 0, out: [WEBHOOKS_HELP] });
    expect((await cli([], {})).code).toBe(2);
    const secretless = { DATABASE_URL: UNREACHABLE[1] };
    const cases: [string[], NodeJS.ProcessEnv?][] = [
      [['frob']],
      [['list']], // no database url
      [['list', ...UNREACHABLE, '--status', 'lost']],
      [['list', ...UNREACHABLE, '--limit', '0']],
      [['list', ...UNREACHABLE, '--limit', '1001']],
      [['list', ...UNREACHABLE, '--org', 'acme']],
      [['list', ...UNREACHABLE, '--url', 'https://x.test']],
      [['list', '7', ...UNREACHABLE]],
      [['replay', ...UNREACHABLE]],
      [['replay', 'abc', ...UNREACHABLE]],
      [['replay', '0', ...UNREACHABLE]],
      [['replay', '1', ...UNREACHABLE, '--json']],
      [['deliveries', '-1', ...UNREACHABLE]],
      [['deliveries', '1', ...UNREACHABLE, '--status', 'failed']],
      [['drain', ...UNREACHABLE], env],
      [['drain', ...UNREACHABLE, '--url', 'https://app.test/hook'], secretless],
      [['drain', ...UNREACHABLE, '--url', 'https://app.test/hook', '--secret-env', 'NOPE'], env],
      [['drain', ...UNREACHABLE, '--url', 'ftp://app.test/hook'], env],
      [['drain', ...UNREACHABLE, '--url', 'https://app.test/hook'], { ...secretless, TOKENGATE_WEBHOOK_SECRET: 'hunter2' }],
      [['drain', ...UNREACHABLE, '--url', 'https://app.test/hook', '--timeout-ms', 'soon'], env],
    ];
    for (const [args, environment] of cases) expectOneLineFailure(await cli(args, environment ?? {}), 2, args.join(' '));
    // The secret itself never appears in a message.
    const short = await cli(['drain', ...UNREACHABLE, '--url', 'https://app.test/hook'], { TOKENGATE_WEBHOOK_SECRET: 'whsec_c2hvcnQ=' });
    expect(short.err.join('\n')).not.toContain('c2hvcnQ');
    expect(short.err[0]).toMatch(/\$TOKENGATE_WEBHOOK_SECRET must be a Standard Webhooks secret/);
  });

  it('list shows the alerts newest first as a table, or as JSON', async () => {
    const table = await cli(['list', '--org', orgId]);
    expect(table.code, table.err.join('\n')).toBe(0);
    expect(table.out[0]).toMatch(/^alert +status +type +org +token type +attempts +created +delivery$/);
    expect(table.out.slice(1).map((line) => line.trim().split(/\s+/).slice(0, 5))).toEqual(
      [alerts[1]!, alerts[0]!].map((a) => [String(a.alertId), 'pending', a.type, orgId, 'goal_generation']),
    );
    expect(table.out[1]).toMatch(/ due \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/);
    const json = await cli(['list', '--org', orgId, '--json']);
    expect(JSON.parse(json.out.join('\n'))).toEqual(await gate.listAlerts({ orgId }));
    expect((await cli(['list', '--status', 'delivered', '--org', orgId])).out).toEqual(['No alerts.']);
    expect((await cli(['list', '--org', orgId, '--limit', '1', '--json'])).out.join('\n')).toContain(`"alertId": ${alerts[1]!.alertId}`);
  });

  it('drain delivers every due alert once, signed with the secret from the environment', async () => {
    const run = await cli(['drain', '--url', receiver.url], env);
    expect(run, run.err.join('\n')).toEqual({ code: 0, out: ['Claimed 2 alert(s): 2 delivered, 0 to retry, 0 failed for good, 0 deferred, 0 not recorded.'], err: [] });
    expect(receiver.requests.map((q) => q.id).sort()).toEqual(alerts.map((a) => webhookId(a.alertId)).sort());
    expect(receiver.requests.map((q) => q.verified)).toEqual([true, true]);
    const again = await cli(['drain', '--url', receiver.url, '--secret-env', 'MY_SECRET'], { DATABASE_URL: db.url!, MY_SECRET: SECRET });
    expect(again.out).toEqual(['No alerts were due.']);
    const listed = await cli(['list', '--org', orgId, '--status', 'delivered']);
    expect(listed.out.slice(1).map((line) => line.trim().split(/\s+/)[1])).toEqual(['delivered', 'delivered']);
    expect(listed.out[1]).toMatch(/ delivered \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/);
  });

  it('deliveries shows one alert\'s attempts; replay sends it again with the same webhook-id', async () => {
    const low = alerts[0]!;
    const log = await cli(['deliveries', String(low.alertId)], env);
    expect(log.code, log.err.join('\n')).toBe(0);
    expect(log.out[0]).toMatch(/^attempt +attempted at +result +status +ms +error$/);
    expect(log.out.slice(1).map((line) => line.trim().split(/\s+/).filter((_, i) => i !== 1 && i !== 2 && i !== 5))).toEqual([['1', 'ok', '204']]);

    const replay = await cli(['replay', String(low.alertId)], env);
    expect(replay).toEqual({
      code: 0,
      out: [`Alert ${low.alertId} (low, goal_generation, org ${orgId}) is pending again and due now; the next drain sends it with webhook-id ${webhookId(low.alertId)}.`],
      err: [],
    });
    expect((await cli(['list', '--status', 'pending', '--json'], env)).out.join('\n')).toContain(`"alertId": ${low.alertId}`);
    expect((await cli(['drain', '--url', receiver.url], env)).out[0]).toMatch(/^Claimed 1 alert\(s\): 1 delivered/);
    const both = receiver.requests.filter((q) => q.id === webhookId(low.alertId));
    expect(both).toHaveLength(2);
    expect(both[1]!.body).toBe(both[0]!.body);
    expect(JSON.parse((await cli(['deliveries', String(low.alertId), '--json'], env)).out.join('\n'))).toMatchObject([
      { attempt: 1, ok: true, status: 204 },
      { attempt: 2, ok: true, status: 204 },
    ]);
  });

  it('lists alerts that failed for good with their last error; a replay of one lets the next drain deliver it', async () => {
    const org = await createOrg(db, { plan: 'pro' });
    await gate.deduct({ orgId: org.orgId, userId: org.owner }, 'goal_generation', { idempotencyKey: randomUUID(), units: 20 });
    const made = await gate.listAlerts({ orgId: org.orgId });
    expect(made).toHaveLength(2);
    const down = await startReceiver(SECRET, () => ({ kind: 'status', status: 502, body: 'Bad Gateway' }));
    try {
      const worker = createAlertWorker({ gate, url: down.url, secret: SECRET, retry: { maxAttempts: 1 } });
      expect(await worker.drain()).toMatchObject({ claimed: 2, failed: 2 });
      // The CLI's own drain reports failed attempts, one line each.
      await gate.replayAlert(made[0]!.alertId);
      const drained = await cli(['drain', '--url', down.url], env);
      expect(drained.out).toEqual([
        'Claimed 1 alert(s): 0 delivered, 1 to retry, 0 failed for good, 0 deferred, 0 not recorded.',
        `  alert ${made[0]!.alertId} (${made[0]!.type}): HTTP 502: Bad Gateway → pending`,
      ]);
    } finally {
      await down.close();
    }

    const listed = await cli(['list', '--status', 'failed'], env);
    expect(listed.out.slice(1).map((line) => line.trim().split(/\s+/).slice(0, 3))).toEqual([[String(made[1]!.alertId), 'failed', made[1]!.type]]);
    expect(listed.out[1]).toMatch(/ gave up: HTTP 502: Bad Gateway$/);
    const log = await cli(['deliveries', String(made[1]!.alertId)], env);
    expect(log.out[1]).toMatch(/^ +1 +\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z +failed +502 +\d+ +HTTP 502: Bad Gateway$/);

    expect((await cli(['replay', String(made[1]!.alertId)], env)).code).toBe(0);
    const drained = await cli(['drain', '--url', receiver.url], env);
    expect(drained.out[0]).toMatch(/^Claimed 1 alert\(s\): 1 delivered/);
    const [delivered] = receiver.requests.filter((q) => q.id === webhookId(made[1]!.alertId));
    const headers = Object.fromEntries(Object.entries(delivered!.headers).filter(([name]) => name.startsWith('webhook-')));
    const event = await verifyWebhook(new Request(receiver.url, { method: 'POST', headers, body: delivered!.body }), SECRET);
    expect(event.data).toMatchObject({ alertId: made[1]!.alertId, orgId: org.orgId });
  });

  it('reports an unknown alert, and an unreachable database, in one line with exit code 1', async () => {
    expectOneLineFailure(await cli(['replay', '987654321'], env), 1, 'replay unknown');
    expect((await cli(['replay', '987654321'], env)).err[0]).toMatch(/^tokengate webhooks replay: alert_not_found/);
    expectOneLineFailure(await cli(['deliveries', '987654321'], env), 1, 'deliveries unknown');
    expectOneLineFailure(await cli(['list', ...UNREACHABLE], {}), 1, 'unreachable');
  });
});
