/**
 * An app's webhook receiver on a loopback port (node:http), for the webhook suites: it verifies
 * each request's Standard Webhooks signature with the library, processes each `webhook-id` once
 * (dedupe, as a real receiver must), and answers as each test scripts it — fail with a status,
 * hang until the worker's timeout, reset the connection, or process and then lose the answer.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** How the receiver answers one request. */
export type Answer =
  | { kind: 'ok'; status?: number }
  /** An error status; `body` is the answer's text, `headers` e.g. Retry-After. */
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  /** Never answer (the worker times out); not processed. */
  | { kind: 'hang' }
  /** Process the event, then never answer: the answer is lost, the worker retries, dedupe catches it. */
  | { kind: 'process-then-hang' }
  /** Destroy the socket without answering; not processed. */
  | { kind: 'reset' }
  /** Answer 204 once `released` resolves (holding requests in flight). */
  | { kind: 'hold'; released: Promise<void> };

/** One request as received. */
export interface ReceivedRequest {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  headers: Record<string, string>;
  /** The library's `verify` accepted it with the receiver's secret. */
  verified: boolean;
  answer: Answer['kind'];
}

/** The receiver and what it saw. */
export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /**
   * webhook-id → how many requests for it reached processing. More than one is a duplicate that a
   * receiver must drop by webhook-id (an answer that was lost, a replay); the keys are what it handled.
   */
  processed: Map<string, number>;
  /** webhook-id → requests for it in flight right now. */
  inFlight: Map<string, number>;
  /** The most requests in flight at once for one webhook-id. */
  maxInFlightPerId: () => number;
  /** Requests with this webhook-id so far. */
  count: (id: string) => number;
  close(): Promise<void>;
}

/**
 * Start a receiver; `answer(request, n)` decides the answer to the n-th request (1-based) for its
 * webhook-id (default: 204 for all).
 *
 * @example
 * const receiver = await startReceiver(SECRET, (req, n) => (n === 1 ? { kind: 'status', status: 500 } : { kind: 'ok' }));
 */
export async function startReceiver(secret: string, answer: (request: ReceivedRequest, n: number) => Answer = () => ({ kind: 'ok' })): Promise<Receiver> {
  const webhook = new Webhook(secret);
  const requests: ReceivedRequest[] = [];
  const processed = new Map<string, number>();
  const inFlight = new Map<string, number>();
  let maxPerId = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    const id = headers['webhook-id'] ?? '';
    let verified = false;
    try {
      webhook.verify(body, headers);
      verified = true;
    } catch {
      verified = false;
    }
    const n = requests.filter((r) => r.id === id).length + 1;
    const received: ReceivedRequest = { id, timestamp: headers['webhook-timestamp'] ?? '', signature: headers['webhook-signature'] ?? '', body, headers, verified, answer: 'ok' };
    const decided: Answer = verified ? answer(received, n) : { kind: 'status', status: 400, body: 'bad signature' };
    received.answer = decided.kind;
    requests.push(received);
    const process = () => processed.set(id, (processed.get(id) ?? 0) + 1);
    inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
    maxPerId = Math.max(maxPerId, inFlight.get(id)!);
    const done = () => inFlight.set(id, inFlight.get(id)! - 1);
    switch (decided.kind) {
      case 'ok':
        process();
        done();
        res.writeHead(decided.status ?? 204).end();
        return;
      case 'status':
        done();
        res.writeHead(decided.status, { 'content-type': 'text/plain', ...decided.headers }).end(decided.body ?? '');
        return;
      case 'hang':
        // Counted out of flight when the worker gives up and closes the connection.
        res.on('close', done);
        return;
      case 'process-then-hang':
        process();
        res.on('close', done);
        return;
      case 'reset':
        done();
        req.socket.destroy();
        return;
      case 'hold':
        await decided.released;
        process();
        done();
        res.writeHead(204).end();
        return;
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/tokengate`,
    requests,
    processed,
    inFlight,
    maxInFlightPerId: () => maxPerId,
    count: (id) => requests.filter((r) => r.id === id).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
