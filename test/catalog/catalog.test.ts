/**
 * The catalog as code against the real ledger (PGlite and Postgres): the default config is what
 * the migrations seed, diff/push round trips, a refused push changes nothing, prices change from
 * the next period (or at once with `now`), allowances at the next refresh, and no client role may
 * touch the catalog.
 */
import { expect, it } from 'vitest';
import { DEFAULT_CATALOG } from '../../server/catalog/default-catalog.ts';
import { defineCatalog, type Catalog } from '../../server/catalog/define-catalog.ts';
import { pushCatalog, type CatalogPushResult } from '../../server/catalog/push-catalog.ts';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { describeEachDb, type TestDb } from '../db.ts';
import { storeFor } from '../http/fixture.ts';
import { call, createOrg, expectReconciled, failure, ledgerError } from '../ledger.ts';

const CATALOG_TABLES = ['plans', 'token_types', 'plan_allowances', 'token_type_prices', 'catalog_history'] as const;

/** Every row of every catalog table (and the history), as canonical JSON: proves a refused push changed nothing. */
async function catalogState(db: TestDb): Promise<Record<string, string[]>> {
  const state: Record<string, string[]> = {};
  for (const table of CATALOG_TABLES) {
    const rows = await db.query<{ row: string }>(`select to_jsonb(t)::text as row from tokengate.${table} as t order by 1`);
    state[table] = rows.map((r) => r.row);
  }
  return state;
}

/** The catalog as the database holds it, in the config's shape (ordered like the config). */
async function databaseCatalog(db: TestDb): Promise<Catalog> {
  const types = await db.query<{ id: string; name: string; cost: number; description: string | null; sort_order: number; low_alert_percent: number; active: boolean }>(
    `select id, name, cost, description, sort_order, low_alert_percent, active from tokengate.token_types order by sort_order, id`,
  );
  const plans = await db.query<{ id: string; name: string; access: 'blocked' | 'metered' | 'unlimited'; description: string | null; sort_order: number }>(
    `select id, name, access, description, sort_order from tokengate.plans order by sort_order, id`,
  );
  const allowances = await db.query<{ plan_id: string; token_type_id: string; monthly_allowance: number }>(
    `select plan_id, token_type_id, monthly_allowance from tokengate.plan_allowances order by plan_id, token_type_id`,
  );
  return {
    tokenTypes: types.map((t) => ({ id: t.id, name: t.name, cost: t.cost, description: t.description, sortOrder: t.sort_order, lowAlertPercent: t.low_alert_percent, archived: !t.active })),
    plans: plans.map((p) => ({
      id: p.id,
      name: p.name,
      access: p.access,
      description: p.description,
      sortOrder: p.sort_order,
      allowances: Object.fromEntries(allowances.filter((a) => a.plan_id === p.id).map((a) => [a.token_type_id, a.monthly_allowance])),
    })),
  };
}

/** A catalog in the order databaseCatalog reads it (sortOrder, then id). */
function sorted(catalog: Catalog): Catalog {
  const order = (a: { sortOrder: number; id: string }, b: { sortOrder: number; id: string }) => a.sortOrder - b.sortOrder || a.id.localeCompare(b.id);
  return { tokenTypes: [...catalog.tokenTypes].sort(order), plans: [...catalog.plans].sort(order) };
}

/** The default catalog with some edits. */
function edited(edit: (c: { tokenTypes: Catalog['tokenTypes']; plans: Catalog['plans'] }) => void): Catalog {
  const copy = structuredClone(DEFAULT_CATALOG);
  edit(copy);
  return defineCatalog(copy);
}

/** The default catalog with some edits, not validated (what a caller that skips defineCatalog could send). */
function raw(edit: (c: Record<string, any>) => void): unknown {
  const copy = structuredClone(DEFAULT_CATALOG) as unknown as Record<string, any>;
  edit(copy);
  return copy;
}

