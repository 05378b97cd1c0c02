import type { TokenClient } from '../core/create-token-client.ts';
import { parseSseBlock, sseSplitter, isEventStream } from '../core/sse-splitter.ts';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { Balances } from '../core/types.ts';
import type { LiveHandlers, LiveStatus, LiveTransport } from './live-transport.ts';
import { parseBalanceChange } from './parse-balance-change.ts';
import { defaultRetryDelay } from './retry-delay.ts';

/**
 * Options of `createSseTransport`.
 *
 * @example
 * const options: SseTransportOptions = { minLifetimeMs: 20_000 };
 */
export interface SseTransportOptions {
  /** The URL of an organization's event stream. Default: the client's `<baseUrl>/orgs/:orgId/events`. */
  url?: (orgId: string) => string;
  /**
   * Milliseconds to wait before reconnect attempt `attempt` (0 after a connection that worked);
   * `minimumMs` is what the server asked for (`retry:` field, `Retry-After`), or null.
   * Default: `defaultRetryDelay` (500 ms to 30 s, exponential, jittered, plus the server's minimum).
   */
  retryDelay?: (attempt: number, minimumMs: number | null) => number;
  /**
   * A connection that ends sooner than this after it opened, without delivering a change, is
   * short-lived (a serverless host cutting long responses, a proxy buffering them). Default 15,000 ms.
   */
  minLifetimeMs?: number;
  /** After this many short-lived connections in a row, poll instead (for as long as this subscription lasts). Default 3. */
  maxShortLived?: number;
  /** After this many failed attempts in a row, report `polling` (reconnecting goes on meanwhile). Default 2. */
  failuresBeforePolling?: number;
}

/**
 * Live balances over server-sent events from the handler's `GET /orgs/:orgId/events`, read with
 * `fetch` (an `EventSource` cannot send the `Authorization` header) through the client's own
 * authorised request (`client.callGuarded`), so it uses the client's `fetch` and access token.
 *
 * It resumes with `Last-Event-ID` (the highest ledger id seen) and takes the `snapshot` the server
 * sends after every (re)connect; reconnects with backoff and jitter, honouring `retry:` and
 * `Retry-After`; closes while the page is hidden and resumes when it is visible again; stops for
 * good on 401/403 (`off`), and reports `polling` when the endpoint is absent (404, 501
 * `live_unavailable`, an answer that is not `text/event-stream`) or connections keep being cut short.
 *
 * @example
 * <TokenGateProvider client={client} live={createSseTransport(client, { minLifetimeMs: 20_000 })}>…</TokenGateProvider>
 */
