/**
 * The loopback HTTP client of the benchmarks: an undici Pool (keep-alive, one connection per
 * lane) in a child process (bench/loopback-client-process.mjs), so the client neither shares the
 * server's event loop nor becomes the bottleneck, and the benchmark process's CPU time is the
 * server's alone; the in-process rows call the handler in the benchmark process.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Samples } from './measure.ts';

/** One request the client may send (picked at random per request when there are several). */
export interface LoopbackRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** One measurement: `lanes` concurrent requests against `origin` for the window. */
export interface LoopbackSpec {
  origin: string;
  lanes: number;
  durationMs: number;
  warmupMs: number;
  requests: LoopbackRequest[];
  /** Every answer must have this status (anything else counts as an error). */
  expectStatus: number;
  /** When set, each request gets `Idempotency-Key: <keyPrefix>-<n>`, unique per client. */
  keyPrefix?: string;
}

/** A client in its own process. */
export interface LoopbackClient {
  /** Run one measurement; resolves with its raw samples (merge with `summarizeSamples`). */
  run(spec: LoopbackSpec): Promise<Samples>;
  /** Close the connections and end the process. */
  close(): Promise<void>;
}

/**
 * Start the client process.
 *
 * @example
 * const client = startLoopbackClient();
 * const samples = await client.run({ origin, lanes: 8, durationMs: 1000, warmupMs: 200, requests, expectStatus: 200 });
 * await client.close();
 */
export function startLoopbackClient(): LoopbackClient {
  // Without the parent's execArgv: the client needs no TypeScript loader.
  const child = fork(fileURLToPath(new URL('./loopback-client-process.mjs', import.meta.url)), [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  child.on('message', (message: { id: number; samples?: unknown; error?: string }) => {
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(`loopback client: ${message.error}`));
    else waiter?.resolve(message.samples);
  });
  const fail = (error: Error) => {
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  };
  child.on('error', fail);
  child.on('exit', (code) => fail(new Error(`loopback client exited (${code})`)));
  const call = (spec: LoopbackSpec | { close: true }) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ id, spec });
    });
  return {
    run: async (spec) => (await call(spec)) as Samples,
    async close() {
      if (child.exitCode !== null || !child.connected) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        await call({ close: true });
      } catch {
        child.kill();
      }
      await exited;
    },
  };
}
