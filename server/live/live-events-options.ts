import type { ChangeHub } from './change-hub.ts';
import type { ConnectionLimitOptions } from './connection-limits.ts';
import type { LiveStreamSettings } from './live-events-response.ts';

/**
 * Options of the live route `GET /orgs/:orgId/events` (`createHandler({ events })`).
 *
 * @example
 * createHandler({ gate, authenticate, events: { maxPerUser: 3, heartbeatMs: 20_000 } });
 */
export interface LiveEventsOptions extends ConnectionLimitOptions {
  /** A comment line every this many ms keeps proxies from closing an idle stream. Default 15000. */
  heartbeatMs?: number;
  /**
   * A stream ends after about this long, ms (between 90 % and 100 % of it, so that connections
   * opened together do not reconnect together). Default 300000 (5 minutes). The client resumes
   * with Last-Event-ID, which checks membership again: a removed member stops receiving within it.
   */
  maxLifetimeMs?: number;
  /** The reconnection delay the stream suggests to the client (`retry:`), ms. Default 2000. */
  retryMs?: number;
  /**
   * Bytes of events a client may leave unread (on top of the socket's buffers) before it is cut
   * off; the replay counts too (500 changes ≈ 130 KB). Default 262144 (256 KiB).
   */
  maxBufferedBytes?: number;
  /**
   * Most changes replayed to a client resuming with Last-Event-ID; an older gap is covered by the
   * snapshot that always follows. Default 500.
   */
  maxReplay?: number;
  /** The fan-out to use. Default: the process's hub for the gate's store (`sharedChangeHub`). */
  hub?: ChangeHub;
}

/**
 * `events` options with their defaults, checked.
 *
 * @example
 * const settings = liveStreamSettings({ heartbeatMs: 1000 }); // { heartbeatMs: 1000, maxLifetimeMs: 300000, … }
 */
export function liveStreamSettings(options: LiveEventsOptions): LiveStreamSettings {
  const settings: LiveStreamSettings = {
    heartbeatMs: options.heartbeatMs ?? 15_000,
    maxLifetimeMs: options.maxLifetimeMs ?? 300_000,
    retryMs: options.retryMs ?? 2_000,
    maxBufferedBytes: options.maxBufferedBytes ?? 262_144,
    maxReplay: options.maxReplay ?? 500,
  };
  for (const [name, value] of Object.entries(settings)) {
    // setTimeout's ceiling: longer delays fire at once.
    if (!Number.isInteger(value) || value < 1 || value > 2_147_483_647) throw new TypeError(`createHandler: events.${name} must be a positive integer`);
  }
  return settings;
}
