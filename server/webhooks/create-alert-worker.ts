/**
 * The alert webhook worker: drains the alerts outbox to the app's endpoint, signed per the
 * Standard Webhooks spec, with retries and exponential backoff.
 */
import type { Alert } from '../alert.ts';
import type { TokenGate } from '../gate.ts';
import { DEFAULT_RETRY, parseRetryAfter, retryDelay, type RetryPolicy } from './retry-delay.ts';
import { signingKey } from './signing-key.ts';
import { alertEvent, webhookId } from './webhook-event.ts';

/** Options of `createAlertWorker`. */
export interface AlertWorkerOptions {
  /** The gate (`createTokenGate(...)`), or anything with its `claimAlerts` and `recordDelivery`. */
  gate: Pick<TokenGate, 'claimAlerts' | 'recordDelivery'>;
  /** The app's webhook endpoint (http or https). Redirects are not followed: a 3xx is a failed attempt. */
  url: string | URL;
  /** The signing secret, `whsec_…` (base64 of 24 to 64 random bytes); the receiver verifies with the same one. */
  secret: string;
  /** The fetch to POST with (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** Alerts claimed per batch, 1 to 1000 (default 100). */
  batchSize?: number;
  /**
   * Seconds a claimed batch stays this worker's (default 60): other workers do not claim it
   * meanwhile. Deliveries that could not finish within the lease are left for the next drain.
   */
  leaseSeconds?: number;
  /** One delivery's time limit, ms (default 10,000), including reading the answer. Must be below 90 % of the lease. */
  timeoutMs?: number;
  /** Deliveries in flight at once (default 8). */
  concurrency?: number;
  /** Backoff of failed deliveries: `min(baseSeconds · 2^attempts, maxSeconds)` ± 20 %, `failed` after `maxAttempts`. */
  retry?: RetryPolicy;
  /** Told about what a drain could not do: a failed drain under `start()`, or an attempt it could not record. */
  onError?: (error: unknown) => void;
}

/** The outcome of one delivery attempt in a drain. */
export interface DeliveryAttempt {
  alertId: number;
  /** The alert's kind. */
  type: Alert['type'];
  /** The endpoint answered 2xx. */
  ok: boolean;
  /** The HTTP status, or null when there was no answer (timeout, connection refused or reset). */
  status: number | null;
  /** Why the attempt failed (trimmed), or null. */
  error: string | null;
  durationMs: number;
  /** The alert's status after the attempt was recorded; null if recording it failed (it is retried after the lease). */
  alertStatus: Alert['status'] | null;
}

/** What one `drain()` did. */
export interface DrainResult {
  /** Alerts claimed. */
  claimed: number;
  /** Delivered (2xx) and recorded as delivered. */
  delivered: number;
  /** Failed this time, due again after their backoff. */
  retrying: number;
  /** Failed for the last time (`maxAttempts`): now `failed`, until replayed. */
  failed: number;
  /** Claimed but not sent, because the lease would have ended first: due again when it does. */
  deferred: number;
  /** Sent, but the attempt could not be recorded (reported to `onError`): due again after the lease. */
  unrecorded: number;
  /** Every attempt, in the order they finished. */
  attempts: DeliveryAttempt[];
}

/** What `createAlertWorker` returns. */
export interface AlertWorker {
  /**
   * Claims due alerts batch by batch until none is left and delivers each once. One bad delivery
   * never throws: it is recorded and retried later. Rejects only when the gate cannot be reached.
   */
  drain(): Promise<DrainResult>;
  /**
   * Drains now and then every `intervalMs` (default 5000) after the previous drain finished;
   * failures go to `onError`. Returns `stop`, which resolves once the drain in progress finished.
   */
  start(intervalMs?: number): () => Promise<void>;
}

/** The part of a delivery's answer kept in the log. */
const MAX_ERROR_CHARS = 500;

/**
 * The worker that delivers the alerts outbox to the app's endpoint as signed webhooks. Run it on
 * an interval in a long-lived process (`start()`), or call `drain()` from a scheduled route or
 * `tokengate webhooks drain`. Several workers may run at once: a claimed alert is leased to one.
 *
 * Each alert is POSTed as JSON (`TokenGateWebhookEvent`) with the Standard Webhooks headers
 * `webhook-id: alert_<alertId>` (the same on every retry and replay: dedupe on it),
 * `webhook-timestamp` and `webhook-signature`. A 2xx marks it delivered; anything else (an error
 * status, a redirect, a timeout, a refused or reset connection) is logged and retried after
 * `min(5 s · 2^attempts, 1 h)` ± 20 %, up to 12 attempts, then the alert is `failed`
 * (`tokengate webhooks replay` sends it again).
 *
 * @example
 * const worker = createAlertWorker({ gate, url: 'https://app.example.com/api/tokengate-webhook', secret: process.env.TOKENGATE_WEBHOOK_SECRET! });
 * const stop = worker.start(5_000);
 * process.on('SIGTERM', () => void stop());
 */
