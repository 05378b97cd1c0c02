import type { LiveTransport } from './live-transport.ts';
import { parseBalanceChange } from './parse-balance-change.ts';

/**
 * The part of a supabase-js `RealtimeChannel` the transport uses (supabase-js's own client
 * satisfies `RealtimeClientLike`; a type test keeps it so).
 *
 * @example
 * const channel: RealtimeBroadcastChannel = supabase.channel('tokengate:org:' + orgId, { config: { private: true } });
 */
export interface RealtimeBroadcastChannel {
  on(type: 'broadcast', filter: { event: string }, callback: (message: { payload?: unknown }) => void): RealtimeBroadcastChannel;
  subscribe(callback?: (status: string, err?: Error) => void): RealtimeBroadcastChannel;
}

/**
 * The part of a supabase-js client (`createClient(...)`) the transport uses.
 *
 * @example
 * const realtime: RealtimeClientLike = supabase;
 */
export interface RealtimeClientLike {
  channel(name: string, opts: { config: { private: boolean } }): RealtimeBroadcastChannel;
  removeChannel(channel: RealtimeBroadcastChannel): Promise<unknown>;
}

/**
 * Live balances through Supabase Realtime: the database broadcasts every change of an
 * organization on the private channel `tokengate:org:<orgId>` (event `balance`), and RLS on
 * `realtime.messages` lets only its members join. Realtime cannot resume from a ledger id, so on
 * every (re)join the provider refetches the balances once (`onGap`); while the channel is down
 * (`CHANNEL_ERROR`, `TIMED_OUT`, `CLOSED`; supabase-js rejoins by itself) it reports `polling`.
 *
 * The supabase-js client must carry the member's session (its Realtime client uses the session's
 * access token for private channels).
 *
 * @example
 * import { createSupabaseTransport } from 'tokengate/live/supabase';
 * const live = createSupabaseTransport(supabase); // once, at module scope
 * <TokenGateProvider client={client} live={live}>…</TokenGateProvider>
 */
export function createSupabaseTransport(supabase: RealtimeClientLike): LiveTransport {
  return {
    subscribe(orgId, handlers) {
      let stopped = false;
      let status: string | null = null;
      const report = (next: 'connecting' | 'live' | 'polling') => {
        if (next !== status) handlers.onStatus?.((status = next));
      };
      report('connecting');
      const channel = supabase
        .channel(`tokengate:org:${orgId}`, { config: { private: true } })
        .on('broadcast', { event: 'balance' }, (message) => {
          const change = parseBalanceChange(message.payload);
          if (!stopped && change && change.orgId === orgId) handlers.onChange(change);
        })
        .subscribe((state) => {
          if (stopped) return;
          if (state === 'SUBSCRIBED') {
            report('live');
            // Whatever changed before this (re)join was not broadcast to us.
            handlers.onGap?.();
          } else report('polling');
        });
      return () => {
        if (stopped) return;
        stopped = true;
        void supabase.removeChannel(channel).catch(() => {});
      };
    },
  };
}
