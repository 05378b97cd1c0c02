import type pg from 'pg';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { ListenOptions } from '../store.ts';
import { databaseError } from './database-error.ts';

/**
 * Options of `pgListener`.
 *
 * @example
 * const listener = pgListener({ connect, minReconnectDelayMs: 250, maxReconnectDelayMs: 30_000 });
 */
export interface PgListenerOptions {
  /** Open a new, connected client of its own (never one from a pool: it stays in LISTEN mode). */
  connect(): Promise<pg.Client>;
  /** First delay before reconnecting after the connection dropped, ms. Default 100; it doubles per failed attempt. */
  minReconnectDelayMs?: number;
  /** Longest delay between reconnection attempts, ms. Default 10000. */
  maxReconnectDelayMs?: number;
}

/**
 * One database connection that LISTENs for every channel and caller of a store.
 *
 * @example
 * const stop = await listener.listen('tokengate_changes', console.log);
 */
export interface PgListener {
  /** See `TokenStore.listen`. */
  listen(channel: string, onMessage: (payload: string) => void, options?: ListenOptions): Promise<() => Promise<void>>;
  /** Stop listening and end the connection; later `listen` calls reject. */
  close(): Promise<void>;
}

interface Subscriber {
  onMessage: (payload: string) => void;
  onReconnect: (() => void) | undefined;
}

/**
 * `TokenStore.listen` on node-postgres: ONE dedicated connection (opened on the first `listen`,
 * ended when nothing listens any more), shared by every channel and subscriber. When it drops, it
 * reconnects with exponential backoff and jitter while anyone listens, LISTENs again, and then
 * tells the subscribers who were listening during the gap (`onReconnect`), since notifications
 * sent meanwhile are lost for good.
 *
 * Every connect, LISTEN, UNLISTEN and end runs one at a time, so that a subscriber leaving while
 * another arrives can never leave the connection listening to the wrong set of channels.
 *
 * @example
 * const listener = pgListener({ connect: async () => { const c = new pg.Client(url); await c.connect(); return c; } });
 * const unlisten = await listener.listen('tokengate_changes', (payload) => console.log(payload));
 */
export function pgListener(options: PgListenerOptions): PgListener {
  const minDelay = options.minReconnectDelayMs ?? 100;
  const maxDelay = options.maxReconnectDelayMs ?? 10_000;
  const channels = new Map<string, Set<Subscriber>>();
  /** Subscribers that were listening when the connection dropped: told once it listens again. */
  const missed = new Set<Subscriber>();
  /** Channels LISTENed on `client`. */
  const listening = new Set<string>();
  let client: pg.Client | null = null;
  let closed = false;
  let attempts = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  /** Run `task` after every task queued before it. */
  function serial<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task, task);
    queue = run.catch(() => {});
    return run;
  }

  const subscribed = (s: Subscriber) => [...channels.values()].some((set) => set.has(s));

  function lost(c: pg.Client): void {
    if (client !== c) return; // one we ended on purpose, or an earlier one
    client = null;
    listening.clear();
    c.end().catch(() => {});
    for (const set of channels.values()) for (const s of set) missed.add(s);
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (closed || timer || client || channels.size === 0) return;
    const delay = Math.min(maxDelay, minDelay * 2 ** Math.min(attempts, 20)) * (0.5 + Math.random() / 2);
    attempts++;
    timer = setTimeout(() => {
      timer = undefined;
      serial(sync).catch(() => scheduleReconnect());
    }, delay);
  }

  async function open(): Promise<pg.Client> {
    const c = await options.connect();
    c.on('notification', (message) => {
      for (const s of channels.get(message.channel) ?? []) {
        try {
          s.onMessage(message.payload ?? '');
        } catch {
          // One failing subscriber must not keep the others from their notifications.
        }
      }
    });
    // A connection that failed must not crash the process ('error' without a listener would).
    c.on('error', () => lost(c));
    c.on('end', () => lost(c));
    client = c;
    listening.clear();
    return c;
  }

  /** Make the connection listen to exactly the channels someone listens to (none: end it). */
  async function sync(): Promise<void> {
    if (closed) return;
    if (channels.size === 0) {
      missed.clear();
      if (client) {
        const c = client;
        client = null;
        listening.clear();
        await c.end().catch(() => {});
      }
      return;
    }
    const c = client ?? (await open());
    try {
      for (const channel of channels.keys()) {
        if (listening.has(channel)) continue;
        await c.query(`listen ${escapeIdentifier(channel)}`);
        listening.add(channel);
      }
      for (const channel of [...listening]) {
        if (channels.has(channel)) continue;
        await c.query(`unlisten ${escapeIdentifier(channel)}`);
        listening.delete(channel);
      }
    } catch (error) {
      lost(c);
      throw error;
    }
    attempts = 0;
    const gap = [...missed];
    missed.clear();
    for (const s of gap) {
      if (!subscribed(s)) continue;
      try {
        s.onReconnect?.();
      } catch {
        // as above
      }
    }
  }

  return {
    async listen(channel, onMessage, listenOptions = {}) {
      if (closed) throw new TokenGateError('unavailable', 'The store is closed.');
      if (typeof channel !== 'string' || channel === '' || typeof onMessage !== 'function') {
        throw new TypeError('listen: a channel name and a callback are required');
      }
      const subscriber: Subscriber = { onMessage, onReconnect: listenOptions.onReconnect };
      const set = channels.get(channel) ?? new Set<Subscriber>();
      channels.set(channel, set);
      set.add(subscriber);
      const leave = () => {
        set.delete(subscriber);
        missed.delete(subscriber);
        if (set.size === 0 && channels.get(channel) === set) channels.delete(channel);
      };
      try {
        await serial(sync);
      } catch (error) {
        leave();
        scheduleReconnect(); // for whoever else listens
        throw databaseError(error);
      }
      let left = false;
      return async () => {
        if (left) return;
        left = true;
        leave();
        await serial(sync).catch(() => scheduleReconnect());
      };
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      channels.clear();
      missed.clear();
      await serial(async () => {
        const c = client;
        client = null;
        listening.clear();
        await c?.end().catch(() => {});
      });
    },
  };
}

/** A quoted identifier (channel names are identifiers: case and punctuation kept). */
function escapeIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