export function createAlertWorker(options: AlertWorkerOptions): AlertWorker {
  const { gate } = options;
  if (!gate || typeof gate.claimAlerts !== 'function' || typeof gate.recordDelivery !== 'function') {
    throw new TypeError('createAlertWorker: `gate` (createTokenGate(...)) is required');
  }
  const url = endpoint(options.url);
  const webhook = signingKey(options.secret, 'createAlertWorker');
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const batchSize = integer('batchSize', options.batchSize ?? 100, 1, 1000);
  const leaseSeconds = integer('leaseSeconds', options.leaseSeconds ?? 60, 1, 3600);
  const timeoutMs = integer('timeoutMs', options.timeoutMs ?? 10_000, 1, 600_000);
  const concurrency = integer('concurrency', options.concurrency ?? 8, 1, 1000);
  const retry = {
    baseSeconds: number('retry.baseSeconds', options.retry?.baseSeconds ?? DEFAULT_RETRY.baseSeconds, 0, 86_400),
    maxSeconds: number('retry.maxSeconds', options.retry?.maxSeconds ?? DEFAULT_RETRY.maxSeconds, 0, 86_400),
    maxAttempts: integer('retry.maxAttempts', options.retry?.maxAttempts ?? DEFAULT_RETRY.maxAttempts, 1, 100),
  };
  // A delivery starts only if it ends, by its timeout, before the lease does, with 10 % to spare for
  // recording it: a lease that lapsed mid-send would let another worker send the same alert at once.
  const leaseMs = leaseSeconds * 1000;
  const spareMs = leaseMs * 0.1;
  if (timeoutMs > leaseMs - spareMs) {
    throw new TypeError(`createAlertWorker: timeoutMs (${timeoutMs}) must be below 90 % of leaseSeconds (${leaseSeconds} s)`);
  }
  const onError = options.onError ?? ((error: unknown) => console.error('[tokengate] alert webhooks:', error));

  /** POST one alert; never throws. */
  async function send(alert: Alert): Promise<{ ok: boolean; status: number | null; error: string | null; durationMs: number; retryAfter: number | null }> {
    const body = JSON.stringify(alertEvent(alert));
    const id = webhookId(alert.alertId);
    const sentAt = new Date();
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const response = await fetchImpl(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'tokengate-webhooks',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
          'webhook-signature': webhook.sign(id, sentAt, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      const ok = response.status >= 200 && response.status < 300;
      if (ok) {
        await response.body?.cancel().catch(() => undefined);
        return { ok, status: response.status, error: null, durationMs: elapsed(), retryAfter: null };
      }
      const text = await response.text().catch(() => '');
      const detail = trimmed(`HTTP ${response.status}${text.trim() ? `: ${text}` : ''}`);
      return { ok, status: response.status, error: detail, durationMs: elapsed(), retryAfter: parseRetryAfter(response.headers.get('retry-after')) };
    } catch (error) {
      return { ok: false, status: null, error: trimmed(describeFailure(error, timeoutMs)), durationMs: elapsed(), retryAfter: null };
    }
  }

  async function deliver(alert: Alert, result: DrainResult): Promise<void> {
    const sent = await send(alert);
    const attempt: DeliveryAttempt = { alertId: alert.alertId, type: alert.type, ok: sent.ok, status: sent.status, error: sent.error, durationMs: sent.durationMs, alertStatus: null };
    try {
      const recorded = await gate.recordDelivery(alert.alertId, {
        ok: sent.ok,
        status: sent.status,
        error: sent.error,
        durationMs: sent.durationMs,
        ...(sent.ok ? {} : { retryInSeconds: retryDelay(alert.attempts, retry, Math.random, sent.retryAfter), maxAttempts: retry.maxAttempts }),
      });
      attempt.alertStatus = recorded.status;
      if (recorded.status === 'delivered') result.delivered++;
      else if (recorded.status === 'failed') result.failed++;
      else result.retrying++;
    } catch (error) {
      result.unrecorded++;
      onError(error);
    }
    result.attempts.push(attempt);
  }

  async function drain(): Promise<DrainResult> {
    const result: DrainResult = { claimed: 0, delivered: 0, retrying: 0, failed: 0, deferred: 0, unrecorded: 0, attempts: [] };
    for (;;) {
      const claimedAt = performance.now();
      const batch = await gate.claimAlerts({ limit: batchSize, leaseSeconds });
      result.claimed += batch.length;
      const lastStart = claimedAt + leaseMs - spareMs - timeoutMs;
      let next = 0;
      const runner = async () => {
        while (next < batch.length) {
          const alert = batch[next++]!;
          if (performance.now() > lastStart) result.deferred++;
          else await deliver(alert, result);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, batch.length) }, runner));
      // A short batch means nothing else was due; deferred alerts wait for their lease to end.
      if (batch.length < batchSize || result.deferred > 0) return result;
    }
  }

  function start(intervalMs = 5000): () => Promise<void> {
    integer('intervalMs', intervalMs, 1, 2_147_483_647);
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running: Promise<void> | undefined;
    const tick = () => {
      running = drain()
        .then(() => undefined, onError)
        .finally(() => {
          running = undefined;
          if (!stopped) timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    };
  }

  return { drain, start };
}

function endpoint(value: unknown): URL {
  let url: URL;
  try {
    url = new URL(value as string | URL);
  } catch {
    throw new TypeError('createAlertWorker: `url` must be the absolute http(s) URL of the webhook endpoint');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('createAlertWorker: `url` must be an http: or https: URL');
  return url;
}

function integer(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new TypeError(`createAlertWorker: ${name} must be an integer from ${min} to ${max}`);
  return value;
}

function number(name: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) throw new TypeError(`createAlertWorker: ${name} must be a number from ${min} to ${max}`);
  return value;
}

/** One line, at most `MAX_ERROR_CHARS`: the log keeps a hint of the answer, not the page. */
function trimmed(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_ERROR_CHARS ? `${line.slice(0, MAX_ERROR_CHARS - 1)}…` : line;
}

/** A failed fetch as one readable line: "timed out after 10000 ms", "fetch failed: ECONNRESET (other side closed)". */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause === 'object') {
    const code = typeof cause.code === 'string' ? cause.code : undefined;
    const message = typeof cause.message === 'string' && cause.message !== code ? cause.message : undefined;
    const detail = [code, message && `(${message})`].filter(Boolean).join(' ');
    if (detail) return `${error.message}: ${detail}`;
  }
  return error.message;
}
