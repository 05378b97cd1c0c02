/**
 * The SSE transport over real HTTP on a loopback port, against a small server that speaks the
 * events contract (test/react/live-sse-server.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { lowBalances } from '../components/fixtures.ts';
import type { BalanceChange, Balances } from '../core/types.ts';
import { problem, startLiveServer, type LiveServer } from '../../test/react/live-sse-server.ts';
import { waitFor } from '../../test/wait-for.ts';
import type { LiveStatus } from './live-transport.ts';
import { createSseTransport, type SseTransportOptions } from './sse-transport.ts';

const ORG = '7b0c3f5e-0000-4000-8000-000000000001';
const OTHER_ORG = '7b0c3f5e-0000-4000-8000-000000000002';
const balancesOf = (orgId: string): Balances => ({ ...lowBalances, orgId });
const change = (over: Partial<BalanceChange> = {}): BalanceChange => ({
  orgId: ORG,
  tokenType: 'quest_generation',
  ledgerId: 1,
  kind: 'deduct',
  available: 55,
  allowanceRemaining: 55,
  purchased: 0,
  held: 0,
  ...over,
});

let server: LiveServer;
const stops: (() => void)[] = [];
let visibility: DocumentVisibilityState = 'visible';

beforeAll(async () => {
  server = await startLiveServer(balancesOf(ORG));
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
});
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
  setVisibility('visible');
  Object.assign(server.state, { answers: [], events: [], retryMs: null, snapshotOnConnect: true });
});
afterAll(async () => {
  await server.stop();
});

function setVisibility(next: DocumentVisibilityState) {
  visibility = next;
  document.dispatchEvent(new Event('visibilitychange'));
}

/** Subscribe with a recording of everything the transport reports. */
function subscribe(options: SseTransportOptions = {}, orgId = ORG, token: string | null = 'token-of-ada') {
  const seen = { changes: [] as BalanceChange[], snapshots: [] as Balances[], statuses: [] as LiveStatus[] };
  const retryDelay = vi.fn<(attempt: number, minimumMs: number | null) => number>(() => 0);
  const stop = createSseTransport(server.client(orgId, token), { retryDelay, ...options }).subscribe(orgId, {
    onChange: (c) => seen.changes.push(c),
    onSnapshot: (b) => seen.snapshots.push(b),
    onStatus: (s) => seen.statuses.push(s),
  });
  stops.push(stop);
  const status = () => seen.statuses.at(-1);
  return { seen, stop, retryDelay, status };
}

