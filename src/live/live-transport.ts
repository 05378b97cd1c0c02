import type { BalanceChange, Balances } from '../core/types.ts';

/**
 * Where the live feed of one organization stands:
 * - `connecting`: (re)connecting; the cache is as fresh as the last event or fetch.
 * - `live`: changes arrive as they happen.
 * - `polling`: live is unavailable (no endpoint, a host that cuts long responses, repeated
 *   failures): the provider refetches the balances every `pollInterval` while the page is visible.
 * - `paused`: the page is hidden; nothing is received or polled until it is visible again.
 * - `off`: no feed (live disabled, no balances query mounted, or the server refused the caller: 401/403).
 *
 * @example
 * const dot: Record<LiveStatus, string> = { live: 'green', connecting: 'amber', polling: 'grey', paused: 'grey', off: 'none' };
 */
export type LiveStatus = 'connecting' | 'live' | 'polling' | 'paused' | 'off';

/**
 * What a transport reports to its subscriber.
 *
 * @example
 * const handlers: LiveHandlers = { onChange: (c) => console.log(c.tokenType, c.available) };
 */
export interface LiveHandlers {
  /** A change of one token type (the caller ignores ones older than what it applied). */
  onChange(change: BalanceChange): void;
  /** The whole balances as the server sees them now (after connecting or resuming). */
  onSnapshot?(balances: Balances): void;
  onStatus?(status: LiveStatus): void;
  /**
   * Changes may have been missed (a transport that cannot resume, on (re)connecting): the
   * subscriber refetches the balances.
   */
  onGap?(): void;
}

/**
 * A source of balance changes for organizations: `createSseTransport` (the handler's
 * `/orgs/:orgId/events`, the default) or `createSupabaseTransport` (Supabase Realtime).
 *
 * @example
 * const stop = transport.subscribe(orgId, { onChange: (c) => patch(c), onStatus: setStatus });
 * stop(); // closes the connection or channel
 */
export interface LiveTransport {
  /** Start receiving changes of `orgId`; the function returned stops (idempotent). */
  subscribe(orgId: string, handlers: LiveHandlers): () => void;
}
