/**
 * React bindings of live balances: `useLiveStatus` for a "live" indicator. The feed itself is
 * `TokenGateProvider`'s `live` prop (on by default); transports are in `tokengate/live` and
 * `tokengate/live/supabase`. A separate entry point, so an app that shows no indicator carries none of it.
 *
 * @example
 * import { useLiveStatus } from 'tokengate/react/live';
 */
export { useLiveStatus } from './use-live-status.ts';
export type { LiveStatus } from '../live/live-transport.ts';
