/**
 * A fake supabase-js client for the live kit: exactly the part of its Realtime API that
 * `createSupabaseTransport` uses (`RealtimeClientLike`: `channel`, `removeChannel`, and the
 * channel's `on('broadcast', …)` and `subscribe`), recording what the transport asked for and
 * letting a test play the Realtime server (broadcasts, join statuses).
 * `src/live/supabase-transport.test-d.ts` checks that supabase-js's own client satisfies the same
 * interface, so a drift of supabase-js breaks the type check rather than only this fake.
 */
import type { RealtimeBroadcastChannel, RealtimeClientLike } from '../src/live/supabase-transport.ts';

/** A channel that records what the transport asked of it and lets the test play the server. */
export class FakeChannel implements RealtimeBroadcastChannel {
  readonly listeners: { type: string; event: string; callback: (message: { payload?: unknown }) => void }[] = [];
  onStatus: ((status: string, err?: Error) => void) | null = null;
  subscribed = 0;
  constructor(
    readonly name: string,
    readonly opts: { config: { private: boolean } },
  ) {}
  on(type: 'broadcast', filter: { event: string }, callback: (message: { payload?: unknown }) => void): this {
    this.listeners.push({ type, event: filter.event, callback });
    return this;
  }
  subscribe(callback?: (status: string, err?: Error) => void): this {
    this.subscribed++;
    this.onStatus = callback ?? null;
    return this;
  }
  /** A broadcast from the database, shaped like supabase-js delivers it. */
  broadcast(event: string, payload: unknown) {
    for (const l of this.listeners) if (l.type === 'broadcast' && l.event === event) l.callback({ type: 'broadcast', event, payload } as { payload?: unknown });
  }
  status(status: 'SUBSCRIBED' | 'TIMED_OUT' | 'CLOSED' | 'CHANNEL_ERROR') {
    this.onStatus?.(status, status === 'CHANNEL_ERROR' ? new Error('denied') : undefined);
  }
}

/** A supabase-js client with only `channel` and `removeChannel`, and what was asked of it. */
export function fakeSupabase(): RealtimeClientLike & { channels: FakeChannel[]; removed: RealtimeBroadcastChannel[] } {
  const channels: FakeChannel[] = [];
  const removed: RealtimeBroadcastChannel[] = [];
  const client: RealtimeClientLike = {
    channel(name, opts) {
      const channel = new FakeChannel(name, opts);
      channels.push(channel);
      return channel;
    },
    async removeChannel(channel) {
      removed.push(channel);
      return 'ok';
    },
  };
  return Object.assign(client, { channels, removed });
}