describeEachDb('catalog: the default config is the seeded catalog', (db) => {
  it('a fresh database has exactly DEFAULT_CATALOG: the diff is empty and writes nothing', async () => {
    const before = await catalogState(db());
    const diff = await pushCatalog(storeFor(db()), DEFAULT_CATALOG, { dryRun: true });
    expect(diff).toMatchObject({ dryRun: true, historyId: null, changes: [], impact: [], impactTotal: 0 });
    expect(await databaseCatalog(db())).toEqual(sorted(DEFAULT_CATALOG));
    expect(await catalogState(db())).toEqual(before);
  });

  it('the diff is not empty when one field differs (so the test above can fail)', async () => {
    const diff = await pushCatalog(storeFor(db()), edited((c) => (c.plans[1]!.allowances.goal_generation = 21)), { dryRun: true });
    expect(diff.changes).toEqual([
      { entity: 'allowance', action: 'update', planId: 'pro', tokenType: 'goal_generation', from: 20, to: 21, applies: 'next_refresh' },
    ]);
  });
});

describeEachDb('catalog: diff and push round trip', (db) => {
  it('push A, diff empty; change it, the diff shows exactly the change and writes nothing; push, diff empty; every push is in the history', async () => {
    const store = storeFor(db());
    const a = edited((c) => {
      c.tokenTypes.push({ id: 'image_generation', name: 'Image generation', cost: 8, description: null, sortOrder: 6, lowAlertPercent: 10, archived: false });
      c.plans.push({ id: 'team', name: 'Team', access: 'metered', description: 'For teams.', sortOrder: 4, allowances: { image_generation: 40, goal_generation: 5 } });
      c.plans[1]!.allowances.image_generation = 15;
    });
    const diffA = await pushCatalog(store, a, { dryRun: true });
    // In the order they apply: token types, then each plan (in config order) with its allowances.
    expect(diffA.changes).toEqual([
      { entity: 'tokenType', action: 'add', id: 'image_generation', to: { name: 'Image generation', cost: 8, description: null, sortOrder: 6, lowAlertPercent: 10, archived: false } },
      { entity: 'allowance', action: 'add', planId: 'pro', tokenType: 'image_generation', from: null, to: 15, applies: 'next_refresh' },
      { entity: 'plan', action: 'add', id: 'team', to: { name: 'Team', access: 'metered', description: 'For teams.', sortOrder: 4 } },
      { entity: 'allowance', action: 'add', planId: 'team', tokenType: 'goal_generation', from: null, to: 5, applies: 'next_refresh' },
      { entity: 'allowance', action: 'add', planId: 'team', tokenType: 'image_generation', from: null, to: 40, applies: 'next_refresh' },
    ]);
    expect(await databaseCatalog(db())).toEqual(sorted(DEFAULT_CATALOG));

    const pushedA = await pushCatalog(store, a, { actor: 'test' });
    expect(pushedA).toMatchObject({ dryRun: false, now: false, changes: diffA.changes });
    expect(pushedA.historyId).toEqual(expect.any(Number));
    expect(await databaseCatalog(db())).toEqual(sorted(a));
    expect((await pushCatalog(store, a, { dryRun: true })).changes).toEqual([]);

    // B: rename, reorder, threshold, access, a removed allowance, a removed (unused) plan and type.
    const b = defineCatalog({
      tokenTypes: a.tokenTypes
        .filter((t) => t.id !== 'image_generation')
        .map((t) => (t.id === 'lead_generation' ? { ...t, name: 'Lead research', lowAlertPercent: 5, sortOrder: 9 } : t)),
      plans: a.plans
        .filter((p) => p.id !== 'team')
        .map((p) => (p.id === 'enterprise' ? { ...p, access: 'metered' as const } : p))
        .map((p) => (p.id === 'pro' ? { ...p, allowances: { ...DEFAULT_CATALOG.plans[1]!.allowances, revenue_forecast: 0 } } : p)),
    });
    const diffB = await pushCatalog(store, b, { dryRun: true });
    expect(diffB.changes).toEqual([
      { entity: 'tokenType', action: 'update', id: 'lead_generation', fields: { lowAlertPercent: { from: 20, to: 5 }, name: { from: 'Lead generation', to: 'Lead research' }, sortOrder: { from: 3, to: 9 } } },
      { entity: 'allowance', action: 'remove', planId: 'pro', tokenType: 'image_generation', from: 15, to: null, applies: 'next_refresh' },
      { entity: 'allowance', action: 'update', planId: 'pro', tokenType: 'revenue_forecast', from: 50, to: 0, applies: 'next_refresh' },
      { entity: 'plan', action: 'update', id: 'enterprise', fields: { access: { from: 'unlimited', to: 'metered' } } },
      { entity: 'plan', action: 'remove', id: 'team' },
      { entity: 'tokenType', action: 'remove', id: 'image_generation' },
    ]);
    expect(await databaseCatalog(db())).toEqual(sorted(a));
    const pushedB = await pushCatalog(store, b, { actor: 'test' });
    expect(pushedB.changes).toEqual(diffB.changes);
    expect(await databaseCatalog(db())).toEqual(sorted(b));
    expect((await pushCatalog(store, b, { dryRun: true })).changes).toEqual([]);

    // And back to the default: the catalog is exactly the seeded one again.
    await pushCatalog(store, DEFAULT_CATALOG, { actor: 'test' });
    expect(await databaseCatalog(db())).toEqual(sorted(DEFAULT_CATALOG));

    const history = await db().query<{ id: number; actor: string; config: Catalog; changes: unknown[]; now: boolean }>(
      `select id, actor, config, changes, now from tokengate.catalog_history order by id`,
    );
    expect(history.map((h) => [h.id, h.actor, h.now])).toEqual([
      [pushedA.historyId, 'test', false],
      [pushedB.historyId, 'test', false],
      [expect.any(Number), 'test', false],
    ]);
    expect(history[0]!.config).toEqual(a);
    expect(history[1]!.changes).toEqual(diffB.changes);
  });

  it('validates the config in SQL too (a caller that skips defineCatalog): invalid_argument naming the field, nothing written', async () => {
    const before = await catalogState(db());
    const cases: [unknown, string][] = [
      [null, 'config'],
      [{ plans: [] }, 'tokenTypes'],
      [{ ...DEFAULT_CATALOG, extra: 1 }, 'extra'],
      [raw((c) => (c.tokenTypes[4].id = 'Strategy')), 'tokenTypes[4].id'],
      [raw((c) => (c.tokenTypes[1].cost = 0)), 'tokenTypes[1].cost'],
      [{ ...DEFAULT_CATALOG, tokenTypes: DEFAULT_CATALOG.tokenTypes.map((t, i) => (i === 2 ? { ...t, cost: 2.5 } : t)) }, 'tokenTypes[2].cost'],
      [{ ...DEFAULT_CATALOG, tokenTypes: [...DEFAULT_CATALOG.tokenTypes, DEFAULT_CATALOG.tokenTypes[0]] }, 'tokenTypes[5].id'],
      [raw((c) => (c.tokenTypes[0].lowAlertPercent = 101)), 'tokenTypes[0].lowAlertPercent'],
      [raw((c) => (c.plans[1].allowances = { goal_generation: '5' })), 'plans[1].allowances.goal_generation'],
      [raw((c) => (c.tokenTypes[0].archived = 'yes')), 'tokenTypes[0].archived'],
      [{ ...DEFAULT_CATALOG, plans: DEFAULT_CATALOG.plans.map((p, i) => (i === 1 ? { ...p, allowances: { quest_gen: 5 } } : p)) }, 'plans[1].allowances.quest_gen'],
      [{ ...DEFAULT_CATALOG, plans: DEFAULT_CATALOG.plans.map((p, i) => (i === 0 ? { ...p, access: 'free' } : p)) }, 'plans[0].access'],
      [{ ...DEFAULT_CATALOG, plans: DEFAULT_CATALOG.plans.map((p, i) => (i === 1 ? { ...p, allowances: { goal_generation: -1 } } : p)) }, 'plans[1].allowances.goal_generation'],
    ];
    for (const [config, path] of cases) {
      for (const dryRun of [true, false]) {
        const error = await failure(call(db(), 'catalog_apply', { p_config: config, p_now: false, p_actor: 'test', p_dry_run: dryRun }));
        expect({ path, name: error.name, argument: error.detail?.argument, at: error.detail?.path }).toEqual({ path, name: 'invalid_argument', argument: 'p_config', at: path });
      }
    }
    expect(await catalogState(db())).toEqual(before);
  });
});

