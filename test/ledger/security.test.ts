/**
 * The ledger's security model (DESIGN.md §3), checked against the catalog and by acting as each
 * role: RLS everywhere, who may read which rows, nobody writes directly, who executes which
 * function, an append-only ledger, pinned search_paths, and Supabase's linter rules on policies.
 * Tables and functions are discovered from pg_catalog, so a new one is checked without being listed.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { describeEachDb, type Actor, type Querier } from '../db.ts';
import { call, ledgerError, type LedgerFunction, type SeededOrg, createOrg } from '../ledger.ts';
import * as catalog from '../security-catalog.ts';
import { DEFAULT_CATALOG } from '../../server/catalog/default-catalog.ts';
import type { CatalogTable, ClientRole } from '../security-catalog.ts';

/* ───────────────────────────── expectations ───────────────────────────── */

/** Tables everyone (anon included) reads in full. */
const CATALOG_TABLES = ['plans', 'token_types', 'plan_allowances', 'error_codes', 'token_type_prices'];
/** Tables only the server reads. */
const SERVER_ONLY_TABLES = ['idempotency_keys', 'guard_requests', 'usage_marks', 'ledger_archived', 'alerts', 'webhook_deliveries', 'catalog_history', 'watches'];
/** Server-only tables that belong to no organization (operators' records): seeded non-empty instead of per organization. */
const SERVER_ONLY_GLOBAL_TABLES = ['catalog_history'];
/** Every other table must have an org_id: members read their own organizations' rows. */
type TableClass = 'catalog' | 'org' | 'server';

/** The SQL API: what service_role (and only it) executes. */
const SERVER_API = [
  'create_account', 'add_member', 'remove_member', 'set_member_quota', 'set_plan', 'balances', 'check',
  'deduct', 'deduct_batch', 'reserve', 'commit', 'release', 'expire_reservations', 'grant_tokens', 'adjust', 'stats',
  'verify_ledger', 'usage_export', 'guard_begin', 'guard_commit', 'guard_release', 'prune_idempotency_keys',
  'roll_up_usage', 'create_ledger_partitions', 'archive_ledger_partition',
  'changes', 'claim_alerts', 'record_delivery', 'list_alerts', 'alert_deliveries', 'replay_alert',
  'clawback_grant', 'grants', 'expire_grants',
  'operator_top', 'operator_near_exhaustion', 'operator_spikes', 'operator_expiring_grants',
  'catalog_apply', 'watch', 'renew_watches', 'unwatch',
];
/** What authenticated (and only it) executes: the RLS helper. Everything else: nobody. */
const CLIENT_FUNCTIONS = ['my_org_ids'];

function expectedExecutors(functionName: string): ClientRole[] {
  if (SERVER_API.includes(functionName)) return ['service_role'];
  if (CLIENT_FUNCTIONS.includes(functionName)) return ['authenticated'];
  return [];
}

/** The actors of the access matrix. */
const ACTORS = ['anon', 'member of A', 'member of B', 'removed member of A', 'service_role'] as const;
type ActorName = (typeof ACTORS)[number];

/** What a SELECT returns: every row, one organization's rows, no row, or permission denied. */
type Visibility = 'all' | 'org A' | 'org B' | 'none' | 'denied';
const SELECT_EXPECTATION: Record<TableClass, Record<ActorName, Visibility>> = {
  catalog: { anon: 'all', 'member of A': 'all', 'member of B': 'all', 'removed member of A': 'all', service_role: 'all' },
  org: { anon: 'denied', 'member of A': 'org A', 'member of B': 'org B', 'removed member of A': 'none', service_role: 'all' },
  server: { anon: 'denied', 'member of A': 'denied', 'member of B': 'denied', 'removed member of A': 'denied', service_role: 'all' },
};
/** Nobody but the owner writes: every write by every actor on every table is denied (42501). */
const WRITE_COMMANDS = ['insert', 'update', 'delete', 'truncate'] as const;

function writeSql(table: CatalogTable, command: (typeof WRITE_COMMANDS)[number]): string {
  const t = `tokengate.${table.name}`;
  switch (command) {
    case 'insert':
      return `insert into ${t} default values`;
    case 'update':
      return `update ${t} as t set ${table.writableColumn} = t.${table.writableColumn}`;
    case 'delete':
      return `delete from ${t}`;
    case 'truncate':
      return `truncate ${t}`;
  }
}

/* ───────────────────────────── running SQL as an actor ───────────────────────────── */

type Outcome = { ok: true; rows: string[] } | { ok: false; code: string; message: string };

/** Thrown inside `as` so that the transaction always rolls back, even when a write unexpectedly succeeds. */
class Rollback extends Error {
  constructor(readonly value: unknown) {
    super('rollback');
  }
}

