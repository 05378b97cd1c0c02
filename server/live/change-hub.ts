import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { TokenStore } from '../store.ts';
import { databaseError } from '../stores/database-error.ts';
import type { BalanceChange } from '../../src/core/types.ts';
import { parseBalanceChange } from './parse-balance-change.ts';
import { createFeedLeases } from './feed-leases.ts';

/**
 * The notification channel the ledger sends the balance changes of watched organizations on (see
 * `createChangeHub`, which takes the leases; a raw listener calls `tokengate.watch` itself, or sets
 * `tokengate.live = all`).
 *
 * @example
 * await store.listen!(CHANGES_CHANNEL, (payload) => console.log(payload));
 * await store.rpc('watch', { p_org_id: orgId, p_watcher: crypto.randomUUID(), p_seconds: 120 });
 */
export const CHANGES_CHANNEL = 'tokengate_changes';

/**
 * Options of `createChangeHub`.
 *
 * @example
 * const hub = createChangeHub(store, { lingerMs: 0 }); // unlisten as soon as nobody subscribes
 */
export interface ChangeHubOptions {
  /**
   * How long to keep listening after the last subscriber left, ms. Default 10000: a client's
   * routine reconnect (its connection reached its lifetime, a page reload) finds the LISTEN still
   * there instead of opening a database connection again. 0 unlistens at once.
   */
  lingerMs?: number;
  /**
   * How long each lease on an organization lasts, seconds (10 to 3600). Default 120. The ledger
   * notifies a change only when its organization is watched (`tokengate.watch`): the hub takes a
   * lease for every organization with a subscriber, renews them every quarter of this, and drops
   * those without subscribers at the next renewal.
   */
  leaseSeconds?: number;
}

/**
 * What a subscriber of one organization receives.
 *
 * @example
 * const subscriber: ChangeSubscriber = { onChange: (change, json) => socket.send(json), onGap: () => socket.close() };
 */
export interface ChangeSubscriber {
  /** A change of the organization; `data` is the change as JSON, serialised once for every subscriber. */
  onChange(change: BalanceChange, data: string): void;
  /**
   * The listening connection dropped and listens again: changes made meanwhile were missed
   * (resynchronise: reload the balances, or end the stream so the client resumes).
   */
  onGap(): void;
}

/**
 * A process-wide fan-out of the ledger's change feed to subscribers keyed by organization.
 *
 * @example
 * const unsubscribe = await hub.subscribe(orgId, subscriber);
 * console.log(hub.subscribers, hub.listening);
 */
export interface ChangeHub {
  /**
   * Receive the changes of `orgId` from now on. Resolves once the database connection listens (so
   * every change committed afterwards reaches `subscriber`), to the function that unsubscribes.
   * Rejects with `unavailable` when the database cannot be reached.
   */
  subscribe(orgId: string, subscriber: ChangeSubscriber): Promise<() => void>;
  /** Subscribers now, all organizations. */
  readonly subscribers: number;
  /** Whether the hub holds a LISTEN (or is starting one). */
  readonly listening: boolean;
  /** Drop every subscriber and stop listening. */
  close(): Promise<void>;
}

/**
 * Fan the ledger's change feed out to many subscribers with ONE `LISTEN tokengate_changes` on the
 * store's connection, however many subscribers: each notification is parsed once (a malformed one
 * is dropped), serialised once, and handed to the subscribers of its organization only. The LISTEN
 * starts with the first subscriber and stops `lingerMs` after the last one left.
 *
 * The ledger notifies only organizations someone watches (Postgres serialises notifying commits, so
 * a charge nobody watches should not notify): the hub holds a lease (`tokengate.watch`) on each
 * organization it has subscribers for, renewed in the background. A lease that lapsed anyway (the
 * database was unreachable for longer than `leaseSeconds`) is taken again, and that organization's
 * subscribers get `onGap`.
 *
 * `createHandler` uses one hub per store (`sharedChangeHub`); create your own only to push changes
 * somewhere else (a WebSocket server, a job queue).
 *
 * @example
 * const hub = createChangeHub(postgresStore({ connectionString: process.env.DATABASE_URL! }));
 * const unsubscribe = await hub.subscribe(orgId, { onChange: (change) => console.log(change.available), onGap: () => {} });
 */