describeEachDb('catalog: a refused push changes nothing', (db) => {
  it('removing a token type that has balances is refused with token_type_in_use after earlier writes of the same push, which are rolled back', async () => {
    const store = storeFor(db());
    const org = await createOrg(db(), { plan: 'pro' });
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: org.members[0], p_token_type: 'strategy_analysis', p_idempotency_key: 'k1' });
    const before = await catalogState(db());
    // Updates, a price change, a new plan and allowances apply before the removal is refused.
    const bad = edited((c) => {
      c.tokenTypes = c.tokenTypes.filter((t) => t.id !== 'strategy_analysis');
      delete c.plans[1]!.allowances.strategy_analysis;
      c.tokenTypes[0]!.cost = 7;
      c.tokenTypes[1]!.name = 'Quests';
      c.plans[1]!.allowances = { goal_generation: 99 };
      c.plans.push({ id: 'team', name: 'Team', access: 'unlimited', description: null, sortOrder: 4, allowances: {} });
    });
    for (const dryRun of [true, false]) {
      const error = await pushCatalog(store, bad, { dryRun }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenGateError);
      expect(error).toMatchObject({ code: 'token_type_in_use', status: 409, facts: { tokenType: 'strategy_analysis', organizations: 1 } });
    }
    expect(await catalogState(db())).toEqual(before);
    expect(await databaseCatalog(db())).toEqual(sorted(DEFAULT_CATALOG));

    // A member quota alone also keeps a type in use.
    const other = await createOrg(db(), { plan: 'pro' });
    await call(db(), 'set_member_quota', { p_org_id: other.orgId, p_actor_id: other.owner, p_user_id: other.members[0], p_token_type: 'revenue_forecast', p_quota: 5 });
    const quota = await failure(call(db(), 'catalog_apply', {
      p_config: edited((c) => {
        c.tokenTypes = c.tokenTypes.filter((t) => t.id !== 'revenue_forecast');
        delete c.plans[1]!.allowances.revenue_forecast;
      }),
      p_now: false, p_actor: null, p_dry_run: false,
    }));
    expect(quota).toMatchObject({ name: 'token_type_in_use', code: 'TGC07' });
    expect(await catalogState(db())).toEqual(before);
  });

  it('removing a plan organizations are on is refused with plan_in_use; nothing changes', async () => {
    await createOrg(db(), { plan: 'enterprise' });
    const before = await catalogState(db());
    const error = await failure(call(db(), 'catalog_apply', {
      p_config: edited((c) => {
        c.plans = c.plans.filter((p) => p.id !== 'enterprise');
        c.tokenTypes[2]!.cost = 9;
      }),
      p_now: true,
      p_actor: 'test',
      p_dry_run: false,
    }));
    expect(error).toMatchObject({ name: 'plan_in_use', code: 'TGC08', detail: { planId: 'enterprise', organizations: 1 } });
    expect(await catalogState(db())).toEqual(before);
  });

  it('an archived type stays with its balances but cannot be charged; restoring it charges again; an unused type is deleted', async () => {
    const store = storeFor(db());
    const org = await createOrg(db(), { plan: 'pro' });
    const user = org.members[0]!;
    await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'a1' });
    const withNew = edited((c) => {
      c.tokenTypes.push({ id: 'unused_type', name: 'Unused', cost: 1, description: null, sortOrder: 6, lowAlertPercent: 20, archived: false });
      c.plans[1]!.allowances.unused_type = 3;
    });
    await pushCatalog(store, withNew);
    const archived = edited((c) => (c.tokenTypes[1]!.archived = true));
    const diff = await pushCatalog(store, archived, { dryRun: true });
    expect(diff.changes).toEqual([
      { entity: 'tokenType', action: 'update', id: 'quest_generation', fields: { archived: { from: false, to: true } } },
      { entity: 'allowance', action: 'remove', planId: 'pro', tokenType: 'unused_type', from: 3, to: null, applies: 'next_refresh' },
      { entity: 'tokenType', action: 'remove', id: 'unused_type' },
    ]);
    expect(diff.impact).toContainEqual({ orgId: org.orgId, planId: 'pro', tokenType: 'quest_generation', change: 'archived', from: null, to: null, appliesAt: diff.at });
    await pushCatalog(store, archived);
    expect(await db().query(`select id from tokengate.token_types where id = 'unused_type'`)).toEqual([]);
    const [row] = await db().query<{ active: boolean; buckets: number }>(
      `select t.active, (select count(*)::int from tokengate.buckets b where b.token_type_id = t.id) as buckets from tokengate.token_types t where t.id = 'quest_generation'`,
    );
    expect(row).toEqual({ active: false, buckets: expect.any(Number) });
    expect(row!.buckets).toBeGreaterThan(0);
    const refused = await failure(call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'a2' }));
    expect(refused.name).toBe('unknown_token_type');

    await pushCatalog(store, DEFAULT_CATALOG);
    const charged = await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'a3' });
    expect(charged.charged).toBe(3);
    await expectReconciled(db(), org.orgId);
  });
});

