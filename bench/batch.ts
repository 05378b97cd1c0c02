/**
 * Section "batch": hot organizations. One organization whose `lanes` users charge ONE bucket at
 * once, unbatched and through `batchingStore`, against the same number of lanes charging
 * `spreadOrgs` organizations at random — all through `createTokenGate` on one pool of
 * service_role sessions (pgbench cannot drive the TypeScript batcher), in one run. The goal of
 * issue 15: hot · batched ≥ 0.5 × spread.
 *
 * Rounds alternate (a b c d, d c b a), half the window each, so a drift of the machine or of the
 * tables does not favour one variant. After the run the ledger must reconcile.
 */
import { randomBytes } from 'node:crypto';
import { createTokenGate, type GateContext } from '../server/gate.ts';
import type { DeductBatchStore } from '../server/store.ts';
import { batchingStore } from '../server/stores/batching-store.ts';
import { postgresStore } from '../server/stores/postgres-store.ts';
import { createBenchDatabase } from './database.ts';
import { round, sampleLoad, summarizeSamples, type Measurement, type Samples } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

const TOKEN_TYPE = 'goal_generation';
const TOP_UP = 1_000_000_000;

/** The variants, in table order. */
export const BATCH_VARIANTS = {
  spread: 'spread: one org of many at random, gate + postgresStore',
  spreadBatched: 'spread: the same, gate + batchingStore',
  hot: 'hot: one org, one bucket, gate + postgresStore',
  hotBatched: 'hot: one org, one bucket, gate + batchingStore',
} as const;
export type BatchVariant = keyof typeof BATCH_VARIANTS;

/** One row of the batch table. */
export interface BatchRow extends Measurement {
  variant: string;
  lanes: number;
  /** ops/s ÷ the spread row's ops/s (same lanes, same run). */
  ratioToSpread: number;
  /** For the batched rows: charges per call the batcher sent (1 = nothing was batched). */
  chargesPerCall?: number;
}

/** What the section returns. */
export interface BatchResults {
  lanes: number;
  spreadOrgs: number;
  rows: BatchRow[];
  /** hot · batched ÷ spread: the goal is ≥ 0.5. */
  hotBatchedToSpread: number;
  verifyLedger: unknown[];
}

/**
 * Run the hot-organization section in its own scratch database.
 *
 * @example
 * const batch = await runBatchSection(profileFor({ quick: true, huge: false }), url, console.error);
 */
