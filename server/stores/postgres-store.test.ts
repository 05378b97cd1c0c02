/**
 * `postgresStore`'s read pool on a real server: two sessions on the same test database, the read
 * one read-only (`default_transaction_read_only = on`), each named by `application_name` so
 * `pg_stat_activity` tells which session ran which ledger call.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { beforeAll, expect, it } from 'vitest';
import { describeServer } from '../../test/db.ts';
import { waitFor } from '../../test/wait-for.ts';
import { createTokenGate, type GateContext, type TokenGate } from '../gate.ts';
import { ledgerCall } from '../ledger-call.ts';
import { postgresStore, READ_ONLY_LEDGER_FUNCTIONS } from './postgres-store.ts';

const PRIMARY = 'tokengate-test-primary';
const READ = 'tokengate-test-read';
const OWNED_READ = 'tokengate-test-owned-read';

describeServer('postgresStore with a read pool', (db) => {
  let primary: pg.Pool;
  let read: pg.Pool;
  let gate: TokenGate;
  let ctx: GateContext;
  const today = new Date().toISOString().slice(0, 10);

  /** The statement the session named `app` ran last on this database (null: no such session). */
  async function lastQuery(app: string): Promise<string | null> {
    const rows = await db().query<{ query: string }>(
      `select query from pg_stat_activity where datname = current_database() and application_name = $1`,
      [app],
    );
    expect(rows.length).toBeLessThanOrEqual(1);
    return rows[0]?.query ?? null;
  }

  beforeAll(async () => {
    // The harness's pools (in the connection budget), one connection each, named and acting as
    // service_role; the read one cannot write.
    primary = db().pool(1);
    primary.options.application_name = PRIMARY;
    primary.options.options = `${primary.options.options ?? ''} -c role=service_role`.trim();
    read = db().pool(1);
    read.options.application_name = READ;
    read.options.options = `${read.options.options ?? ''} -c role=service_role -c default_transaction_read_only=on`.trim();
    gate = createTokenGate({ store: postgresStore({ pool: primary, readPool: read }) });

    const orgId = randomUUID();
    const owner = randomUUID();
    await gate.createAccount({ orgId, planId: 'pro', ownerId: owner });
    ctx = { orgId, userId: owner };
    await gate.deduct(ctx, 'quest_generation', { idempotencyKey: 'read-pool-1' });
  });

  it('only usage_export and verify_ledger are read-only calls', () => {
    expect([...READ_ONLY_LEDGER_FUNCTIONS].sort()).toEqual(['usage_export', 'verify_ledger']);
  });

  it('sends exports and verify_ledger to the read pool, and every other call to the primary', async () => {
    expect(await lastQuery(PRIMARY)).toMatch(/tokengate\."deduct"/);
    expect(await lastQuery(READ)).toBeNull();

    expect(await gate.verifyLedger(ctx.orgId)).toEqual([]);
    expect(await lastQuery(READ)).toMatch(/tokengate\."verify_ledger"/);

    const page = await gate.exportPage(ctx, { from: today, to: today });
    expect(page).toMatchObject({ entries: expect.arrayContaining([expect.objectContaining({ kind: 'deduct', amount: -3 })]) });
    expect(await lastQuery(READ)).toMatch(/tokengate\."usage_export"/);
    expect(await lastQuery(PRIMARY)).toMatch(/tokengate\."deduct"/);

    // stats and balances apply lazy refreshes (writes): they stay on the primary.
    await gate.stats(ctx, { from: today, to: today });
    expect(await lastQuery(PRIMARY)).toMatch(/tokengate\."stats"/);
    await gate.balances(ctx);
    expect(await lastQuery(PRIMARY)).toMatch(/tokengate\."balances"/);
    await gate.check(ctx, 'quest_generation');
    expect(await lastQuery(PRIMARY)).toMatch(/tokengate\."check"/);
    expect(await lastQuery(READ)).toMatch(/tokengate\."usage_export"/);
  });

  it('the read session cannot write: a charge sent to it fails, while the read calls above succeeded on it', async () => {
    const { text, values } = ledgerCall('deduct', {
      p_org_id: ctx.orgId,
      p_user_id: ctx.userId,
      p_token_type: 'quest_generation',
      p_idempotency_key: 'read-pool-write',
      p_metadata: {},
    });
    await expect(read.query(text, values)).rejects.toMatchObject({ code: '25006' }); // read_only_sql_transaction
    // The same call on the primary succeeds: the failure is the session's read-only mode.
    await gate.deduct(ctx, 'quest_generation', { idempotencyKey: 'read-pool-write' });
    expect(await gate.verifyLedger(ctx.orgId)).toEqual([]);
  });

  it('opens a read pool from readConnectionString, routes to it, and ends it on close()', async () => {
    const url = new URL(db().url!);
    const readUrl = new URL(url);
    readUrl.searchParams.set('application_name', OWNED_READ);
    const store = postgresStore({ connectionString: url.toString(), readConnectionString: readUrl.toString(), max: 1 });
    const owned = createTokenGate({ store });
    try {
      expect(await owned.verifyLedger(ctx.orgId)).toEqual([]);
      expect(await lastQuery(OWNED_READ)).toMatch(/tokengate\."verify_ledger"/);
      await owned.balances(ctx);
      expect(await lastQuery(OWNED_READ)).toMatch(/tokengate\."verify_ledger"/);
    } finally {
      await store.close();
    }
    await waitFor(async () => (await lastQuery(OWNED_READ)) === null, { what: 'the read pool the store opened to be ended', intervalMs: 20 });
  });
});