export function createSseTransport(client: TokenClient, options: SseTransportOptions = {}): LiveTransport {
  const url = options.url ?? ((orgId: string) => eventsUrl(client, orgId));
  const retryDelay = options.retryDelay ?? defaultRetryDelay;
  const minLifetimeMs = options.minLifetimeMs ?? 15_000;
  const maxShortLived = options.maxShortLived ?? 3;
  const failuresBeforePolling = options.failuresBeforePolling ?? 2;

  return {
    subscribe(orgId: string, handlers: LiveHandlers): () => void {
      let status: LiveStatus | null = null;
      const report = (next: LiveStatus) => {
        if (next !== status) handlers.onStatus?.((status = next));
      };
      let lastEventId: number | null = null;
      let retryHint: number | null = null;
      // Consecutive connections that failed or were cut short: the backoff's attempt number.
      let attempt = 0;
      let failures = 0;
      let shortLived = 0;
      // 'stopped': unsubscribed, 401/403, or polling for good; nothing reconnects any more.
      let final: 'stopped' | 'polling' | null = null;
      let controller: AbortController | null = null;
      let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const doc = typeof document === 'undefined' ? null : document;
      const hidden = () => doc?.visibilityState === 'hidden';

      const close = () => {
        clearTimeout(timer);
        timer = undefined;
        controller?.abort();
        controller = null;
        void reader?.cancel().catch(() => {});
        reader = null;
      };

      const retry = (minimumMs: number | null) => {
        close();
        if (final) return;
        timer = setTimeout(connect, Math.max(0, retryDelay(attempt++, minimumMs)));
      };

      const failed = (minimumMs: number | null, pollMeanwhile = false) => {
        failures++;
        report(pollMeanwhile || failures >= failuresBeforePolling ? 'polling' : 'connecting');
        retry(minimumMs);
      };

      const connect = async () => {
        close();
        if (final || hidden()) return;
        const mine = (controller = new AbortController());
        report(status === 'polling' ? 'polling' : 'connecting');
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        if (lastEventId !== null) headers['last-event-id'] = String(lastEventId);
        let response: Response;
        try {
          response = await client.callGuarded(url(orgId), { method: 'GET', headers, orgId, signal: mine.signal });
        } catch (error) {
          if (mine !== controller) return;
          const code = statusOf(error);
          if (code === 401 || code === 403) {
            final = 'stopped';
            close();
            return report('off');
          }
          if (code === 404 || code === 501) return pollForGood();
          const after = (error as Partial<TokenGateError> | null)?.facts?.retryAfter;
          // Too many connections (429, or any refusal that says when to come back): this tab
          // polls until a slot frees up.
          const comeBack = typeof after === 'number' && after >= 0;
          return failed(comeBack ? after * 1000 : null, code === 429 || comeBack);
        }
        if (mine !== controller) return void response.body?.cancel().catch(() => {});
        if (!isEventStream(response) || !response.body) {
          await response.body?.cancel().catch(() => {});
          return pollForGood();
        }
        report('live');
        const openedAt = Date.now();
        let changed = false;
        const split = sseSplitter();
        const decoder = new TextDecoder();
        const current = (reader = response.body.getReader());
        const dispatch = (block: string) => {
          const hint = /^retry: ?(\d+)$/m.exec(block);
          if (hint) retryHint = Number(hint[1]);
          const event = parseSseBlock(block);
          if (!event) return;
          if (event.id !== null && /^\d+$/.test(event.id)) lastEventId = Math.max(lastEventId ?? 0, Number(event.id));
          let data: unknown;
          try {
            data = JSON.parse(event.data);
          } catch {
            return;
          }
          if (event.event === 'balance') {
            const change = parseBalanceChange(data);
            if (!change || change.orgId !== orgId) return;
            lastEventId = Math.max(lastEventId ?? 0, change.ledgerId);
            changed = true;
            handlers.onChange(change);
          } else if (event.event === 'snapshot' && isBalancesOf(data, orgId)) {
            // The server answered in full: whatever failed before is over.
            failures = 0;
            handlers.onSnapshot?.(data);
          }
        };
        try {
          for (;;) {
            const { done, value } = await current.read();
            if (mine !== controller) return;
            if (done) break;
            for (const block of split.push(decoder.decode(value, { stream: true }))) dispatch(block);
          }
          for (const block of split.end()) dispatch(block);
        } catch {
          if (mine !== controller) return;
        }
        // The server ended the stream (its maximum lifetime, a deploy) or it broke off.
        if (changed || Date.now() - openedAt >= minLifetimeMs) {
          attempt = 0;
          shortLived = 0;
          report('connecting');
          return retry(retryHint);
        }
        if (++shortLived >= maxShortLived) return pollForGood();
        failed(retryHint);
      };

      const pollForGood = () => {
        final = 'polling';
        close();
        report(hidden() ? 'paused' : 'polling');
      };

      const onVisibility = () => {
        if (final === 'stopped') return;
        if (hidden()) {
          close();
          report('paused');
        } else if (final === 'polling') report('polling');
        else if (!controller) void connect();
      };

      doc?.addEventListener('visibilitychange', onVisibility);
      if (hidden()) report('paused');
      else void connect();
      return () => {
        final = 'stopped';
        doc?.removeEventListener('visibilitychange', onVisibility);
        close();
      };
    },
  };
}

/** `<baseUrl>/orgs/:orgId/events`, from the client's own URL of the organization. */
function eventsUrl(client: TokenClient, orgId: string): string {
  // The client builds every URL of an organization the same way; its export URL is the one it
  // exposes, so the events URL follows the client's base URL and encoding without a new method.
  const exportUrl = client.usageExportUrl({ from: '', to: '' }, { orgId });
  return `${exportUrl.slice(0, exportUrl.lastIndexOf('/usage.csv'))}/events`;
}

/** The HTTP status behind a failed call (0: it never got an answer). */
function statusOf(error: unknown): number {
  // Duck-typed (not `instanceof`): importing TokenGateError would make bundlers split it into a
  // chunk shared with the member-facing kit. A code the client does not know keeps the real
  // status in `facts.status`.
  const e = (error ?? {}) as Partial<TokenGateError>;
  return typeof e.facts?.status === 'number' ? e.facts.status : typeof e.status === 'number' ? e.status : 0;
}

function isBalancesOf(value: unknown, orgId: string): value is Balances {
  const b = value as Partial<Balances> | null;
  return typeof b === 'object' && b !== null && b.orgId === orgId && Array.isArray(b.tokenTypes) && typeof b.member === 'object';
}
