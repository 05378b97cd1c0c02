import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { Balances } from '../../src/core/types.ts';
import type { GateContext } from '../gate.ts';
import type { BalanceChange } from '../../src/core/types.ts';
import type { ChangeHub } from './change-hub.ts';
import type { ConnectionLimits } from './connection-limits.ts';

/**
 * How one live stream behaves (`createHandler`'s `events` options, with their defaults applied).
 *
 * @example
 * const settings: LiveStreamSettings = { heartbeatMs: 15_000, maxLifetimeMs: 300_000, retryMs: 2000, maxBufferedBytes: 262_144, maxReplay: 500 };
 */
export interface LiveStreamSettings {
  /** A comment line is sent this often, ms, so that proxies and clients see the connection alive. */
  heartbeatMs: number;
  /** The stream ends after about this long, ms (the client resumes with Last-Event-ID). */
  maxLifetimeMs: number;
  /** The `retry:` the stream suggests to the client, ms. */
  retryMs: number;
  /** Bytes a client may leave unread before it is cut off. */
  maxBufferedBytes: number;
  /** Most changes replayed after a Last-Event-ID; beyond that the snapshot stands for them. */
  maxReplay: number;
}

/**
 * What the live stream needs from the gate.
 *
 * @example
 * const liveGate: LiveGate = createTokenGate({ store });
 */
export interface LiveGate {
  balances(ctx: GateContext): Promise<Balances>;
  changes(ctx: GateContext, opts: { afterId: number; limit?: number }): Promise<{ changes: BalanceChange[]; more: boolean }>;
}

/** The changes asked for per replay call. */
const REPLAY_PAGE = 500;

const encoder = new TextEncoder();
/** Each change's `balance` event, encoded once for every stream it goes to. */
const frames = new WeakMap<BalanceChange, Uint8Array>();

function balanceFrame(change: BalanceChange, data: string): Uint8Array {
  let frame = frames.get(change);
  if (!frame) {
    frame = encoder.encode(`id: ${change.ledgerId}\nevent: balance\ndata: ${data}\n\n`);
    frames.set(change, frame);
  }
  return frame;
}

/**
 * The `GET /orgs/:orgId/events` answer: a Server-Sent Events stream of the organization's balance
 * changes for `member`, or a thrown `TokenGateError` before any stream exists.
 *
 * In order: take a connection slot (429 `too_many_connections`); subscribe to the hub, so that
 * every change committed from then on is buffered; prove membership with the first ledger call
 * (403 `not_a_member`: no stream at all). The stream then carries the replay (`balance` events after
 * `lastEventId`, oldest first, at most `maxReplay`), ALWAYS a `snapshot` event (the member's
 * balances, read after the replay), the changes buffered meanwhile minus those replayed, and from
 * then on each change as it commits, with a comment line every `heartbeatMs`. It ends after about
 * `maxLifetimeMs`, when the database connection had a gap, or on a `problem` event; the client
 * resumes with Last-Event-ID. A client that leaves more than `maxBufferedBytes` unread is cut off.
 *
 * Ledger ids are not in commit order across token types, so a live change is never dropped for
 * having a lower id than one already sent: only ids the replay sent are skipped.
 *
 * @example
 * return liveEventsResponse({ gate, member, hub, limits, lastEventId: 1042, signal: request.signal, settings });
 */
