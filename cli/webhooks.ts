/**
 * `tokengate webhooks list|deliveries|replay|drain`: the alerts outbox, its delivery log, replays,
 * and one drain to the app's endpoint (for a cron job where pg_cron cannot POST).
 */
import type { Alert, AlertDelivery } from '../server/alert.ts';
import { createAlertWorker, type AlertWorker, type DrainResult } from '../server/webhooks/create-alert-worker.ts';
import { webhookId } from '../server/webhooks/webhook-event.ts';
import { DATABASE_HELP, DATABASE_OPTION, choiceOption, databaseUrl, intOption, required, uuidOption, withAdmin, type AdminSession } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { UsageError, type Io } from './errors.ts';

const DEFAULT_SECRET_ENV = 'TOKENGATE_WEBHOOK_SECRET';

export const WEBHOOKS_HELP = `Usage: tokengate webhooks <list|deliveries|replay|drain> [options]

The alert webhooks, as the server itself: the outbox of alerts (low, exhausted,
member_quota_reached, refreshed, expired_hold), each alert's delivery log, replays, and a drain.

  webhooks list [--status <status>] [--org <uuid>] [--limit <n>] [--json]
                  alerts, newest first, with their delivery state
  webhooks deliveries <alertId> [--json]
                  every delivery attempt of one alert: when, HTTP status, error, duration
  webhooks replay <alertId>
                  send an alert again: pending and due now, its log kept; the receiver gets the
                  same webhook-id (alert_<alertId>)
  webhooks drain --url <endpoint> [--secret-env <NAME>]
                  deliver every due alert once, signed with the secret in $NAME (default
                  ${DEFAULT_SECRET_ENV}); failed attempts are retried by a later drain

Options:
  --status <status>     list: pending, delivered or failed
  --org <uuid>          list: one organization's alerts
  --limit <n>           list: at most n alerts, 1 to 1000 (default 50)
  --json                list, deliveries: print JSON instead of a table
  --url <endpoint>      drain: the app's webhook endpoint (http or https)
  --secret-env <NAME>   drain: the environment variable holding the whsec_… secret
  --timeout-ms <n>      drain: one delivery's time limit (default 10000)
${DATABASE_HELP}
  -h, --help            show this help

Example (cron, every minute):
  * * * * * TOKENGATE_WEBHOOK_SECRET=whsec_… tokengate webhooks drain --url https://app.example.com/api/tokengate-webhook`;

const SUBCOMMANDS = ['list', 'deliveries', 'replay', 'drain'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];
const STATUSES = ['pending', 'delivered', 'failed'] as const;