function describeOutcome(o: Outcome): string {
  return o.ok ? `success (${o.rows.length} rows)` : `error ${o.code} "${o.message}"`;
}

/** Every row of a table as canonical JSON text, sorted: an exact, comparable row set. */
const rowsSql = (table: string, where = '') =>
  `select to_jsonb(t)::text as row from tokengate.${table} as t ${where} order by 1`;

describeEachDb('security: RLS, grants, append-only ledger, linter rules', (db) => {
  let orgA: SeededOrg;
  let orgB: SeededOrg;
  let memberA: string;
  let memberB: string;
  let removedA: string;
  let pendingA: string;
  let tables: CatalogTable[];

  const actor = (name: ActorName): Actor => {
    switch (name) {
      case 'anon':
        return { role: 'anon' };
      case 'service_role':
        return { role: 'service_role' };
      case 'member of A':
        return { role: 'authenticated', userId: memberA };
      case 'member of B':
        return { role: 'authenticated', userId: memberB };
      case 'removed member of A':
        return { role: 'authenticated', userId: removedA };
    }
  };

  /** Run `work` as an actor and always roll back, so even a write that wrongly succeeds leaves no trace. */
  async function rolledBack(who: Actor, work: (q: Querier) => Promise<string[]>): Promise<Outcome> {
    try {
      await db().as(who, async (q) => {
        throw new Rollback(await work(q));
      });
    } catch (error) {
      if (error instanceof Rollback) return { ok: true, rows: error.value as string[] };
      const e = ledgerError(error);
      return { ok: false, code: e.code, message: e.name };
    }
    throw new Error('unreachable: the transaction was not rolled back');
  }

  /** One statement as an actor (rolled back); rows are the `row` column, or each row as JSON. */
  const attempt = (who: Actor, sql: string, params: unknown[] = []) =>
    rolledBack(who, async (q) => (await q.query<{ row?: string }>(sql, params)).map((r) => String(r.row ?? JSON.stringify(r))));

  /** One statement as the owner, inside a transaction that is always rolled back. */
  async function ownerAttempt(sql: string): Promise<Outcome> {
    try {
      await db().exec(`begin; ${sql}; rollback;`);
      return { ok: true, rows: [] };
    } catch (error) {
      const e = ledgerError(error);
      return { ok: false, code: e.code, message: e.name };
    } finally {
      await db().exec('rollback'); // ends the aborted transaction (a warning when there is none)
    }
  }

  async function ownerRows(table: string, orgId?: string): Promise<string[]> {
    const rows = await db().query<{ row: string }>(rowsSql(table, orgId ? 'where t.org_id = $1' : ''), orgId ? [orgId] : []);
    return rows.map((r) => r.row);
  }

  /** count and md5 of every row of every table: proves a failed attempt changed nothing. */
  async function fingerprint(): Promise<Record<string, string>> {
    const result: Record<string, string> = {};
    for (const t of tables) {
      const [r] = await db().query<{ f: string }>(
        `select count(*) || ':' || coalesce(md5(string_agg(to_jsonb(t)::text, ',' order by to_jsonb(t)::text)), '') as f
         from tokengate.${t.name} as t`,
      );
      result[t.name] = r!.f;
    }
    return result;
  }

  function tableClass(t: CatalogTable): TableClass | undefined {
    if (CATALOG_TABLES.includes(t.name)) return 'catalog';
    if (SERVER_ONLY_TABLES.includes(t.name)) return 'server';
    if (t.columns.includes('org_id')) return 'org';
    return undefined;
  }

  beforeAll(async () => {
    // Two organizations with real activity, so every org-scoped table has rows of both.
    orgA = await createOrg(db(), { plan: 'pro', members: 2 });
    orgB = await createOrg(db(), { plan: 'pro', members: 1 });
    [memberA, removedA] = orgA.members as [string, string];
    memberB = orgB.members[0]!;
    // An archived month of both: charges dated four months before today (only months before the
    // previous one may be archived), moved into their month's partition, archived.
    const today = new Date();
    const archived = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 4, 10, 12));
    await db().setNow(archived);
    for (const [org, user] of [[orgA, memberA], [orgB, memberB]] as const) {
      await call(db(), 'deduct', { p_org_id: org.orgId, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'seed-archived' });
    }
    await db().setNow(null);
    await call(db(), 'create_ledger_partitions', {});
    await call(db(), 'archive_ledger_partition', { p_month: archived.toISOString().slice(0, 10) });
    for (const [org, user] of [[orgA, memberA], [orgB, memberB]] as const) {
      const o = { p_org_id: org.orgId };
      await call(db(), 'deduct', { ...o, p_user_id: user, p_token_type: 'quest_generation', p_idempotency_key: 'seed-deduct' });
      const r = await call(db(), 'reserve', { ...o, p_user_id: user, p_token_type: 'lead_generation', p_idempotency_key: 'seed-reserve', p_estimate: 10 });
      await call(db(), 'commit', { ...o, p_user_id: user, p_reservation_id: r.reservationId, p_actual: 4 });
      const pending = await call(db(), 'reserve', { ...o, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'seed-pending' });
      if (org === orgA) pendingA = pending.reservationId;
      await call(db(), 'guard_begin', { ...o, p_user_id: user, p_token_type: 'goal_generation', p_idempotency_key: 'seed-guard' });
      await call(db(), 'grant_tokens', { ...o, p_actor_id: org.owner, p_token_type: 'goal_generation', p_amount: 25, p_idempotency_key: 'seed-grant' });
      await call(db(), 'set_member_quota', { ...o, p_actor_id: org.admin, p_user_id: user, p_token_type: 'strategy_analysis', p_quota: 30 });
      // Member counters are kept for members with a quota.
      await call(db(), 'deduct', { ...o, p_user_id: user, p_token_type: 'strategy_analysis', p_idempotency_key: 'seed-quota-deduct' });
      // An alert (the member reaches a quota), delivered once: the outbox and its delivery log.
      await call(db(), 'set_member_quota', { ...o, p_actor_id: org.admin, p_user_id: user, p_token_type: 'revenue_forecast', p_quota: 5 });
      await call(db(), 'deduct', { ...o, p_user_id: user, p_token_type: 'revenue_forecast', p_idempotency_key: 'seed-alert' });
      // A change hub's lease on the organization's feed.
      await call(db(), 'watch', { ...o, p_watcher: org.owner });
    }
    for (const alert of await call<{ alertId: number }[]>(db(), 'claim_alerts', {})) {
      await call(db(), 'record_delivery', { p_alert_id: alert.alertId, p_ok: true, p_status: 200 });
    }
    // The removed member leaves history in A (ledger, usage) and must still see none of it.
    await call(db(), 'deduct', { p_org_id: orgA.orgId, p_user_id: removedA, p_token_type: 'goal_generation', p_idempotency_key: 'seed-removed' });
    await call(db(), 'remove_member', { p_org_id: orgA.orgId, p_actor_id: orgA.owner, p_user_id: removedA });
    // The daily usage rollup (and its watermarks) is brought up to date from the ledger.
    await call(db(), 'roll_up_usage', {});
    // A catalog push: a price change from the next period (the old and new prices by period) and its history.
    const repriced = { ...DEFAULT_CATALOG, tokenTypes: DEFAULT_CATALOG.tokenTypes.map((t) => (t.id === 'revenue_forecast' ? { ...t, cost: 6 } : t)) };
    await call(db(), 'catalog_apply', { p_config: repriced, p_now: false, p_actor: 'security test', p_dry_run: false });
    tables = await catalog.schemaTables(db());
  });

  /* ───────────────────────────── 1. RLS on every table ───────────────────────────── */

  it('enables row level security on every table of the schema (read from the catalog)', async () => {
    expect(tables.length).toBeGreaterThanOrEqual(13);
    const withoutRls = tables.filter((t) => !t.rls).map((t) => t.name);
    expect(withoutRls, 'tables of tokengate without RLS').toEqual([]);
  });

  it('knows every table: catalog, server-only, or organization-scoped with an org_id column', () => {
    const names = tables.map((t) => t.name);
    for (const listed of [...CATALOG_TABLES, ...SERVER_ONLY_TABLES]) expect(names, `listed table ${listed} exists`).toContain(listed);
    const unclassified = tables.filter((t) => !tableClass(t)).map((t) => t.name);
    expect(unclassified, 'tables with no access expectation (no org_id and not listed)').toEqual([]);
  });

  it('has no views or materialized views that could bypass RLS (or they are security_invoker)', async () => {
    const views = await catalog.schemaViews(db());
    const unsafe = views.filter((v) => v.kind === 'm' || !(v.options ?? []).includes('security_invoker=true'));
    expect(unsafe.map((v) => v.name)).toEqual([]);
  });

  /* ───────────────────────────── 2. access matrix ───────────────────────────── */

  it('seeds rows of both organizations in every org-scoped and server-only table', async () => {
    const missing: string[] = [];
    for (const t of tables.filter((t) => tableClass(t) !== 'catalog')) {
      if (SERVER_ONLY_GLOBAL_TABLES.includes(t.name)) {
        if ((await ownerRows(t.name)).length === 0) missing.push(`${t.name} is empty`);
        continue;
      }
      for (const [label, org] of [['A', orgA], ['B', orgB]] as const) {
        if ((await ownerRows(t.name, org.orgId)).length === 0) missing.push(`${t.name} has no row of org ${label}`);
      }
    }
    for (const t of tables.filter((t) => tableClass(t) === 'catalog')) {
      if ((await ownerRows(t.name)).length === 0) missing.push(`${t.name} is empty`);
    }
    expect(missing).toEqual([]);
    const [history] = await db().query<{ n: number }>(`select count(*)::int as n from tokengate.ledger where user_id = $1`, [removedA]);
    expect(history!.n, 'the removed member left ledger history in A').toBeGreaterThan(0);
  });

  it.each(ACTORS)('%s: selects exactly the expected rows and may not insert, update, delete or truncate any table', async (name) => {
    const mismatches: string[] = [];
    const before = await fingerprint();
    for (const table of tables) {
      const cls = tableClass(table);
      if (!cls) continue; // reported by the classification test
      const where = `${table.name} × ${name} ×`;

      // select
      const visibility = SELECT_EXPECTATION[cls][name];
      const got = await attempt(actor(name), rowsSql(table.name));
      if (visibility === 'denied') {
        if (got.ok || got.code !== '42501' || got.message !== `permission denied for table ${table.name}`)
          mismatches.push(`${where} select: expected 42501 permission denied, got ${describeOutcome(got)}`);
      } else {
        const expected =
          visibility === 'all' ? await ownerRows(table.name)
          : visibility === 'org A' ? await ownerRows(table.name, orgA.orgId)
          : visibility === 'org B' ? await ownerRows(table.name, orgB.orgId)
          : [];
        if (!got.ok) {
          mismatches.push(`${where} select: expected ${expected.length} rows (${visibility}), got ${describeOutcome(got)}`);
        } else if (JSON.stringify(got.rows) !== JSON.stringify(expected)) {
          const extra = got.rows.filter((r) => !expected.includes(r)).length;
          const missing = expected.filter((r) => !got.rows.includes(r)).length;
          mismatches.push(`${where} select: expected ${expected.length} rows (${visibility}), got ${got.rows.length} (${extra} unexpected, ${missing} missing)`);
        }
      }

      // writes
      for (const command of WRITE_COMMANDS) {
        const w = await attempt(actor(name), writeSql(table, command));
        if (w.ok || w.code !== '42501' || w.message !== `permission denied for table ${table.name}`)
          mismatches.push(`${where} ${command}: expected 42501 permission denied, got ${describeOutcome(w)}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(await fingerprint()).toEqual(before);
  });

  it('grants client roles nothing but SELECT on the tables, and nothing on the sequences, and nothing to PUBLIC', async () => {
    const expected: { table: string; role: ClientRole; privilege: string }[] = [];
    for (const t of tables) {
      const cls = tableClass(t);
      const readers: ClientRole[] = cls === 'catalog' ? ['anon', 'authenticated', 'service_role'] : cls === 'org' ? ['authenticated', 'service_role'] : ['service_role'];
      for (const role of readers) expected.push({ table: t.name, role, privilege: 'SELECT' });
    }
    const sort = (a: { table: string; role: string }, b: { table: string; role: string }) =>
      a.table.localeCompare(b.table) || a.role.localeCompare(b.role);
    expect((await catalog.tablePrivileges(db())).sort(sort)).toEqual(expected.sort(sort));
    expect(await catalog.sequencePrivileges(db())).toEqual([]);
    const publicGrants = await db().query(
      `select c.relname, x.privilege_type from pg_class c join pg_namespace n on n.oid = c.relnamespace,
              aclexplode(c.relacl) x
       where n.nspname = 'tokengate' and x.grantee = 0`,
    );
    expect(publicGrants).toEqual([]);
  });

  /* ───────────────────────────── 3. functions × roles ───────────────────────────── */

  it('lets service_role execute exactly the API, authenticated only my_org_ids, anon nothing (every function, from pg_proc)', async () => {
    const functions = await catalog.schemaFunctions(db());
    const executors = await catalog.functionExecutors(db());
    const names = new Set(functions.map((f) => f.name));
    for (const fn of [...SERVER_API, ...CLIENT_FUNCTIONS]) expect(names.has(fn), `tokengate.${fn} exists`).toBe(true);

    const mismatches: string[] = [];
    for (const fn of functions) {
      const expected = expectedExecutors(fn.name);
      for (const role of catalog.CLIENT_ROLES) {
        const has = executors.get(fn.oid)?.has(role) ?? false;
        if (has !== expected.includes(role))
          mismatches.push(`${fn.signature} × ${role}: expected ${expected.includes(role) ? 'EXECUTE' : 'no EXECUTE'}, has ${has ? 'EXECUTE' : 'none'}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('grants EXECUTE on no function to PUBLIC (default privileges included)', async () => {
    const functions = await catalog.schemaFunctions(db());
    expect(functions.filter((f) => f.publicExecute).map((f) => f.signature)).toEqual([]);
  });

  it('refuses tokengate.deduct to anon and to an authenticated member with 42501, and charges nothing', async () => {
    const before = await fingerprint();
    const sql = `select tokengate.deduct($1::uuid, $2::uuid, 'goal_generation', 'direct-call') as row`;
    for (const name of ['anon', 'member of A'] as const) {
      const got = await attempt(actor(name), sql, [orgA.orgId, memberA]);
      expect(got, `${name} calls deduct`).toEqual({ ok: false, code: '42501', message: 'permission denied for function deduct' });
    }
    // The server role can: the same call succeeds (and is rolled back by attempt()).
    expect((await attempt(actor('service_role'), sql, [orgA.orgId, memberA])).ok).toBe(true);
    expect(await fingerprint()).toEqual(before);
  });

  it('refuses tokengate.deduct_batch to anon and to an authenticated member with 42501, and charges nothing', async () => {
    const before = await fingerprint();
    const sql = `select tokengate.deduct_batch(jsonb_build_array(jsonb_build_object(
      'orgId', $1::text, 'userId', $2::text, 'tokenType', 'goal_generation', 'idempotencyKey', 'direct-batch')))::text as row`;
    for (const name of ['anon', 'member of A'] as const) {
      const got = await attempt(actor(name), sql, [orgA.orgId, memberA]);
      expect(got, `${name} calls deduct_batch`).toEqual({ ok: false, code: '42501', message: 'permission denied for function deduct_batch' });
    }
    const served = await attempt(actor('service_role'), sql, [orgA.orgId, memberA]);
    expect(served.ok && JSON.parse(served.rows[0]!)[0]).toMatchObject({ result: { charged: 1, replayed: false } });
    expect(await fingerprint()).toEqual(before);
  });

  it('my_org_ids() returns the caller’s organizations only, and anon may not call it', async () => {
    const sql = `select coalesce(jsonb_agg(id order by id), '[]')::text as row from tokengate_private.my_org_ids() as id`;
    expect(await attempt(actor('member of A'), sql)).toEqual({ ok: true, rows: [JSON.stringify([orgA.orgId])] });
    expect(await attempt(actor('member of B'), sql)).toEqual({ ok: true, rows: [JSON.stringify([orgB.orgId])] });
    expect(await attempt(actor('removed member of A'), sql)).toEqual({ ok: true, rows: ['[]'] });
    expect(await attempt(actor('anon'), sql)).toMatchObject({ ok: false, code: '42501' });
  });

  /* ───────────────────────────── 4. append-only ledger ───────────────────────────── */

  const LEDGER_WRITES: Record<string, string> = {
    update: `update tokengate.ledger set metadata = metadata`,
    delete: `delete from tokengate.ledger`,
    truncate: `truncate tokengate.ledger`,
  };

  it('has no foreign key to or from the ledger, so no cascade reaches it', async () => {
    const fks = await db().query<{ name: string }>(
      `select conname as name from pg_constraint where contype = 'f' and (conrelid = 'tokengate.ledger'::regclass or confrelid = 'tokengate.ledger'::regclass)`,
    );
    expect(fks).toEqual([]);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of the ledger to the owner with ledger_immutable (TGD01)', async () => {
    const before = await fingerprint();
    expect(Number(before.ledger!.split(':')[0])).toBeGreaterThan(0);
    const mismatches: string[] = [];
    for (const [operation, sql] of Object.entries(LEDGER_WRITES)) {
      const got = await ownerAttempt(sql);
      if (got.ok || got.code !== 'TGD01' || got.message !== 'ledger_immutable')
        mismatches.push(`ledger × owner × ${operation}: expected TGD01 ledger_immutable, got ${describeOutcome(got)}`);
    }
    expect(mismatches).toEqual([]);
    expect(await fingerprint()).toEqual(before);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of the ledger to anon, members and service_role', async () => {
    const before = await fingerprint();
    const mismatches: string[] = [];
    for (const name of ACTORS) {
      for (const operation of ['update', 'delete', 'truncate']) {
        const got = await attempt(actor(name), LEDGER_WRITES[operation]!);
        if (got.ok || !['42501', 'TGD01'].includes(got.code))
          mismatches.push(`ledger × ${name} × ${operation}: expected 42501 or TGD01, got ${describeOutcome(got)}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(await fingerprint()).toEqual(before);
  });

  /* ───────────────────────────── 5. search_path ───────────────────────────── */

  it('pins search_path to pg_catalog, pg_temp (temp last) on every function', async () => {
    const functions = await catalog.schemaFunctions(db());
    expect(functions.filter((f) => f.securityDefiner).length).toBeGreaterThanOrEqual(SERVER_API.length + CLIENT_FUNCTIONS.length);
    const unpinned = functions.filter((f) => !f.config.includes('search_path=pg_catalog, pg_temp'));
    expect(unpinned.map((f) => `${f.signature}: ${JSON.stringify(f.config)}`), 'functions without search_path=pg_catalog, pg_temp').toEqual([]);
    const mutable = functions.filter((f) => !f.config.some((c) => c.startsWith('search_path=')));
    expect(mutable.map((f) => f.signature), 'function_search_path_mutable').toEqual([]);
  });

  /*
    The temp-domain attack: inside a SECURITY DEFINER function, an unqualified TYPE name (a cast to
    text, a jsonb variable) is looked up in the caller's temp schema first unless search_path names
    pg_temp explicitly, last. A caller's temp domain named text whose CHECK calls the caller's own
    function would then run that function as the owner (superuser on plain Postgres).
  */
  const TYPE_NAMES = ['text', 'jsonb', 'uuid', 'timestamptz', 'date', 'int4', 'int8', 'bool'];
  async function templeAttack(who: Actor, callSql: string): Promise<Outcome> {
    return rolledBack(who, async (q) => {
      await q.query(`create function pg_temp.tg_pwn(anyelement) returns boolean language plpgsql as $$
        begin raise exception 'pwned as %', current_user; end $$`);
      for (const name of TYPE_NAMES) await q.query(`create domain pg_temp.${name} as pg_catalog.${name} check (pg_temp.tg_pwn(value))`);
      return (await q.query<Record<string, unknown>>(callSql)).map((r) => JSON.stringify(r));
    });
  }
  const nullCall = (f: { signature: string; args: number }) =>
    `select ${f.signature.slice(0, f.signature.indexOf('('))}(${Array.from({ length: f.args }, () => 'null').join(', ')})`;

  it('runs no caller code as the owner through a temp domain, for every SECURITY DEFINER function × service_role and authenticated', async () => {
    const functions = (await catalog.schemaFunctions(db())).filter((f) => f.securityDefiner);
    const args = new Map((await db().query<{ oid: number; n: number }>(
      `select p.oid::bigint as oid, p.pronargs::int as n from pg_proc p where p.oid = any($1::oid[])`, [functions.map((f) => f.oid)],
    )).map((r) => [Number(r.oid), r.n]));
    const calls = (user: string) => [
      // With nulls every function raises invalid_argument, whose error path casts to text and jsonb.
      ...functions.map((f) => ({ name: f.signature, sql: nullCall({ signature: f.signature, args: args.get(f.oid)! }) })),
      // And a few real calls that run the whole charge path.
      { name: 'deduct (valid)', sql: `select tokengate.deduct('${orgA.orgId}', '${user}', 'goal_generation', 'temp-domain-${randomUUID()}')` },
      // The batch: its own casts of the items, then deduct per item, and the refusal path (an unknown type).
      {
        name: 'deduct_batch (valid)',
        sql: `select tokengate.deduct_batch(jsonb_build_array(
          jsonb_build_object('orgId', '${orgA.orgId}', 'userId', '${user}', 'tokenType', 'goal_generation', 'idempotencyKey', 'temp-domain-${randomUUID()}', 'units', 1),
          jsonb_build_object('orgId', '${orgA.orgId}', 'userId', '${user}', 'tokenType', 'no_such_type', 'idempotencyKey', 'temp-domain-${randomUUID()}')))`,
      },
      { name: 'guard_begin (valid)', sql: `select tokengate.guard_begin('${orgA.orgId}', '${user}', 'goal_generation', 'temp-domain-${randomUUID()}')` },
      { name: 'RLS read (my_org_ids)', sql: `select count(*) from tokengate.buckets` },
    ];
    const before = await fingerprint();
    const pwned: string[] = [];
    for (const [role, who] of [['service_role', actor('service_role')], ['authenticated', actor('member of A')]] as const) {
      for (const c of calls(memberA)) {
        const got = await templeAttack(who, c.sql);
        // Running as the caller itself is no escalation; running as anyone else is.
        const as = /pwned as (\w+)/.exec(JSON.stringify(got))?.[1];
        if (as !== undefined && as !== role) pwned.push(`${c.name} as ${role} ran as ${as}`);
      }
    }
    expect(pwned, 'functions that ran the caller\'s temp-domain check as their owner').toEqual([]);
    expect(await fingerprint()).toEqual(before);
  });

  it('the temp-domain attack does work against a definer function with search_path = \'\' (so the test above can fail)', async () => {
    await db().exec(`create schema tg_control;
      create function tg_control.victim(p jsonb) returns text language plpgsql security definer set search_path = '' as $$
        begin return p::text; end $$;
      grant usage on schema tg_control to service_role; grant execute on function tg_control.victim(jsonb) to service_role;`);
    try {
      const got = await templeAttack(actor('service_role'), `select tg_control.victim('{}')`);
      expect(JSON.stringify(got)).toMatch(/pwned as /);
      expect(JSON.stringify(got)).not.toMatch(/pwned as service_role/);
    } finally {
      await db().exec('drop schema tg_control cascade');
    }
  });

  /* ───────────────────────────── 6. policies (Supabase linter rules) ───────────────────────────── */

  it('has only permissive SELECT policies for anon/authenticated, none reading user_metadata', async () => {
    const policies = await catalog.schemaPolicies(db());
    expect(policies.length).toBeGreaterThan(0);
    const bad = policies
      .filter((p) => p.command !== 'SELECT' || p.permissive !== 'PERMISSIVE' || p.roles.some((r) => r !== 'anon' && r !== 'authenticated'))
      .map((p) => `${p.table}: "${p.name}" ${p.permissive} ${p.command} to ${p.roles.join(',')}`);
    expect(bad).toEqual([]);
    const metadata = policies
      .filter((p) => /user_metadata|raw_user_meta_data/i.test(`${p.qual ?? ''} ${p.withCheck ?? ''}`))
      .map((p) => `${p.table}: "${p.name}"`);
    expect(metadata, 'rls_references_user_metadata').toEqual([]);
  });

  it('wraps every auth.uid()/auth.jwt()/my_org_ids() call of a policy in a sub-select (auth_rls_initplan)', async () => {
    const policies = await catalog.schemaPolicies(db());
    const call = /\b(?:auth\.(?:uid|jwt|role)|(?:tokengate_private\.)?my_org_ids|current_setting)\s*\(/gi;
    const wrapped = /\(\s*SELECT\s+(?:auth\.(?:uid|jwt|role)|(?:tokengate_private\.)?my_org_ids|current_setting)\s*\(/gi;
    const bare: string[] = [];
    for (const p of policies) {
      for (const [clause, text] of [['using', p.qual], ['with check', p.withCheck]] as const) {
        if (!text) continue;
        const calls = text.match(call)?.length ?? 0;
        const sub = text.match(wrapped)?.length ?? 0;
        if (calls !== sub) bare.push(`${p.table}: "${p.name}" ${clause} (${text})`);
      }
    }
    expect(bare).toEqual([]);
    // Permissive policies are OR-ed: every policy of an org-scoped table must filter by membership.
    const orgTables = new Set(tables.filter((t) => tableClass(t) === 'org').map((t) => t.name));
    const unscoped = policies
      .filter((p) => orgTables.has(p.table) && !/^\(org_id IN \( SELECT tokengate_private\.my_org_ids\(\) AS my_org_ids\)\)$/.test(p.qual ?? ''))
      .map((p) => `${p.table}: "${p.name}" using (${p.qual})`);
    expect(unscoped, 'org-scoped policies not of the form org_id in (select my_org_ids())').toEqual([]);
    expect([...orgTables].filter((t) => !policies.some((p) => p.table === t)), 'org-scoped tables without a policy').toEqual([]);
  });

  it('keys every organization-scoped and server-only table by org_id first (the schema can be distributed by organization)', async () => {
    const keys = await db().query<{ name: string; first: string | null }>(
      `select c.relname as name,
              (select a.attname::text from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
               where i.indrelid = c.oid and i.indisprimary) as first
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'tokengate' and c.relkind in ('r', 'p')`,
    );
    const scoped = tables.filter((t) => tableClass(t) !== 'catalog' && t.columns.includes('org_id')).map((t) => t.name);
    expect(scoped.length).toBeGreaterThanOrEqual(12);
    const notFirst = keys.filter((k) => scoped.includes(k.name) && k.first !== 'org_id').map((k) => `${k.name}: ${k.first ?? 'no primary key'}`);
    expect(notFirst).toEqual([]);
  });

  it('indexes every policy column as the leading column of an index, and members by user_id for my_org_ids()', async () => {
    const columns = await catalog.policyColumns(db());
    const leading = await catalog.leadingIndexColumns(db());
    const orgTables = tables.filter((t) => tableClass(t) === 'org').map((t) => t.name);
    // Every org-scoped table's policy depends on org_id (recorded by Postgres in pg_depend).
    const scoped = new Set(columns.filter((c) => c.column === 'org_id').map((c) => c.table));
    expect(orgTables.filter((t) => !scoped.has(t)), 'org-scoped tables whose policy does not read org_id').toEqual([]);
    const unindexed = columns.filter((c) => !leading.has(`${c.table}.${c.column}`)).map((c) => `${c.table}.${c.column} ("${c.policy}")`);
    expect(unindexed).toEqual([]);
    expect(leading.has('members.user_id'), 'members(user_id, …) index for my_org_ids()').toBe(true);
  });

  /* ───────────────────────────── 7. no cross-organization reads through the API ───────────────────────────── */

  it('answers not_a_member when service_role calls any member function of org A for a user of B or a removed member', async () => {
    const calls: [LedgerFunction, (user: string) => Record<string, unknown>][] = [
      ['balances', (u) => ({ p_user_id: u })],
      ['stats', (u) => ({ p_user_id: u, p_from: '2000-01-01', p_to: '2000-12-31' })],
      ['usage_export', (u) => ({ p_user_id: u, p_from: '2000-01-01', p_to: '2000-12-31' })],
      ['check', (u) => ({ p_user_id: u, p_token_type: 'goal_generation' })],
      ['deduct', (u) => ({ p_user_id: u, p_token_type: 'goal_generation', p_idempotency_key: 'cross-org' })],
      ['reserve', (u) => ({ p_user_id: u, p_token_type: 'goal_generation', p_idempotency_key: 'cross-org-r' })],
      ['commit', (u) => ({ p_user_id: u, p_reservation_id: pendingA, p_actual: 1 })],
      ['release', (u) => ({ p_user_id: u, p_reservation_id: pendingA })],
      ['grant_tokens', (u) => ({ p_actor_id: u, p_token_type: 'goal_generation', p_amount: 100, p_idempotency_key: 'cross-org-g' })],
      ['adjust', (u) => ({ p_actor_id: u, p_token_type: 'goal_generation', p_amount: -1, p_reason: 'x', p_idempotency_key: 'cross-org-a' })],
      ['set_member_quota', (u) => ({ p_actor_id: u, p_user_id: memberA, p_token_type: 'goal_generation', p_quota: 0 })],
      ['add_member', (u) => ({ p_actor_id: u, p_user_id: randomUUID(), p_role: 'owner' })],
      ['remove_member', (u) => ({ p_actor_id: u, p_user_id: orgA.owner })],
      ['set_plan', (u) => ({ p_actor_id: u, p_plan_id: 'enterprise' })],
      ['guard_begin', (u) => ({ p_user_id: u, p_token_type: 'goal_generation', p_idempotency_key: 'cross-org-guard' })],
    ];
    const outsiders: [string, string][] = [['owner of B', orgB.owner], ['member of B', memberB], ['removed member of A', removedA]];
    const before = await fingerprint();
    const mismatches: string[] = [];
    for (const [who, user] of outsiders) {
      for (const [fn, args] of calls) {
        const got = await rolledBack(actor('service_role'), async (q) => [
          JSON.stringify(await call(q, fn, { p_org_id: orgA.orgId, ...args(user) })).slice(0, 120),
        ]);
        if (got.ok || got.code !== 'TGA05' || got.message !== 'not_a_member')
          mismatches.push(`${fn} of org A × ${who}: expected TGA05 not_a_member, got ${describeOutcome(got)}${got.ok ? ` ${got.rows[0]}` : ''}`);
      }
      // The batch answers each item instead of raising: the item's answer is the same refusal.
      const batch = await rolledBack(actor('service_role'), async (q) => [
        JSON.stringify(await call(q, 'deduct_batch', {
          p_items: [{ orgId: orgA.orgId, userId: user, tokenType: 'goal_generation', idempotencyKey: 'cross-org-batch' }],
        })),
      ]);
      const item = batch.ok ? JSON.parse(batch.rows[0]!)[0] : null;
      if (item?.error?.code !== 'not_a_member' || item?.error?.sqlstate !== 'TGA05')
        mismatches.push(`deduct_batch of org A × ${who}: expected an item error TGA05 not_a_member, got ${batch.ok ? batch.rows[0] : describeOutcome(batch)}`);
    }
    expect(mismatches).toEqual([]);
    expect(await fingerprint()).toEqual(before);
    // Sanity: the same calls work for A's own member (so the denial above is about membership).
    const own = await attempt(actor('service_role'), `select tokengate.balances($1::uuid, $2::uuid) ->> 'orgId' as row`, [orgA.orgId, memberA]);
    expect(own).toEqual({ ok: true, rows: [orgA.orgId] });
  });
});