export async function liveEventsResponse(args: {
  gate: LiveGate;
  member: GateContext;
  hub: ChangeHub;
  limits: ConnectionLimits;
  lastEventId: number | null;
  signal: AbortSignal;
  settings: LiveStreamSettings;
}): Promise<Response> {
  const { gate, member, hub, limits, lastEventId, signal, settings } = args;
  const release = limits.acquire(member.orgId, member.userId);

  let controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  let finished = false;
  let snapshotSent = false;
  /** Changes that arrived before the snapshot was sent, and their size. */
  const pending: [BalanceChange, string][] = [];
  let pendingBytes = 0;
  const replayed = new Set<number>();
  const timers: ReturnType<typeof setTimeout>[] = [];
  /** Timers live only as long as the connection. */
  const every = (ms: number, fn: () => void) => {
    if (!finished) timers.push(setInterval(fn, ms));
  };
  const after = (ms: number, fn: () => void) => {
    if (!finished) timers.push(setTimeout(fn, ms));
  };
  let unsubscribe = () => {};

  /** Stop everything this connection holds (idempotent): the hub subscription, timers, the slot. */
  const finish = () => {
    if (finished) return;
    finished = true;
    for (const t of timers) clearInterval(t);
    signal.removeEventListener('abort', onAbort);
    unsubscribe();
    release();
  };
  /** End the stream cleanly: what is queued still goes out, then the client reconnects. */
  const end = () => {
    if (finished) return;
    finish();
    try {
      controller?.close();
    } catch {
      // already closed or errored
    }
  };
  /** Cut the connection off (a client that does not read). */
  const abort = (reason: string) => {
    if (finished) return;
    finish();
    controller?.error(new Error(reason));
  };
  function onAbort() {
    end();
  }
  const send = (chunk: Uint8Array) => {
    if (finished || !controller) return;
    if ((controller.desiredSize ?? 0) < chunk.byteLength) {
      abort('the client does not read its live stream');
      return;
    }
    controller.enqueue(chunk);
  };
  const sendText = (text: string) => send(encoder.encode(text));

  const subscriber = {
    onChange(change: BalanceChange, data: string) {
      if (finished) return;
      if (!snapshotSent) {
        pending.push([change, data]);
        pendingBytes += data.length;
        if (pendingBytes > settings.maxBufferedBytes) abort('too many changes while the stream was starting');
        return;
      }
      if (!replayed.has(change.ledgerId)) send(balanceFrame(change, data));
    },
    // Changes were missed: the client resumes (replay after its last id, and a fresh snapshot).
    onGap: end,
  };

  signal.addEventListener('abort', onAbort);
  if (signal.aborted) onAbort();
  try {
    const subscription = await hub.subscribe(member.orgId, subscriber);
    if (finished) subscription(); // the client left meanwhile
    else unsubscribe = subscription;
  } catch (error) {
    finish();
    throw error;
  }

  // The first ledger call proves membership before any stream exists.
  let firstPage: { changes: BalanceChange[]; more: boolean } | null = null;
  let snapshot: Balances | null = null;
  try {
    if (lastEventId === null) snapshot = await gate.balances(member);
    else firstPage = await gate.changes(member, { afterId: lastEventId, limit: Math.min(REPLAY_PAGE, settings.maxReplay) });
  } catch (error) {
    finish();
    throw error;
  }

  async function catchUp(): Promise<void> {
    try {
      if (firstPage) {
        let page = firstPage;
        let count = 0;
        for (;;) {
          for (const change of page.changes) {
            replayed.add(change.ledgerId);
            send(balanceFrame(change, JSON.stringify(change)));
            count++;
          }
          const last = page.changes.at(-1);
          if (!page.more || !last || count >= settings.maxReplay || finished) break;
          page = await gate.changes(member, { afterId: last.ledgerId, limit: Math.min(REPLAY_PAGE, settings.maxReplay - count) });
        }
        // Read after the replay, so that it is at least as new as every replayed change.
        snapshot = await gate.balances(member);
      }
      if (finished) return;
      sendText(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      snapshotSent = true;
      for (const [change, data] of pending.splice(0)) if (!replayed.has(change.ledgerId)) send(balanceFrame(change, data));
      pendingBytes = 0;
      every(settings.heartbeatMs, () => sendText(':\n\n'));
    } catch (error) {
      const problem = (error instanceof TokenGateError ? error : new TokenGateError('internal', 'Unexpected error.')).toProblem();
      sendText(`event: problem\ndata: ${JSON.stringify(problem)}\n\n`);
      end();
    }
  }

  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        if (finished) {
          c.close(); // the client left while its membership was checked
          return;
        }
        sendText(`retry: ${settings.retryMs}\n\n`);
        // Spread the reconnects of connections opened together over the last tenth of the lifetime.
        const lifetime = Math.round(settings.maxLifetimeMs * (0.9 + Math.random() * 0.1));
        after(lifetime, end);
        void catchUp();
      },
      cancel: finish,
    },
    new ByteLengthQueuingStrategy({ highWaterMark: settings.maxBufferedBytes }),
  );
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    },
  });
}
