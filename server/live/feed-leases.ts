import type { TokenStore } from '../store.ts';

/**
 * A process's leases on the change feed (`tokengate.watches`): the ledger notifies a change only
 * when its organization is watched. Used by `createChangeHub`.
 *
 * @example
 * const leases = createFeedLeases(store, 120, (org) => byOrg.has(org), (org) => resync(org));
 * await leases.watch(orgId); // changes of orgId committed from now on notify
 */
export interface FeedLeases {
  /** Take a lease on `orgId` (once; later calls share it). Resolves when the ledger's barrier passed. */
  watch(orgId: string): Promise<void>;
  /** Drop every lease of this process and stop renewing. */
  dropAll(): Promise<void>;
  /** Organizations leased now. */
  readonly watched: number;
}

/**
 * Leases on the change feed for one process: `watch` takes one per organization (the ledger waits
 * for that organization's changes in flight, so none is lost); every quarter of `leaseSeconds` one
 * call renews those still `subscribed` and drops the others; an organization whose lease had lapsed,
 * or could not be taken, is watched again and passed to `onLapsed` (its subscribers missed changes).
 *
 * @example
 * const leases = createFeedLeases(store, 120, () => subscribers.keys(), (org) => resync(org));
 */
export function createFeedLeases(
  store: TokenStore,
  leaseSeconds: number,
  subscribed: () => Iterable<string>,
  onLapsed: (orgId: string) => void,
): FeedLeases {
  const watcher = globalThis.crypto.randomUUID();
  const leased = new Map<string, Promise<void>>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let renewing = false;
  // Bumped by dropAll: a renewal that started before it must not take leases again afterwards.
  let generation = 0;
  // Lease calls run one at a time, in order: an unwatch sent when the last subscriber left must not
  // overtake the watch of the next subscriber (they may run on different connections).
  let queue: Promise<unknown> = Promise.resolve();
  const rpc = <T>(fn: 'watch' | 'renew_watches' | 'unwatch', args: Record<string, unknown>): Promise<T> => {
    const call = queue.then(() => store.rpc<T>(fn, args));
    queue = call.catch(() => {});
    return call;
  };

  function watch(orgId: string): Promise<void> {
    let lease = leased.get(orgId);
    if (!lease) {
      lease = rpc('watch', { p_org_id: orgId, p_watcher: watcher, p_seconds: leaseSeconds }).then(() => undefined);
      leased.set(orgId, lease);
      // A failed lease is forgotten, so that the next subscriber tries again.
      const taken = lease;
      taken.catch(() => {
        if (leased.get(orgId) === taken) leased.delete(orgId);
      });
      if (!timer) {
        timer = setInterval(() => void renew(), (leaseSeconds * 1000) / 4);
        timer.unref?.();
      }
    }
    return lease;
  }

  async function renew(): Promise<void> {
    if (renewing) return;
    renewing = true;
    const started = generation;
    try {
      const wanted = new Set(subscribed());
      const unwanted = [...leased.keys()].filter((org) => !wanted.has(org));
      for (const org of unwanted) leased.delete(org);
      if (unwanted.length > 0) await rpc('unwatch', { p_watcher: watcher, p_org_ids: unwanted });
      const lapsed = leased.size === 0 ? [] : await rpc<string[]>('renew_watches', { p_watcher: watcher, p_org_ids: [...leased.keys()], p_seconds: leaseSeconds });
      if (generation !== started) return;
      // Lapsed, or never taken (a watch that failed while its subscribers stayed): watch again.
      const missing = new Set([...lapsed.filter((org) => wanted.has(org)), ...[...wanted].filter((org) => !leased.has(org))]);
      for (const org of lapsed) leased.delete(org);
      for (const org of missing) {
        if (generation !== started) return;
        leased.delete(org);
        try {
          await watch(org);
          onLapsed(org);
        } catch {
          // Still unreachable: the next renewal finds it missing again.
        }
      }
      if (leased.size === 0 && missing.size === 0) {
        clearInterval(timer);
        timer = undefined;
      }
    } catch {
      // The database is unreachable: the next renewal tries again; a lease that lapses meanwhile is
      // reported by that renewal (onLapsed).
    } finally {
      renewing = false;
    }
  }

  return {
    watch,
    async dropAll() {
      generation++;
      clearInterval(timer);
      timer = undefined;
      if (leased.size === 0) return;
      const orgs = [...leased.keys()];
      leased.clear();
      await rpc('unwatch', { p_watcher: watcher, p_org_ids: orgs }).catch(() => {
        // Unreachable: the leases lapse by themselves.
      });
    },
    get watched() {
      return leased.size;
    },
  };
}