export function createChangeHub(store: TokenStore, options: ChangeHubOptions = {}): ChangeHub {
  const lingerMs = options.lingerMs ?? 10_000;
  const leaseSeconds = options.leaseSeconds ?? 120;
  if (typeof store?.listen !== 'function') throw new TypeError('createChangeHub: the store cannot listen (use postgresStore or pgliteStore)');
  if (!Number.isFinite(lingerMs) || lingerMs < 0) throw new TypeError('createChangeHub: lingerMs must be 0 or more');
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 10 || leaseSeconds > 3600) throw new TypeError('createChangeHub: leaseSeconds must be an integer from 10 to 3600');
  const listen = store.listen.bind(store);
  const byOrg = new Map<string, Set<ChangeSubscriber>>();
  const leases = createFeedLeases(store, leaseSeconds, () => byOrg.keys(), (orgId) => {
    for (const s of [...(byOrg.get(orgId) ?? [])]) each(s, (x) => x.onGap());
  });
  let subscribers = 0;
  let active: Promise<() => Promise<void>> | null = null;
  let linger: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const each = (subscriber: ChangeSubscriber, call: (s: ChangeSubscriber) => void) => {
    try {
      call(subscriber);
    } catch {
      // One failing subscriber must not keep the others from their changes.
    }
  };

  function onPayload(payload: string): void {
    const change = parseBalanceChange(payload);
    if (!change) return;
    const set = byOrg.get(change.orgId);
    if (!set) return;
    const data = JSON.stringify(change);
    for (const s of [...set]) each(s, (x) => x.onChange(change, data));
  }

  function onReconnect(): void {
    for (const set of [...byOrg.values()]) for (const s of [...set]) each(s, (x) => x.onGap());
  }

  function startListening(): Promise<unknown> {
    clearTimeout(linger);
    linger = undefined;
    if (!active) {
      const started = listen(CHANGES_CHANNEL, onPayload, { onReconnect });
      active = started;
      // A failed start is forgotten, so that the next subscriber tries again.
      started.catch(() => {
        if (active === started) active = null;
      });
    }
    return active;
  }

  function stopListeningLater(): void {
    if (subscribers > 0 || !active || linger) return;
    linger = setTimeout(() => {
      linger = undefined;
      if (subscribers > 0 || !active) return;
      const stopping = active;
      active = null;
      stopping.then((unlisten) => unlisten()).catch(() => {});
      void leases.dropAll();
    }, lingerMs);
    linger.unref?.();
  }

  const hub: ChangeHub = {
    async subscribe(orgId, subscriber) {
      if (closed) throw new TokenGateError('unavailable', 'The live feed is closed.');
      const key = orgId.toLowerCase();
      const set = byOrg.get(key) ?? new Set<ChangeSubscriber>();
      byOrg.set(key, set);
      // The same object twice would be one subscription: wrap it so each call counts on its own.
      const entry: ChangeSubscriber = { onChange: (c, d) => subscriber.onChange(c, d), onGap: () => subscriber.onGap() };
      set.add(entry);
      subscribers++;
      let left = false;
      const unsubscribe = () => {
        if (left) return;
        left = true;
        set.delete(entry);
        if (set.size === 0 && byOrg.get(key) === set) byOrg.delete(key);
        subscribers--;
        stopListeningLater();
      };
      try {
        await startListening();
        // Listening first, then the lease: every change that commits after the lease notifies.
        await leases.watch(key);
      } catch (error) {
        unsubscribe();
        throw databaseError(error);
      }
      return unsubscribe;
    },
    get subscribers() {
      return subscribers;
    },
    get listening() {
      return active !== null;
    },
    async close() {
      closed = true;
      if (shared.get(store) === hub) shared.delete(store);
      clearTimeout(linger);
      byOrg.clear();
      subscribers = 0;
      const stopping = active;
      active = null;
      await Promise.all([stopping?.then((unlisten) => unlisten()).catch(() => {}), leases.dropAll()]);
    },
  };
  return hub;
}

const shared = new WeakMap<TokenStore, ChangeHub>();

/**
 * The process's hub for `store` (created on first use): every handler on the same store shares one
 * LISTEN.
 *
 * @example
 * const hub = sharedChangeHub(gate.store);
 */
export function sharedChangeHub(store: TokenStore): ChangeHub {
  let hub = shared.get(store);
  if (!hub) {
    hub = createChangeHub(store);
    shared.set(store, hub);
  }
  return hub;
}