describeEachDb('catalog: prices change from the next period', (db) => {
  it('a price change mid-period charges the old price until the period ends, then the new one; --now charges the new one at once', async () => {
    const store = storeFor(db());
    await db().setNow('2030-01-10T00:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2030-01-01T00:00:00Z' });
    const user = org.members[0]!;
    const ctx = { p_org_id: org.orgId, p_user_id: user };
    const deduct = async (key: string) => (await call(db(), 'deduct', { ...ctx, p_token_type: 'quest_generation', p_idempotency_key: key })).charged as number;
    const cost = async () => (await call(db(), 'check', { ...ctx, p_token_type: 'quest_generation' })).cost as number;
    expect(await deduct('jan-1')).toBe(3);

    await db().setNow('2030-01-15T12:00:00Z');
    const at4 = edited((c) => (c.tokenTypes[1]!.cost = 4));
    const diff = await pushCatalog(store, at4, { dryRun: true });
    expect(diff.changes).toEqual([{ entity: 'price', tokenType: 'quest_generation', from: 3, to: 4, applies: 'next_period' }]);
    expect(diff.impact).toEqual([
      { orgId: org.orgId, planId: 'pro', tokenType: 'quest_generation', change: 'price', from: 3, to: 4, appliesAt: '2030-02-01T00:00:00+00:00' },
    ]);
    await pushCatalog(store, at4);
    expect(await db().query(`select effective_from::text as since, cost from tokengate.token_type_prices where token_type_id = 'quest_generation' order by effective_from`)).toEqual([
      { since: '-infinity', cost: 3 },
      { since: '2030-01-15 12:00:00+00', cost: 4 },
    ]);

    // Same period: still the old price, for the charge and for what check announces.
    expect(await deduct('jan-2')).toBe(3);
    expect(await cost()).toBe(3);

    // An organization whose period starts after the push pays the new price at once.
    await db().setNow('2030-01-20T01:00:00Z');
    const late = await createOrg(db(), { plan: 'pro', anchor: '2030-01-20T00:00:00Z' });
    expect((await call(db(), 'deduct', { p_org_id: late.orgId, p_user_id: late.members[0], p_token_type: 'quest_generation', p_idempotency_key: 'late' })).charged).toBe(4);
    expect(await deduct('jan-3')).toBe(3);

    // The next period: the new price.
    await db().setNow('2030-02-01T00:00:01Z');
    expect(await deduct('feb-1')).toBe(4);
    expect(await cost()).toBe(4);

    // --now: the new price applies to the current period too, and the old prices are dropped.
    await db().setNow('2030-02-10T00:00:00Z');
    const at6 = edited((c) => (c.tokenTypes[1]!.cost = 6));
    const now = await pushCatalog(store, at6, { now: true, dryRun: true });
    expect(now.changes).toEqual([{ entity: 'price', tokenType: 'quest_generation', from: 4, to: 6, applies: 'now' }]);
    expect(now.impact.find((i) => i.orgId === org.orgId)).toMatchObject({ change: 'price', appliesAt: '2030-02-10T00:00:00+00:00' });
    await pushCatalog(store, at6, { now: true });
    expect(await db().query(`select count(*)::int as n from tokengate.token_type_prices`)).toEqual([{ n: 0 }]);
    expect(await db().query(`select cost, cost_from from tokengate.token_types where id = 'quest_generation'`)).toEqual([{ cost: 6, cost_from: null }]);
    expect(await deduct('feb-2')).toBe(6);
    expect(await cost()).toBe(6);
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });
});

