import type { QueryClient } from '@tanstack/react-query';
import type { LiveStatus } from './live-transport.ts';

/**
 * Internal: the live status of each organization, per QueryClient (the provider's feed writes it,
 * `useLiveStatus` reads it). Kept beside the cache rather than in it, so invalidating an
 * organization's queries never touches it.
 */
export interface LiveStatusStore {
  get(orgId: string): LiveStatus;
  set(orgId: string, status: LiveStatus): void;
  subscribe(listener: () => void): () => void;
}

const stores = new WeakMap<QueryClient, LiveStatusStore>();

/**
 * Internal: the status store of a QueryClient (created on first use).
 *
 * @example
 * liveStatusStore(queryClient).get(orgId); // 'live'
 */
export function liveStatusStore(queryClient: QueryClient): LiveStatusStore {
  let store = stores.get(queryClient);
  if (!store) {
    const statuses = new Map<string, LiveStatus>();
    const listeners = new Set<() => void>();
    store = {
      get: (orgId) => statuses.get(orgId) ?? 'off',
      set(orgId, status) {
        if ((statuses.get(orgId) ?? 'off') === status) return;
        statuses.set(orgId, status);
        for (const listener of [...listeners]) listener();
      },
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    stores.set(queryClient, store);
  }
  return store;
}