describe('createSseTransport', () => {
  it('streams the snapshot and the changes of its organization, authorised like the client', async () => {
    const { seen, status } = subscribe();
    await waitFor(() => seen.snapshots.length === 1, { what: 'the snapshot' });
    expect(seen.statuses).toEqual(['connecting', 'live']);
    expect(seen.snapshots[0]).toEqual(balancesOf(ORG));
    expect(server.state.events).toMatchObject([{ orgId: ORG, lastEventId: null, authorization: 'Bearer token-of-ada' }]);

    server.send(change({ ledgerId: 7 }));
    // A foreign organization's change, a malformed one, and one split across two chunks.
    server.write(`event: balance\nid: 8\ndata: ${JSON.stringify(change({ orgId: OTHER_ORG, ledgerId: 8 }))}\n\n`);
    server.write('event: balance\nid: 9\ndata: {"orgId":\n\n');
    // Another organization's snapshot, a snapshot that is not balances, an id that is not a ledger id.
    server.write(`event: snapshot\ndata: ${JSON.stringify(balancesOf(OTHER_ORG))}\n\n`);
    server.write(`event: snapshot\ndata: {"orgId":"${ORG}"}\n\n`);
    server.write(`event: balance\nid: 999999; drop table\ndata: ${JSON.stringify(change({ ledgerId: -1 }))}\n\n`);
    server.write('event: balance\nid: 10\nda');
    server.write(`ta: ${JSON.stringify(change({ ledgerId: 10, available: 50, allowanceRemaining: 50 }))}\n\n: heartbeat\n\n`);
    await waitFor(() => seen.changes.length === 2, { what: 'two changes' });
    expect(seen.changes.map((c) => c.ledgerId)).toEqual([7, 10]);
    expect(seen.snapshots).toHaveLength(1);
    expect(status()).toBe('live');
  });

  it('reconnects when the server ends the stream, resuming with Last-Event-ID after its retry: delay', async () => {
    server.state.retryMs = 1234;
    const { seen, retryDelay } = subscribe();
    await waitFor(() => seen.snapshots.length === 1, { what: 'the snapshot' });
    server.send(change({ ledgerId: 41 }));
    server.send(change({ ledgerId: 40, tokenType: 'image_generation' }));
    await waitFor(() => seen.changes.length === 2, { what: 'the changes' });
    server.endStreams();
    await server.waitForRequests(2, 'the reconnect');
    // The highest ledger id seen, whatever the order the changes came in.
    expect(server.state.events[1]!.lastEventId).toBe('41');
    // A connection that delivered changes worked: the backoff starts over, from the server's retry:.
    expect(retryDelay).toHaveBeenCalledWith(0, 1234);
    await waitFor(() => seen.snapshots.length === 2, { what: 'the snapshot after resuming' });
    expect(seen.statuses).toEqual(['connecting', 'live', 'connecting', 'live']);
  });

  it.each([
    [401, problem(401, 'unauthorized')],
    [403, problem(403, 'not_a_member')],
  ])('stops for good on %i: reports off, never retries, not even when the page shows again', async (_status, answer) => {
    server.state.answers.push(answer);
    const { seen, retryDelay, status } = subscribe();
    await waitFor(() => status() === 'off', { what: 'off' });
    setVisibility('hidden');
    setVisibility('visible');
    // Synchronous: a reconnect would have reported `connecting` and asked for a delay by now.
    expect(seen.statuses).toEqual(['connecting', 'off']);
    expect(retryDelay).not.toHaveBeenCalled();
    expect(server.state.events).toHaveLength(1);
  });

  it('stops on a 401 of the access token itself (no token: no Authorization header)', async () => {
    const { retryDelay, status } = subscribe({}, ORG, null);
    await waitFor(() => status() === 'off', { what: 'off' });
    expect(server.state.events).toMatchObject([{ authorization: null }]);
    expect(retryDelay).not.toHaveBeenCalled();
  });

  it.each([
    ['404 (no events route)', { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' }],
    ['501 live_unavailable', problem(501, 'live_unavailable')],
    ['200 that is not an event stream (an SPA fallback page)', { status: 200, headers: { 'content-type': 'text/html' }, body: '<!doctype html>' }],
  ])('falls back to polling for good on %s', async (_what, answer) => {
    server.state.answers.push(answer);
    const { seen, retryDelay, status } = subscribe();
    await waitFor(() => status() === 'polling', { what: 'polling' });
    expect(seen.statuses).toEqual(['connecting', 'polling']);
    // Hidden, it pauses; visible again, it polls again, without reconnecting.
    setVisibility('hidden');
    expect(status()).toBe('paused');
    setVisibility('visible');
    expect(status()).toBe('polling');
    expect(retryDelay).not.toHaveBeenCalled();
    expect(server.state.events).toHaveLength(1);
  });

  it('polls while over the connection limit (429), retrying after what the server asks', async () => {
    const tooMany = problem(429, 'too_many_connections', { 'retry-after': '7' });
    tooMany.body = JSON.stringify({ ...JSON.parse(tooMany.body!), facts: { retryAfter: 7 } });
    server.state.answers.push(tooMany);
    const { seen, retryDelay } = subscribe();
    await waitFor(() => seen.snapshots.length === 1, { what: 'the stream after the retry' });
    expect(retryDelay).toHaveBeenCalledWith(0, 7000);
    expect(seen.statuses).toEqual(['connecting', 'polling', 'live']);
    expect(server.state.events).toHaveLength(2);
  });

  it('backs off on failures (network, 5xx), reporting polling after two in a row while it keeps trying', async () => {
    server.state.answers.push(problem(503, 'unavailable'), problem(500, 'internal'), problem(502, 'internal'));
    const { seen, retryDelay } = subscribe();
    await waitFor(() => seen.snapshots.length === 1, { what: 'the stream after three failures' });
    expect(retryDelay.mock.calls).toEqual([
      [0, null],
      [1, null],
      [2, null],
    ]);
    expect(seen.statuses).toEqual(['connecting', 'polling', 'live']);

    const unreachable = subscribe({ url: () => 'http://127.0.0.1:9/api/tokengate/orgs/x/events' });
    await waitFor(() => unreachable.retryDelay.mock.calls.length >= 3, { what: 'three failed attempts' });
    expect(unreachable.seen.statuses).toEqual(['connecting', 'polling']);
  });

  it('closes while the page is hidden and resumes with Last-Event-ID when it is visible again', async () => {
    const { seen, status } = subscribe();
    await waitFor(() => seen.snapshots.length === 1, { what: 'the snapshot' });
    server.send(change({ ledgerId: 77 }));
    await waitFor(() => seen.changes.length === 1, { what: 'the change' });
    setVisibility('hidden');
    expect(status()).toBe('paused');
    await waitFor(() => server.state.events[0]!.closed, { what: 'the server to see the stream closed' });
    expect(server.open()).toHaveLength(0);
    setVisibility('visible');
    await server.waitForRequests(2, 'the resume');
    expect(server.state.events[1]!.lastEventId).toBe('77');
    await waitFor(() => seen.snapshots.length === 2, { what: 'the snapshot after resuming' });
    expect(seen.statuses).toEqual(['connecting', 'live', 'paused', 'connecting', 'live']);
  });

  it('does not connect while it starts hidden', async () => {
    setVisibility('hidden');
    const { seen } = subscribe();
    expect(seen.statuses).toEqual(['paused']);
    setVisibility('visible');
    await waitFor(() => seen.snapshots.length === 1, { what: 'the snapshot once visible' });
    expect(server.state.events).toHaveLength(1);
  });

  it('polls for good after repeated short-lived connections that delivered no change (a serverless host)', async () => {
    const { seen, retryDelay, status } = subscribe({ minLifetimeMs: 60_000 });
    for (let i = 1; i <= 3; i++) {
      await waitFor(() => server.open().length === 1 && seen.snapshots.length === i, { what: `connection ${i}` });
      server.endStreams();
    }
    await waitFor(() => status() === 'polling', { what: 'polling' });
    expect(server.state.events).toHaveLength(3);
    expect(retryDelay.mock.calls.map(([attempt]) => attempt)).toEqual([0, 1]);
  });

  it('unsubscribing closes the stream and never reconnects', async () => {
    const { seen, stop, retryDelay } = subscribe();
    await waitFor(() => seen.snapshots.length === 1, { what: 'the snapshot' });
    stop();
    await waitFor(() => server.state.events[0]!.closed, { what: 'the server to see the stream closed' });
    setVisibility('hidden');
    setVisibility('visible');
    expect(retryDelay).not.toHaveBeenCalled();
    expect(server.state.events).toHaveLength(1);
  });
});
