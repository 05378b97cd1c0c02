import type { Query, QueryCacheNotifyEvent, QueryClient } from '@tanstack/react-query';
import type { TokenClient } from '../core/create-token-client.ts';
import type { BalanceChange, Balances } from '../core/types.ts';
import { applyBalanceChange } from './apply-balance-change.ts';
import { liveStatusStore } from './live-status-store.ts';
import type { LiveStatus, LiveTransport } from './live-transport.ts';
import { createSseTransport } from './sse-transport.ts';

/**
 * Options of `attachLive`.
 *
 * @example
 * const options: AttachLiveOptions = { pollInterval: 15_000 };
 */
export interface AttachLiveOptions {
  /** How long an organization's feed outlives its last balances observer (route changes, StrictMode). Default 1,000 ms. */
  lingerMs?: number;
  /** Changes within this many ms invalidate the organization's stats (and, when needed, balances) once. Default 1,000 ms. */
  coalesceMs?: number;
}

/** What one organization's feed keeps. */
interface Feed {
  stop: () => void;
  status: LiveStatus;
  /** The newest ledger id applied, per token type. */
  applied: Map<string, number>;
  /** A balances fetch started after the server refused the feed (401/403): if it succeeds, try live again. */
  retryAfterRefusal?: boolean;
  /** What arrived while a balances fetch was in flight, in order (a snapshot supersedes what came before it). */
  duringFetch: ({ change: BalanceChange } | { snapshot: Balances })[] | null;
  poll?: ReturnType<typeof setInterval>;
  stats?: ReturnType<typeof setTimeout>;
  refetch?: ReturnType<typeof setTimeout>;
  linger?: ReturnType<typeof setTimeout>;
}

/** One feed hub per QueryClient, shared by the providers that use it. */
interface Hub {
  refs: number;
  destroy: () => void;
  /** What it was started with: a provider that comes back with another client or transport restarts it. */
  key: [TokenClient, true | LiveTransport, number];
  teardown?: ReturnType<typeof setTimeout>;
}
const hubs = new WeakMap<QueryClient, Hub>();

/**
 * Internal (loaded on demand by `TokenGateProvider`): keeps the balances cache of `queryClient`
 * current from a live transport. For each organization whose balances query has an active
 * observer (any hook, the dashboard, the app's own `useQuery(balancesQueryOptions(...))`) it
 * holds one subscription, shared by all of them; it patches the cached balances on a change
 * newer than the last one applied for its token type, replaces them on a snapshot, coalesces an
 * invalidation of the organization's stats, and polls the balances while live is unavailable and
 * the page is visible.
 *
 * A fetch of the balances that was in flight when changes arrived may answer with older figures:
 * those changes are applied again on top of its answer (figures are absolute, so applying one the
 * answer already includes changes nothing). An optimistic charge of `useTokenGate` is a delta on
 * the cache: spending changes above it are left out as older (`applyBalanceChange`), a top-up
 * replaces it with the server's figures, and the run's own refetch when it settles has the last word.
 *
 * @example
 * const detach = attachLive(queryClient, client, true, 15_000);
 * detach(); // when the provider unmounts
 */
export function attachLive(
  queryClient: QueryClient,
  client: TokenClient,
  live: true | LiveTransport,
  /** Refetch the balances this often (ms) while live is unavailable and the page is visible; 0: never. Default 15,000. */
  pollInterval = 15_000,
  options: AttachLiveOptions = {},
): () => void {
  let hub = hubs.get(queryClient);
  const key: Hub['key'] = [client, live, pollInterval];
  // Nobody holds it any more (its teardown is pending) and it was made for another client (a new
  // session), transport or interval: replace it now rather than reuse it.
  if (hub && hub.refs === 0 && hub.key.some((part, i) => part !== key[i])) {
    clearTimeout(hub.teardown);
    hubs.delete(queryClient);
    hub.destroy();
    hub = undefined;
  }
  if (!hub) {
    const transport = live === true ? createSseTransport(client) : live;
    const created: Hub = { refs: 0, destroy: startHub(queryClient, transport, pollInterval, options), key };
    hubs.set(queryClient, created);
    hub = created;
  }
  const current = hub;
  current.refs++;
  clearTimeout(current.teardown);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    // Deferred: a provider that remounts at once (StrictMode, a key change) keeps the connections.
    if (--current.refs === 0) {
      current.teardown = setTimeout(() => {
        if (current.refs > 0 || hubs.get(queryClient) !== current) return;
        hubs.delete(queryClient);
        current.destroy();
      }, 0);
    }
  };
}

