/**
 * Live balances through Supabase Realtime (private broadcast channels authorised by RLS). A
 * separate entry point: only apps on Supabase Realtime load it. supabase-js is not imported; pass
 * your client.
 *
 * @example
 * import { createSupabaseTransport } from 'tokengate/live/supabase';
 */
export {
  createSupabaseTransport,
  type RealtimeBroadcastChannel,
  type RealtimeClientLike,
} from './supabase-transport.ts';
