'use client';
import { useQueryClient } from '@tanstack/react-query';
import { useSyncExternalStore } from 'react';
import { liveStatusStore } from '../live/live-status-store.ts';
import type { LiveStatus } from '../live/live-transport.ts';
import { useTokenGateContext } from './token-gate-context.ts';

/**
 * Where the provider's live feed of the organization stands (`off` during server rendering, with
 * `live={false}`, and until a balances query of the organization is mounted), for a "live" dot.
 *
 * @example
 * const status = useLiveStatus();
 * return <span data-state={status} title={status === 'live' ? 'Live' : 'Updates paused'} className="live-dot" />;
 */
export function useLiveStatus(orgId?: string): LiveStatus {
  const { resolvedOrgId } = useTokenGateContext();
  const store = liveStatusStore(useQueryClient());
  const org = orgId ?? resolvedOrgId;
  return useSyncExternalStore(
    store.subscribe,
    () => store.get(org),
    () => 'off',
  );
}
