/**
 * Load runner and statistics: `lanes` concurrent loops each await one operation at a time, for a
 * fixed duration (and never more than `maxOps` operations), after a warm-up whose operations are
 * not counted.
 */
import { performance } from 'node:perf_hooks';

/** Throughput and latency of one measurement. */
export interface Measurement {
  /** Operations completed (successfully) in the measured window. */
  ops: number;
  /** Operations that threw in the measured window (a healthy run has 0). */
  errors: number;
  /** The first error's message, if any. */
  firstError?: string;
  /** Measured window in ms. */
  durationMs: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** Options of `runLoad`. */
export interface LoadOptions {
  /** Concurrent loops (one statement / request in flight each). */
  lanes: number;
  /** Measured window in ms (after the warm-up). */
  durationMs: number;
  /** Warm-up in ms (operations started during it are not counted). */
  warmupMs: number;
  /** Hard cap on operations started (warm-up included). Default 10,000,000. */
  maxOps?: number;
}

/** Raw samples of one or more load runs, before they are summarized. */
export interface Samples {
  latencies: number[];
  durationMs: number;
  errors: number;
  firstError?: string;
  /** Operations started, warm-up included (to divide the CPU time of the whole run by). */
  started?: number;
}

/**
 * Run `op` on `lanes` concurrent loops until the deadline; every loop stops by itself.
 *
 * @example
 * const m = await runLoad({ lanes: 8, durationMs: 3000, warmupMs: 500 }, () => pool.query('select 1'));
 */
export async function runLoad(options: LoadOptions, op: (lane: number) => Promise<unknown>): Promise<Measurement> {
  return summarizeSamples([await sampleLoad(options, op)]);
}

/**
 * `runLoad`, returning the raw samples (to merge several runs, e.g. alternating variants).
 *
 * @example
 * const s = await sampleLoad({ lanes: 1, durationMs: 1000, warmupMs: 100 }, op);
 */
export async function sampleLoad(options: LoadOptions, op: (lane: number) => Promise<unknown>): Promise<Samples> {
  const maxOps = options.maxOps ?? 10_000_000;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const latencies: number[] = [];
  let started = 0;
  let errors = 0;
  let firstError: string | undefined;
  let lastDone = measureFrom;

  await Promise.all(
    Array.from({ length: options.lanes }, async (_, lane) => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end || started >= maxOps) return;
        started++;
        let failed = false;
        try {
          await op(lane);
        } catch (error) {
          failed = true;
          if (t0 >= measureFrom) {
            errors++;
            firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          }
        }
        const t1 = performance.now();
        if (t0 >= measureFrom) {
          if (!failed) latencies.push(t1 - t0);
          if (t1 > lastDone) lastDone = t1;
        }
      }
    }),
  );
  return { latencies, durationMs: Math.max(lastDone - measureFrom, 1), errors, started, ...(firstError === undefined ? {} : { firstError }) };
}

/**
 * Run `sample` and measure this process's CPU time (user + system, all threads) per operation
 * started, in µs. Less sensitive to a loaded machine than throughput: time spent waiting for a
 * core is not counted.
 *
 * @example
 * const { samples, cpuMicros } = await withCpu(() => sampleLoad(load, op));
 */
export async function withCpu(sample: () => Promise<Samples>): Promise<{ samples: Samples; cpuMicros: number }> {
  const before = process.cpuUsage();
  const samples = await sample();
  const used = process.cpuUsage(before);
  return { samples, cpuMicros: used.user + used.system };
}

/** Merge runs: operations and measured time add up, latencies pool. */
export function summarizeSamples(runs: Samples[]): Measurement {
  const latencies = runs.flatMap((r) => r.latencies);
  const durationMs = runs.reduce((sum, r) => sum + r.durationMs, 0);
  const errors = runs.reduce((sum, r) => sum + r.errors, 0);
  return summarize(latencies, Math.max(durationMs, 1), errors, runs.find((r) => r.firstError !== undefined)?.firstError);
}

/**
 * Run `op` `count` times one after another (no warm-up beyond `warmup` uncounted runs).
 *
 * @example
 * const m = await runSequential(200, 10, () => gate.stats(ctx, range));
 */
export async function runSequential(count: number, warmup: number, op: (i: number) => Promise<unknown>): Promise<Measurement> {
  for (let i = 0; i < warmup; i++) await op(-1 - i);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    try {
      await op(i);
      latencies.push(performance.now() - t0);
    } catch (error) {
      errors++;
      firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
  }
  return summarize(latencies, Math.max(performance.now() - start, 1), errors, firstError);
}

function summarize(latencies: number[], durationMs: number, errors: number, firstError: string | undefined): Measurement {
  const sorted = Float64Array.from(latencies).sort();
  return {
    ops: sorted.length,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    durationMs: round(durationMs, 1),
    opsPerSec: round((sorted.length * 1000) / durationMs, 1),
    p50Ms: round(percentile(sorted, 0.5), 3),
    p99Ms: round(percentile(sorted, 0.99), 3),
  };
}

/** Nearest-rank percentile of sorted values (0 when empty). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}

/** The median of a few timings. */
export function median(values: number[]): number {
  return percentile(Float64Array.from(values).sort(), 0.5);
}

/** Round to `digits` decimals. */
export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Time one async call in ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}
