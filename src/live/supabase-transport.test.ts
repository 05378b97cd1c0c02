/**
 * The Supabase Realtime transport against a fake supabase-js client and channel that implement
 * exactly what the transport uses (`RealtimeClientLike`; supabase-transport.test-d.ts checks that
 * supabase-js's own client satisfies it, so a drift of supabase-js breaks the type check).
 */
import { describe, expect, it } from 'vitest';
import type { BalanceChange, Balances } from '../core/types.ts';
import { fakeSupabase } from '../../test/fake-supabase-realtime.ts';
import type { LiveStatus } from './live-transport.ts';
import { createSupabaseTransport } from './supabase-transport.ts';

const ORG = '7b0c3f5e-0000-4000-8000-000000000001';

const change = (over: Partial<BalanceChange> = {}): BalanceChange => ({
  orgId: ORG,
  tokenType: 'quest_generation',
  ledgerId: 3,
  kind: 'deduct',
  available: 9,
  allowanceRemaining: 9,
  purchased: 0,
  held: 0,
  ...over,
});

describe('createSupabaseTransport', () => {
  it("joins the organization's private channel and delivers its balance broadcasts", () => {
    const supabase = fakeSupabase();
    const seen = { changes: [] as BalanceChange[], statuses: [] as LiveStatus[], gaps: 0, snapshots: [] as Balances[] };
    const stop = createSupabaseTransport(supabase).subscribe(ORG, {
      onChange: (c) => seen.changes.push(c),
      onStatus: (s) => seen.statuses.push(s),
      onGap: () => seen.gaps++,
      onSnapshot: (b) => seen.snapshots.push(b),
    });
    const [channel] = supabase.channels;
    expect(supabase.channels).toHaveLength(1);
    expect(channel!.name).toBe(`tokengate:org:${ORG}`);
    expect(channel!.opts).toEqual({ config: { private: true } });
    expect(channel!.listeners.map((l) => [l.type, l.event])).toEqual([['broadcast', 'balance']]);
    expect(channel!.subscribed).toBe(1);
    expect(seen.statuses).toEqual(['connecting']);

    // Joined: live, and whatever changed before the join is refetched once.
    channel!.status('SUBSCRIBED');
    expect(seen.statuses).toEqual(['connecting', 'live']);
    expect(seen.gaps).toBe(1);

    channel!.broadcast('balance', change());
    channel!.broadcast('balance', change({ orgId: '7b0c3f5e-0000-4000-8000-000000000009', ledgerId: 4 }));
    channel!.broadcast('balance', { orgId: ORG, tokenType: 'quest_generation' });
    channel!.broadcast('other', change({ ledgerId: 5 }));
    expect(seen.changes).toEqual([change()]);

    // Down (supabase-js rejoins by itself): polling meanwhile; rejoined: live, and one refetch.
    channel!.status('CHANNEL_ERROR');
    expect(seen.statuses.at(-1)).toBe('polling');
    channel!.status('SUBSCRIBED');
    expect(seen.statuses).toEqual(['connecting', 'live', 'polling', 'live']);
    expect(seen.gaps).toBe(2);
    expect(seen.snapshots).toEqual([]);

    stop();
    stop();
    expect(supabase.removed).toEqual([channel]);
    channel!.broadcast('balance', change({ ledgerId: 6 }));
    channel!.status('CLOSED');
    expect(seen.changes).toHaveLength(1);
    expect(seen.statuses).toHaveLength(4);
  });
});