function startHub(queryClient: QueryClient, transport: LiveTransport, pollInterval: number, options: AttachLiveOptions): () => void {
  const lingerMs = options.lingerMs ?? 1_000;
  const coalesceMs = options.coalesceMs ?? 1_000;
  const statuses = liveStatusStore(queryClient);
  const feeds = new Map<string, Feed>();
  const doc = typeof document === 'undefined' ? null : document;

  const balancesQuery = (orgId: string) =>
    queryClient.getQueryCache().find<Balances>({ queryKey: balancesKey(orgId), exact: true });

  const later = (feed: Feed, slot: 'stats' | 'refetch', run: () => void) => {
    feed[slot] ??= setTimeout(() => {
      feed[slot] = undefined;
      run();
    }, coalesceMs);
  };
  // The usage figures and the grants lists follow changes once per burst (a charge from elsewhere
  // spends grants, a grant or an expiry adds or ends one); only lists on screen are refetched.
  const invalidateStats = (orgId: string, feed: Feed) =>
    later(feed, 'stats', () => {
      void queryClient.invalidateQueries({ queryKey: ['tokengate', orgId, 'stats'] });
      void queryClient.invalidateQueries({ queryKey: ['tokengate', orgId, 'grants'] });
    });
  const invalidateBalances = (orgId: string, feed: Feed) =>
    later(feed, 'refetch', () => void queryClient.invalidateQueries({ queryKey: balancesKey(orgId), exact: true }));

  const patch = (orgId: string, feed: Feed, change: BalanceChange) => {
    const cached = queryClient.getQueryData<Balances>(balancesKey(orgId));
    if (!cached) return;
    const { balances, refetch } = applyBalanceChange(cached, change);
    if (balances !== cached) queryClient.setQueryData(balancesKey(orgId), balances);
    if (refetch) invalidateBalances(orgId, feed);
  };

  /** While a fetch is in flight, remember what arrives, to apply it again on top of the answer. */
  const record = (orgId: string, feed: Feed, item: { change: BalanceChange } | { snapshot: Balances }) => {
    if (balancesQuery(orgId)?.state.fetchStatus !== 'fetching') return;
    if ('snapshot' in item || !feed.duringFetch) feed.duringFetch = [];
    feed.duringFetch.push(item);
  };

  const setPolling = (orgId: string, feed: Feed) => {
    const on = feed.status === 'polling' && pollInterval > 0;
    if (on && feed.poll === undefined) {
      feed.poll = setInterval(() => {
        if (doc?.visibilityState === 'hidden') return;
        void queryClient.refetchQueries({ queryKey: balancesKey(orgId), exact: true, type: 'active' });
      }, pollInterval);
    } else if (!on && feed.poll !== undefined) {
      clearInterval(feed.poll);
      feed.poll = undefined;
    }
  };

  const start = (orgId: string) => {
    const feed: Feed = { stop: () => {}, status: 'off', applied: new Map(), duringFetch: null };
    feeds.set(orgId, feed);
    const live = () => feeds.get(orgId) === feed;
    feed.stop = transport.subscribe(orgId, {
      onChange(change) {
        if (!live() || change.orgId !== orgId) return;
        if (change.ledgerId <= (feed.applied.get(change.tokenType) ?? -1)) return;
        feed.applied.set(change.tokenType, change.ledgerId);
        record(orgId, feed, { change });
        patch(orgId, feed, change);
        invalidateStats(orgId, feed);
      },
      onSnapshot(balances) {
        if (!live() || balances.orgId !== orgId) return;
        record(orgId, feed, { snapshot: balances });
        queryClient.setQueryData(balancesKey(orgId), balances);
        // Changes may have happened while disconnected: the usage figures follow.
        invalidateStats(orgId, feed);
      },
      onGap() {
        if (!live()) return;
        invalidateBalances(orgId, feed);
        invalidateStats(orgId, feed);
      },
      onStatus(status) {
        if (!live()) return;
        feed.status = status;
        statuses.set(orgId, status);
        setPolling(orgId, feed);
      },
    });
  };

  const stop = (orgId: string) => {
    const feed = feeds.get(orgId);
    if (!feed) return;
    feeds.delete(orgId);
    feed.stop();
    clearInterval(feed.poll);
    clearTimeout(feed.stats);
    clearTimeout(feed.refetch);
    clearTimeout(feed.linger);
    statuses.set(orgId, 'off');
  };

  /** Start or (after `lingerMs`) stop the feed of `orgId` as its balances query gains or loses observers. */
  const reconcile = (orgId: string) => {
    const active = balancesQuery(orgId)?.isActive() === true;
    const feed = feeds.get(orgId);
    if (active && !feed) start(orgId);
    else if (active && feed) {
      clearTimeout(feed.linger);
      feed.linger = undefined;
    } else if (!active && feed && feed.linger === undefined) {
      feed.linger = setTimeout(() => {
        feed.linger = undefined;
        if (feeds.get(orgId) === feed && balancesQuery(orgId)?.isActive() !== true) stop(orgId);
      }, lingerMs);
    }
  };

  const onFetchEvent = (orgId: string, query: Query, event: QueryCacheNotifyEvent) => {
    const feed = feeds.get(orgId);
    if (!feed || event.type !== 'updated') return;
    const action = event.action;
    if (action.type === 'fetch' && feed.status === 'off') feed.retryAfterRefusal = true;
    if (action.type === 'success' && !action.manual) {
      const replay = feed.duringFetch ?? [];
      feed.duringFetch = null;
      for (const item of replay) {
        if ('snapshot' in item) queryClient.setQueryData(balancesKey(orgId), item.snapshot);
        else patch(orgId, feed, item.change);
      }
      // Refused before (401/403), and the balances, asked for since, were given (a refreshed
      // session): try live again. At most once per such fetch, so a refusal is never hammered.
      if (feed.status === 'off' && feed.retryAfterRefusal) {
        stop(orgId);
        reconcile(orgId);
      }
    } else if (query.state.fetchStatus !== 'fetching') feed.duringFetch = null;
  };

  const unsubscribe = queryClient.getQueryCache().subscribe((event) => {
    const key = event.query.queryKey;
    if (key.length !== 3 || key[0] !== 'tokengate' || key[2] !== 'balances' || typeof key[1] !== 'string') return;
    const orgId = key[1];
    onFetchEvent(orgId, event.query, event);
    reconcile(orgId);
  });
  for (const query of queryClient.getQueryCache().getAll()) {
    const key = query.queryKey;
    if (key.length === 3 && key[0] === 'tokengate' && key[2] === 'balances' && typeof key[1] === 'string') reconcile(key[1]);
  }

  return () => {
    unsubscribe();
    for (const orgId of [...feeds.keys()]) stop(orgId);
  };
}

/**
 * `tokenGateKeys.balances(orgId)`, spelt out: importing the key factory would make bundlers split
 * it into a chunk shared with the member-facing kit, and that chunk's imports cost the kit bytes.
 * A test keeps the two equal.
 */
const balancesKey = (orgId: string) => ['tokengate', orgId, 'balances'] as const;
