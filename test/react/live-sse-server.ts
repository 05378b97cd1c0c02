/**
 * A small HTTP server on a loopback port that speaks the kit's side of the live contract, for the
 * live kit suites before (and beside) the real handler: `GET /orgs/:orgId/balances` and `/stats`
 * (counted), and `GET /orgs/:orgId/events` as server-sent events (`event: balance` with
 * `id: <ledgerId>`, `event: snapshot`, `retry:`), or a queued non-stream answer (401, 429 with
 * Retry-After, 501 problem+json, an HTML page…). Each connection's request headers are kept.
 */
import http from 'node:http';
import type { Balances } from '../../src/core/types.ts';
import type { BalanceChange } from '../../src/core/types.ts';
import { createTokenClient, type TokenClient } from '../../src/core/create-token-client.ts';
import { waitFor } from '../wait-for.ts';

/** A canned answer to one events request. */
export interface CannedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** One events request the server received. */
export interface EventsRequest {
  orgId: string;
  lastEventId: string | null;
  authorization: string | null;
  /** Set when the client closed it (or the server ended it). */
  closed: boolean;
}

/** A problem+json answer, as the handler sends them. */
export function problem(status: number, code: string, headers: Record<string, string> = {}): CannedAnswer {
  return {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: JSON.stringify({ type: `https://tokengate.dev/errors/${code}`, title: code, status, code }),
  };
}

/** The SSE text of a change. */
export function balanceEvent(change: BalanceChange): string {
  return `event: balance\nid: ${change.ledgerId}\ndata: ${JSON.stringify(change)}\n\n`;
}

/**
 * Start the server; `balances` is what `/balances` answers (replace `state.balances` to change it).
 *
 * @example
 * const live = await startLiveServer(balancesOf(orgId)); const client = live.client(orgId);
 */
export async function startLiveServer(balances: Balances) {
  const state = {
    balances,
    /** Sent after connecting (like the handler): the current `balances`. */
    snapshotOnConnect: true,
    /** Sent first on every stream. */
    retryMs: null as number | null,
    balancesRequests: 0,
    statsRequests: 0,
    /** When set, `/balances` answers once it resolves, with the balances as they were when asked. */
    holdBalances: null as Promise<void> | null,
    events: [] as EventsRequest[],
    /** Answers for the next events requests, in order; when empty, a stream. */
    answers: [] as CannedAnswer[],
  };
  const streams = new Map<http.ServerResponse, EventsRequest>();
  const sockets = new Set<import('node:net').Socket>();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/api\/tokengate\/orgs\/([^/]+)\/(balances|stats|events)$/.exec(url.pathname);
    if (!match) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no route');
    const [, orgId, route] = match as unknown as [string, string, string];
    const unauthorized = req.headers.authorization !== 'Bearer token-of-ada';
    const refuse = () => {
      const p = problem(401, 'unauthorized');
      res.writeHead(p.status, p.headers).end(p.body);
    };
    if (route !== 'events' && unauthorized) return refuse();
    if (route === 'balances') {
      state.balancesRequests++;
      const body = JSON.stringify(state.balances);
      return void Promise.resolve(state.holdBalances).then(() => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
    }
    if (route === 'stats') {
      state.statsRequests++;
      const stats = { orgId, from: url.searchParams.get('from'), to: url.searchParams.get('to'), totals: { tokens: state.statsRequests, events: 1 }, byType: [], byDay: [], byMember: [], forecast: [] };
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    }
    const request: EventsRequest = {
      orgId,
      lastEventId: (req.headers['last-event-id'] as string | undefined) ?? null,
      authorization: req.headers.authorization ?? null,
      closed: false,
    };
    state.events.push(request);
    if (unauthorized) {
      request.closed = true;
      return refuse();
    }
    const canned = state.answers.shift();
    if (canned) {
      request.closed = true;
      return void res.writeHead(canned.status, canned.headers ?? {}).end(canned.body ?? '');
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform' });
    res.flushHeaders();
    if (state.retryMs !== null) res.write(`retry: ${state.retryMs}\n\n`);
    if (state.snapshotOnConnect) res.write(`event: snapshot\ndata: ${JSON.stringify(state.balances)}\n\n`);
    streams.set(res, request);
    res.on('close', () => {
      request.closed = true;
      streams.delete(res);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const baseUrl = `http://127.0.0.1:${port}/api/tokengate`;

  const open = () => [...streams.values()].filter((r) => !r.closed);

  return {
    state,
    baseUrl,
    /** A client of the server for `orgId`, signed in as Ada (`token` overrides the access token). */
    client(orgId: string, token: string | null = 'token-of-ada'): TokenClient {
      return createTokenClient({ baseUrl, getAccessToken: () => token, orgId });
    },
    /** The streams open now. */
    open,
    /** Write raw SSE text to every open stream (of `orgId` when given). */
    write(text: string, orgId?: string) {
      for (const [res, request] of streams) if (!orgId || request.orgId === orgId) res.write(text);
    },
    /**
     * Send a change to the open streams of its organization, and (unless `record: false`, for a
     * stale or duplicate event) make `/balances` answer the figures after it, as a server would.
     */
    send(change: BalanceChange, { record = true }: { record?: boolean } = {}) {
      if (record && state.balances.orgId === change.orgId) {
        state.balances = {
          ...state.balances,
          tokenTypes: state.balances.tokenTypes.map((b) => {
            if (b.tokenType !== change.tokenType) return b;
            const consumed = Math.max(0, b.allowanceRemaining + b.purchased + b.held - (change.allowanceRemaining + change.purchased + change.held));
            const used = change.kind === 'deduct' || change.kind === 'commit' ? b.used + consumed : b.used;
            return { ...b, allowanceRemaining: change.allowanceRemaining, purchased: change.purchased, held: change.held, available: change.available, used };
          }),
        };
      }
      this.write(balanceEvent(change), change.orgId);
    },
    /** End every open stream (a server's maximum lifetime, a deploy). */
    endStreams() {
      for (const res of streams.keys()) res.end();
    },
    /** Resolve once `n` events requests were made in all. */
    async waitForRequests(n: number, what = `${n} events requests`) {
      await waitFor(() => state.events.length >= n, { what });
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What `startLiveServer` returns. */
export type LiveServer = Awaited<ReturnType<typeof startLiveServer>>;