export async function runBatchSection(profile: Profile, databaseUrl: string, log: Log): Promise<BatchResults> {
  const lanes = Math.max(...profile.connections);
  const spreadOrgs = Math.min(profile.spreadOrgs, 1_000);
  log(`creating a scratch database, ${spreadOrgs.toLocaleString('en-US')} organizations and one with ${lanes} members…`);
  const db = await createBenchDatabase(databaseUrl);
  try {
    const a = db.admin;
    const { rows: spreadRows } = await a.query<{ org_id: string; user_id: string }>(
      `select o.org_id, o.user_id from (select gen_random_uuid() as org_id, gen_random_uuid() as user_id from generate_series(1, $1::int)) o,
              lateral (select tokengate.create_account(o.org_id, 'pro', o.user_id)) c`,
      [spreadOrgs],
    );
    const { rows: hotRows } = await a.query<{ org_id: string; owner: string }>(
      `select h.org_id, h.owner from (select gen_random_uuid() as org_id, gen_random_uuid() as owner) h,
              lateral (select tokengate.create_account(h.org_id, 'pro', h.owner)) c`,
    );
    const hotOrg = hotRows[0]!.org_id;
    const hotUsers = [hotRows[0]!.owner];
    for (let i = 1; i < lanes; i++) {
      const { rows } = await a.query<{ u: string }>(`select gen_random_uuid() as u`);
      await a.query(`select tokengate.add_member($1, $2, $3, 'member')`, [hotOrg, hotRows[0]!.owner, rows[0]!.u]);
      hotUsers.push(rows[0]!.u);
    }
    await a.query(`select count(tokengate.grant_tokens(a.org_id, null, $1, $2, 'bench-top-up')) from tokengate.accounts a`, [TOKEN_TYPE, TOP_UP]);
    await a.query(`vacuum analyze`);

    const spread: GateContext[] = spreadRows.map((r) => ({ orgId: r.org_id, userId: r.user_id }));
    const hot: GateContext[] = hotUsers.map((userId) => ({ orgId: hotOrg, userId }));

    // One pool for every variant, so they compete on equal terms.
    const pool = db.servicePool(lanes);
    const plain = createTokenGate({ store: postgresStore({ pool }) });
    const sent = { calls: 0, charges: 0 };
    const counted = postgresStore({ pool });
    const countingStore: DeductBatchStore = {
      rpc: (fn, args, options) => {
        if (fn === 'deduct') (sent.calls++, sent.charges++);
        return counted.rpc(fn, args, options);
      },
      deductBatch: (items, options) => {
        sent.calls++;
        sent.charges += items.length;
        return counted.deductBatch(items, options);
      },
    };
    const batched = createTokenGate({ store: batchingStore(countingStore) });

    const prefix = randomBytes(4).toString('hex');
    let seq = 0;
    const key = () => `batch-${prefix}-${seq++}`;
    const ops: Record<BatchVariant, (lane: number) => Promise<unknown>> = {
      spread: () => plain.deduct(spread[Math.floor(Math.random() * spread.length)]!, TOKEN_TYPE, { idempotencyKey: key() }),
      spreadBatched: () => batched.deduct(spread[Math.floor(Math.random() * spread.length)]!, TOKEN_TYPE, { idempotencyKey: key() }),
      hot: (lane) => plain.deduct(hot[lane % hot.length]!, TOKEN_TYPE, { idempotencyKey: key() }),
      hotBatched: (lane) => batched.deduct(hot[lane % hot.length]!, TOKEN_TYPE, { idempotencyKey: key() }),
    };

    const variants = Object.keys(BATCH_VARIANTS) as BatchVariant[];
    const samples = new Map<BatchVariant, Samples[]>(variants.map((v) => [v, []]));
    const perCall = new Map<BatchVariant, { calls: number; charges: number }>(variants.map((v) => [v, { calls: 0, charges: 0 }]));
    for (const order of [variants, [...variants].reverse()]) {
      for (const variant of order) {
        const before = { ...sent };
        samples.get(variant)!.push(await sampleLoad({ lanes, durationMs: Math.round(profile.durationMs / 2), warmupMs: profile.warmupMs }, ops[variant]));
        const c = perCall.get(variant)!;
        c.calls += sent.calls - before.calls;
        c.charges += sent.charges - before.charges;
      }
    }
    const spreadOps = summarizeSamples(samples.get('spread')!).opsPerSec;
    const rows: BatchRow[] = variants.map((variant) => {
      const m = summarizeSamples(samples.get(variant)!);
      const c = perCall.get(variant)!;
      return {
        variant: BATCH_VARIANTS[variant],
        lanes,
        ...m,
        ratioToSpread: spreadOps > 0 ? round(m.opsPerSec / spreadOps, 2) : 0,
        ...(c.calls > 0 ? { chargesPerCall: round(c.charges / c.calls, 1) } : {}),
      };
    });
    for (const row of rows) {
      const perCallText = row.chargesPerCall === undefined ? '' : `  ${row.chargesPerCall} charges/call`;
      log(`  batch ${String(lanes).padStart(2)} lanes  ${row.variant.padEnd(48)} ${row.opsPerSec.toFixed(0).padStart(6)} ops/s  p50 ${row.p50Ms.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms  ×${row.ratioToSpread.toFixed(2)} spread${perCallText}`);
    }
    const { rows: verify } = await a.query<{ problems: unknown[] }>(`select tokengate.verify_ledger() as problems`);
    const hotBatched = rows.find((r) => r.variant === BATCH_VARIANTS.hotBatched)!;
    return { lanes, spreadOrgs, rows, hotBatchedToSpread: hotBatched.ratioToSpread, verifyLedger: verify[0]!.problems };
  } finally {
    await db.drop();
  }
}