describeEachDb('catalog: allowances change at the next refresh', (db) => {
  it('an allowance change applies at each organization\'s next refresh, and the impact says when', async () => {
    const store = storeFor(db());
    await db().setNow('2031-03-05T00:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2031-01-20T00:00:00Z' });
    const ctx = { p_org_id: org.orgId, p_user_id: org.members[0] };
    await call(db(), 'deduct', { ...ctx, p_token_type: 'goal_generation', p_idempotency_key: 'g1' });
    const config = edited((c) => (c.plans[1]!.allowances.goal_generation = 30));
    const diff = await pushCatalog(store, config, { dryRun: true });
    const mine = diff.impact.filter((i) => i.orgId === org.orgId);
    expect(mine).toEqual([{ orgId: org.orgId, planId: 'pro', tokenType: 'goal_generation', change: 'allowance', from: 20, to: 30, appliesAt: '2031-03-20T00:00:00+00:00' }]);
    await pushCatalog(store, config);
    const goal = async () =>
      ((await call(db(), 'balances', ctx)).tokenTypes as { tokenType: string; allowance: number }[]).find((t) => t.tokenType === 'goal_generation')!.allowance;
    expect(await goal()).toBe(20);
    await db().setNow('2031-03-20T00:00:01Z');
    expect(await goal()).toBe(30);
    await expectReconciled(db(), org.orgId);
    await db().setNow(null);
  });
});