export async function webhooks(argv: string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help') {
    io.out(WEBHOOKS_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`tokengate webhooks: unknown subcommand '${sub}' (${SUBCOMMANDS.join(', ')}; see 'tokengate webhooks --help')`);
  }
  const command = `webhooks ${sub}`;
  // deliveries and replay take the alert id as their argument.
  const positional = rest[0] !== undefined && !rest[0].startsWith('-') ? rest.shift() : undefined;
  const { values } = parseCommandArgs(command, rest, {
    ...DATABASE_OPTION,
    status: { type: 'string' },
    org: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    url: { type: 'string' },
    'secret-env': { type: 'string' },
    'timeout-ms': { type: 'string' },
  });
  if (values.help) {
    io.out(WEBHOOKS_HELP);
    return 0;
  }
  const allowed: Record<Subcommand, string[]> = {
    list: ['status', 'org', 'limit', 'json'],
    deliveries: ['json'],
    replay: [],
    drain: ['url', 'secret-env', 'timeout-ms'],
  };
  for (const name of ['status', 'org', 'limit', 'json', 'url', 'secret-env', 'timeout-ms'] as const) {
    if (values[name] !== undefined && !allowed[sub as Subcommand].includes(name)) {
      throw new UsageError(`tokengate ${command}: --${name} does not apply here (see 'tokengate webhooks --help')`);
    }
  }
  if (positional !== undefined && sub !== 'deliveries' && sub !== 'replay') {
    throw new UsageError(`tokengate ${command}: unexpected argument '${positional}' (see 'tokengate webhooks --help')`);
  }

  if (sub === 'list') {
    const status = values.status === undefined ? undefined : choiceOption(command, 'status', values.status, STATUSES);
    const orgId = values.org === undefined ? undefined : uuidOption(command, 'org', values.org);
    const limit = values.limit === undefined ? 50 : intOption(command, 'limit', values.limit, 1, 1000);
    const url = databaseUrl(command, values['database-url'], env);
    const rows = await withAdmin(command, url, (session) =>
      session.gate.listAlerts({ limit, ...(status ? { status } : {}), ...(orgId ? { orgId } : {}) }),
    );
    if (values.json) io.out(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) io.out('No alerts.');
    else for (const line of alertsTable(rows)) io.out(line);
    return 0;
  }

  if (sub === 'deliveries' || sub === 'replay') {
    if (positional === undefined) throw new UsageError(`tokengate ${command}: the alert id is required: tokengate ${command} <alertId>`);
    const alertId = /^[1-9]\d{0,15}$/.test(positional) ? Number(positional) : Number.NaN;
    if (!Number.isSafeInteger(alertId)) throw new UsageError(`tokengate ${command}: the alert id must be a positive integer, got '${positional}'`);
    const url = databaseUrl(command, values['database-url'], env);
    if (sub === 'deliveries') {
      const rows = await withAdmin(command, url, (session) => session.gate.alertDeliveries(alertId));
      if (values.json) io.out(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) io.out(`Alert ${alertId} has not been sent yet.`);
      else for (const line of deliveriesTable(rows)) io.out(line);
      return 0;
    }
    const alert = await withAdmin(command, url, (session) => session.gate.replayAlert(alertId));
    io.out(
      `Alert ${alert.alertId} (${alert.type}, ${alert.tokenType}, org ${alert.orgId}) is pending again and due now; ` +
        `the next drain sends it with webhook-id ${webhookId(alert.alertId)}.`,
    );
    return 0;
  }

  // drain: the worker is built (and its URL and secret checked) before the database is touched.
  const endpoint = required(command, 'url', values.url);
  const secretEnv = values['secret-env'] ?? DEFAULT_SECRET_ENV;
  const secret = env[secretEnv];
  if (!secret) throw new UsageError(`tokengate ${command}: the signing secret is read from $${secretEnv}, which is not set`);
  const timeoutMs = values['timeout-ms'] === undefined ? 10_000 : intOption(command, 'timeout-ms', values['timeout-ms'], 1, 50_000);
  let session: AdminSession | undefined;
  const gate = () => session!.gate;
  let worker: AlertWorker;
  try {
    worker = createAlertWorker({
      gate: { claimAlerts: (opts) => gate().claimAlerts(opts), recordDelivery: (id, outcome) => gate().recordDelivery(id, outcome) },
      url: endpoint,
      secret,
      timeoutMs,
      onError: (error) => io.err(`tokengate ${command}: could not record a delivery: ${error instanceof Error ? error.message : String(error)}`),
    });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(`tokengate ${command}: ${error.message.replace(/^createAlertWorker: /, '').replace('`url`', '--url').replace('`secret`', `$${secretEnv}`)}`);
    throw error;
  }
  const url = databaseUrl(command, values['database-url'], env);
  const result = await withAdmin(command, url, (opened) => {
    session = opened;
    return worker.drain();
  });
  for (const line of drainSummary(result)) io.out(line);
  return 0;
}

/** `2026-12-07 10:00:01Z` from an ISO timestamp (or '-'). */
function time(value: string | null): string {
  if (!value) return '-';
  const at = Date.parse(value);
  return Number.isNaN(at) ? value : new Date(at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Left-aligned columns; numbers right-aligned. */
function table(header: string[], rows: string[][], numeric: number[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (numeric.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function alertsTable(rows: Alert[]): string[] {
  const state = (a: Alert) => {
    if (a.status === 'delivered') return `delivered ${time(a.deliveredAt)}`;
    const last = a.lastError ?? (a.lastStatus === null ? null : `HTTP ${a.lastStatus}`);
    if (a.status === 'failed') return `gave up: ${last ?? 'unknown error'}`;
    return a.attempts === 0 ? `due ${time(a.nextAttemptAt)}` : `next ${time(a.nextAttemptAt)}, last: ${last ?? 'unknown error'}`;
  };
  return table(
    ['alert', 'status', 'type', 'org', 'token type', 'attempts', 'created', 'delivery'],
    rows.map((a) => [String(a.alertId), a.status, a.type, a.orgId, a.tokenType, String(a.attempts), time(a.createdAt), state(a)]),
    [0, 5],
  );
}

function deliveriesTable(rows: AlertDelivery[]): string[] {
  return table(
    ['attempt', 'attempted at', 'result', 'status', 'ms', 'error'],
    rows.map((d) => [String(d.attempt), time(d.attemptedAt), d.ok ? 'ok' : 'failed', d.status === null ? '-' : String(d.status), d.durationMs === null ? '-' : String(d.durationMs), d.error ?? '']),
    [0, 3, 4],
  );
}

function drainSummary(result: DrainResult): string[] {
  const lines = [
    result.claimed === 0
      ? 'No alerts were due.'
      : `Claimed ${result.claimed} alert(s): ${result.delivered} delivered, ${result.retrying} to retry, ${result.failed} failed for good, ` +
        `${result.deferred} deferred, ${result.unrecorded} not recorded.`,
  ];
  for (const a of result.attempts) if (!a.ok) lines.push(`  alert ${a.alertId} (${a.type}): ${a.error ?? `HTTP ${a.status}`} → ${a.alertStatus ?? 'not recorded'}`);
  return lines;
}
