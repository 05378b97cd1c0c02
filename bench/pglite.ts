/**
 * Section 4: embedded PGlite (Postgres in WebAssembly, one connection). Cold start of a fresh
 * instance that runs the compat script + migrations, cold start from a migrated data-directory
 * dump (`loadDataDir`, what the test harness and the demo do), and sequential deducts through
 * createTokenGate + pgliteStore.
 */
import { PGlite } from '@electric-sql/pglite';
import { randomBytes, randomUUID } from 'node:crypto';
import { createTokenGate } from '../server/gate.ts';
import { migrationFiles, runMigrations } from '../server/migrate.ts';
import { pgliteStore } from '../server/stores/pglite-store.ts';
import { median, round, runLoad, timed, type Measurement } from './measure.ts';
import type { Profile } from './options.ts';
import type { Log } from './report.ts';

/** What section 4 returns. */
export interface PgliteResults {
  /** `PGlite.create()` + compat + migrations, ms (median of `coldStarts`). */
  coldStartFreshMs: number;
  /** `PGlite.create({ loadDataDir })` from a migrated dump, ready to query, ms (median). */
  coldStartFromDumpMs: number;
  /** Size of the migrated dump (uncompressed tar), bytes. */
  dumpBytes: number;
  coldStarts: number;
  /** Sequential `gate.deduct` on one PGlite instance. */
  deduct: Measurement;
}

/**
 * Run section 4.
 *
 * @example
 * const pglite = await runPgliteSection(profile, log);
 */
export async function runPgliteSection(profile: Profile, log: Log): Promise<PgliteResults> {
  const files = await migrationFiles();
  const fresh: number[] = [];
  let dump: Blob | undefined;
  for (let i = 0; i < profile.pgliteColdStarts; i++) {
    const { ms, value: db } = await timed(async () => {
      const db = await PGlite.create();
      await runMigrations((sql) => db.exec(sql), files);
      return db;
    });
    fresh.push(ms);
    dump ??= await db.dumpDataDir('none');
    await db.close();
  }
  log(`  pglite cold start, fresh + migrations: ${fresh.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`);

  const fromDump: number[] = [];
  for (let i = 0; i < profile.pgliteColdStarts; i++) {
    const { ms, value: db } = await timed(async () => {
      const db = await PGlite.create({ loadDataDir: dump! });
      await db.query('select 1');
      return db;
    });
    fromDump.push(ms);
    await db.close();
  }
  log(`  pglite cold start, from the migrated dump: ${fromDump.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`);

  const db = await PGlite.create({ loadDataDir: dump! });
  try {
    const gate = createTokenGate({ store: pgliteStore(db) });
    const ctx = { orgId: randomUUID(), userId: randomUUID() };
    await gate.createAccount({ orgId: ctx.orgId, planId: 'pro', ownerId: ctx.userId });
    await gate.grant({ orgId: ctx.orgId, actorId: null }, 'goal_generation', { amount: 1_000_000_000, idempotencyKey: 'bench-top-up' });
    const prefix = randomBytes(4).toString('hex');
    let seq = 0;
    const deduct = await runLoad({ lanes: 1, durationMs: profile.pgliteDurationMs, warmupMs: Math.min(300, profile.pgliteDurationMs / 2) }, () =>
      gate.deduct(ctx, 'goal_generation', { idempotencyKey: `bench-${prefix}-${seq++}` }),
    );
    log(`  pglite deduct, sequential: ${deduct.opsPerSec.toFixed(0)} ops/s  p50 ${deduct.p50Ms.toFixed(2)} ms  p99 ${deduct.p99Ms.toFixed(2)} ms`);
    return {
      coldStartFreshMs: round(median(fresh), 1),
      coldStartFromDumpMs: round(median(fromDump), 1),
      dumpBytes: dump!.size,
      coldStarts: profile.pgliteColdStarts,
      deduct,
    };
  } finally {
    await db.close();
  }
}