describeEachDb('catalog: attackers', (db) => {
  it('no client role may execute catalog_apply, not even a dry run; the server role may', async () => {
    const org = await createOrg(db(), { plan: 'pro' });
    const before = await catalogState(db());
    const cheap = edited((c) => c.tokenTypes.forEach((t) => (t.cost = 1)));
    const sql = `select tokengate.catalog_apply($1::jsonb, true, 'attacker', $2) as result`;
    for (const who of [{ role: 'anon' as const }, { role: 'authenticated' as const, userId: org.owner }, { role: 'authenticated' as const, userId: org.members[0]! }]) {
      for (const dryRun of [false, true]) {
        const error = await db().as(who, (q) => q.query(sql, [JSON.stringify(cheap), dryRun])).catch((e: unknown) => ledgerError(e));
        expect(error, `${who.role} dry run ${dryRun}`).toMatchObject({ code: '42501', name: 'permission denied for function catalog_apply' });
      }
      const history = await db().as(who, (q) => q.query(`select * from tokengate.catalog_history`)).catch((e: unknown) => ledgerError(e));
      expect(history).toMatchObject({ code: '42501' });
    }
    expect(await catalogState(db())).toEqual(before);
    const served = await db().as({ role: 'service_role' }, (q) => q.query<{ result: CatalogPushResult }>(sql, [JSON.stringify(cheap), true]));
    expect(served[0]!.result.changes.length).toBeGreaterThan(0);
  });
});
