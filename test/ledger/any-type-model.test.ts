/**
 * Model-based run of any-type grants (migrations/20261209000001_tokengate_any_type_grants.sql):
 * fast-check generates random step sequences — grants to a type or to '*' (amount, expiry, priority,
 * scheduled start), deducts, holds committed under/at/over their estimate or released, clock jumps
 * (to around a grant's expiry too), the grants sweep, clawbacks of any-type grants (full or partial)
 * — and runs each against the real SQL and the small reference model in
 * test/ledger-model-any-type.ts (written from the spec, not from the SQL bodies). After every step
 * the result (or refusal), every type's balance (`allowanceRemaining`, `purchased`, `shared`,
 * `held`, `available`), every grant's left-over (own grants; any-type grants: the pool remainder and
 * each type's part) must match, and verify_ledger must answer [].
 *
 * The organization is on Pro with the lead_generation and quest_generation allowances spent and a
 * few goal_generation tokens left (0–5), so charges reach the grants at once. Runs stay within one
 * period (no refresh). Each run uses a new organization in the same database.
 *
 * Replaying: the output shows `seed=…`; on failure fast-check prints `{ seed, path }` and the shrunk
 * steps; the assertion message lists the steps as executed with the model's expectation.
 *   TOKENGATE_SEED=<seed> TOKENGATE_PATH=<path> npx vitest run test/ledger/any-type-model.test.ts -t pglite
 * TOKENGATE_RUNS=<n> overrides the number of runs (TOKENGATE_LONG=1, as CI runs it: 60 on PGlite,
 * 25 on the server; otherwise 15 and 6 — see test/long-runs.ts).
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { describeEachDb, type TestDb } from '../db.ts';
import { call, createOrg, ledgerError } from '../ledger.ts';
import { runCount } from '../long-runs.ts';
import { ANY, AnyTypeModel, CHARGED_TYPES, TYPE_COST, type Result, type TypeId } from '../ledger-model-any-type.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.parse('2028-01-10T12:00:00Z');
const ANCHOR = '2028-01-01T00:00:00Z';
/** The clock never passes this (the period ends 2028-02-01: no refresh inside a run). */
const LAST = Date.parse('2028-01-31T00:00:00Z');
const ALL_TYPES = Object.keys(TYPE_COST) as TypeId[];

/* ─────────────────────────── steps as data ─────────────────────────── */

type Spec =
  | {
      op: 'grant'; target: TypeId | typeof ANY; amount: number; priority: number;
      /** null: now; else minutes from now. */
      startsIn: number | null;
      /** null: never; ms after the start; or midnight UTC `days` after the start (shared expiries, so priority and age decide). */
      lasts: number | { days: number } | null;
    }
  | { op: 'deduct'; type: TypeId; units: number }
  | { op: 'reserve'; type: TypeId; estimate: number; ttl: number }
  /** The n-th pending hold (mod their number), committed under, at or over its estimate by `by`. */
  | { op: 'commit'; pick: number; vs: 'under' | 'equal' | 'over'; by: number }
  | { op: 'release'; pick: number }
  | { op: 'advance'; ms: number }
  /** To `minutes` around the expiry of the n-th grant that has one. */
  | { op: 'toExpiry'; pick: number; minutes: number }
  | { op: 'expireGrants' }
  /** The n-th any-type grant (or, with `own`, the n-th grant of any kind), for `amount` (null: all). */
  | { op: 'clawback'; pick: number; own: boolean; amount: number | null };

const type = fc.constantFrom<TypeId>(...CHARGED_TYPES);
const spec: fc.Arbitrary<Spec> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('grant' as const),
      target: fc.oneof({ weight: 3, arbitrary: fc.constant(ANY) }, { weight: 2, arbitrary: type }),
      // Small grants often, so that one charge spans several of them.
      amount: fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 2, arbitrary: fc.integer({ min: 9, max: 60 }) }),
      priority: fc.oneof(fc.constantFrom(0, 50, 50, 100), fc.integer({ min: 0, max: 100 })),
      startsIn: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 240 }) }),
      lasts: fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 240 }).map((m) => m * MINUTE) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 48 }).map((h) => h * HOUR) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 2 }).map((days) => ({ days })) },
      ),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('deduct' as const), type, units: fc.integer({ min: 1, max: 6 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('reserve' as const), type, estimate: fc.integer({ min: 1, max: 15 }),
      ttl: fc.oneof(fc.integer({ min: 60, max: 3600 }), fc.constant(86_400)),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('commit' as const), pick: fc.nat(), vs: fc.constantFrom('under' as const, 'equal' as const, 'over' as const),
      by: fc.integer({ min: 1, max: 15 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      ms: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 180 }).map((m) => m * MINUTE) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 36 }).map((h) => h * HOUR) },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('toExpiry' as const), pick: fc.nat(), minutes: fc.integer({ min: -3, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expireGrants' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('clawback' as const), pick: fc.nat(), own: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      amount: fc.option(fc.integer({ min: 1, max: 40 }), { freq: 3 }),
    }),
  },
);

/* ─────────────────────────── the run ─────────────────────────── */

interface Run {
  db: TestDb;
  orgId: string;
  user: string;
  model: AnyTypeModel;
  holdIds: string[];
  grantIds: string[];
  keys: number;
  trace: string[];
  tally: Map<string, number>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
/** Minutes since T0, for readable traces. */
const rel = (ms: number | null) => (ms === null ? 'never' : `T0${ms >= T0 ? '+' : ''}${(ms - T0) / MINUTE}m`);

type Outcome = Result<Record<string, unknown>> | { skipped: true };

/** Run one step on both sides; returns the model's and the SQL's outcome and a label for the trace. */
async function step(run: Run, s: Spec): Promise<{ label: string; want: unknown; got: unknown }> {
  const { model, db, orgId, user } = run;
  const key = () => `k${run.keys++}`;
  const sql = async (fn: Parameters<typeof call>[1], args: Record<string, unknown>): Promise<Result<any>> => {
    try {
      // expire_grants is the global sweep (each test file has its own database; older runs' orgs are behind this clock).
      return { ok: true, value: await call(db, fn, fn === 'expire_grants' ? args : { p_org_id: orgId, ...args }) };
    } catch (error) {
      return { ok: false, error: ledgerError(error).name };
    }
  };
  const brief = (r: Result<any>, pickFields: string[]) =>
    r.ok ? Object.fromEntries(pickFields.map((f) => [f, r.value[f]])) : { error: r.error };

  switch (s.op) {
    case 'grant': {
      const start = s.startsIn === null ? null : model.clock + s.startsIn * MINUTE;
      const from = start ?? model.clock;
      const expiresAt = s.lasts === null ? null
        : typeof s.lasts === 'number' ? from + s.lasts
        : Math.floor(from / DAY) * DAY + s.lasts.days * DAY;
      const m = model.grant(s.target, s.amount, { expiresAt, priority: s.priority, start });
      const r = await sql('grant_tokens', {
        p_actor_id: null, p_token_type: s.target, p_amount: s.amount, p_idempotency_key: key(), p_priority: s.priority,
        p_expires_at: iso(expiresAt), p_effective_at: iso(start),
      });
      if (r.ok) run.grantIds.push(r.value.grantId);
      const label = `grant ${s.target} ${s.amount} prio ${s.priority} start ${start === null ? 'now' : rel(start)} expires ${rel(expiresAt)}  (#${m.ok ? m.value.index : '?'})`;
      return { label, want: m.ok ? {} : { error: m.error }, got: brief(r, []) };
    }
    case 'deduct': {
      const m = model.deduct(s.type, s.units);
      const r = await sql('deduct', { p_user_id: user, p_token_type: s.type, p_idempotency_key: key(), p_units: s.units });
      return { label: `deduct ${s.type} ×${s.units} (${s.units * TYPE_COST[s.type]} tokens)`, want: m.ok ? { charged: m.value.charged } : { error: m.error }, got: brief(r, ['charged']) };
    }
    case 'reserve': {
      const m = model.reserve(s.type, s.estimate, s.ttl);
      const r = await sql('reserve', { p_user_id: user, p_token_type: s.type, p_idempotency_key: key(), p_estimate: s.estimate, p_ttl_seconds: s.ttl });
      if (r.ok) run.holdIds.push(r.value.reservationId);
      const label = `reserve ${s.type} ${s.estimate} ttl ${s.ttl}s  (hold #${m.ok ? m.value.index : '-'})`;
      return { label, want: m.ok ? { held: m.value.held } : { error: m.error }, got: brief(r, ['held']) };
    }
    case 'commit':
    case 'release': {
      model.settle();
      const pending = model.holds.filter((h) => h.status === 'pending');
      if (pending.length === 0) return { label: `${s.op}: no pending hold (skipped)`, want: null, got: null };
      const h = pending[s.pick % pending.length]!;
      const actual = s.op === 'release' ? null : s.vs === 'equal' ? h.estimate : s.vs === 'under' ? Math.max(0, h.estimate - s.by) : h.estimate + s.by;
      const m = model.resolve(h.index, actual);
      const r = actual === null
        ? await sql('release', { p_user_id: user, p_reservation_id: run.holdIds[h.index] })
        : await sql('commit', { p_user_id: user, p_reservation_id: run.holdIds[h.index], p_actual: actual });
      const label = actual === null ? `release hold #${h.index} (${h.type} ${h.estimate})` : `commit hold #${h.index} (${h.type} ${h.estimate}) actual ${actual}`;
      const got = r.ok && typeof r.value.error === 'string' ? { error: r.value.error } : brief(r, ['charged', 'uncharged']);
      return { label, want: m.ok ? m.value : { error: m.error }, got };
    }
    case 'advance':
    case 'toExpiry': {
      let to: number;
      if (s.op === 'advance') to = model.clock + s.ms;
      else {
        const ends = model.grants.map((g) => g.expiresAt).filter((e): e is number => e !== null && e > model.clock);
        if (ends.length === 0) return { label: 'toExpiry: no grant expiry ahead (skipped)', want: null, got: null };
        to = ends[s.pick % ends.length]! + s.minutes * MINUTE;
      }
      to = Math.min(Math.max(to, model.clock), LAST);
      model.advance(to - model.clock);
      await db.setNow(new Date(model.clock));
      return { label: `clock → ${rel(model.clock)}`, want: null, got: null };
    }
    case 'expireGrants': {
      model.settle();
      const r = await sql('expire_grants', {});
      return { label: 'expire_grants', want: {}, got: brief(r, []) };
    }
    case 'clawback': {
      model.settle();
      const candidates = model.grants.filter((g) => s.own || g.type === ANY);
      if (candidates.length === 0) return { label: 'clawback: no grant (skipped)', want: null, got: null };
      const g = candidates[s.pick % candidates.length]!;
      const label = `clawback #${g.index} (${g.type}, ${g.status}) amount ${s.amount ?? 'all'}`;
      const m = model.clawback(g.index, s.amount);
      const r = await sql('clawback_grant', {
        p_actor_id: null, p_grant_id: run.grantIds[g.index], p_grant_key: null, p_amount: s.amount, p_idempotency_key: key(), p_reason: 'model run',
      });
      return { label, want: m.ok ? m.value : { error: m.error }, got: brief(r, ['clawedBack', 'shortfall', 'revoked']) };
    }
  }
}

/** What each grant has left in SQL, as if its due work were done at the clock (expiry and starts are lazy). */
const GRANTS_LEFT = `
  with g as (
    select g.*,
      case when g.status = 'scheduled' and g.effective_at <= tokengate.clock() then 'active' else g.status end as st0
    from tokengate.grants g where g.org_id = $1
  ), e as (
    select g.*,
      case when g.st0 = 'active' and g.expires_at <= tokengate.clock() then 'expired' else g.st0 end as st,
      case when g.st0 <> 'active' or g.expires_at <= tokengate.clock() then 0
           when g.status = 'scheduled' then g.amount else g.remaining end as left_now
    from g
  )
  select p.seq, p.token_type_id as type, p.st as status, p.left_now::int as "left",
    (select jsonb_object_agg(c.token_type_id, c.total) from (
       select c.token_type_id, sum(case when c.st = 'active' then c.left_now else 0 end)::int as total
       from e c where c.parent_id = p.id group by c.token_type_id) c) as parts
  from e p where p.parent_id is null order by p.seq`;

async function compare(run: Run, label: string, want: unknown, got: unknown): Promise<void> {
  const { model, db, orgId, user } = run;
  run.trace.push(`${label}${want === null ? '' : `  →  ${JSON.stringify(want)}`}`);
  const context = `after steps (model's expectation after →):\n  ${run.trace.join('\n  ')}\n`;
  expect(got, `${context}result of the last step`).toEqual(want);
  const balances = await call(db, 'balances', { p_org_id: orgId, p_user_id: user });
  const sqlBalances = Object.fromEntries(
    (balances.tokenTypes as any[]).map((b) => [b.tokenType, { allowanceRemaining: b.allowanceRemaining, purchased: b.purchased, shared: b.shared, held: b.held, available: b.available }]),
  );
  const modelBalances = Object.fromEntries(ALL_TYPES.map((t) => [t, model.balance(t)]));
  expect(sqlBalances, `${context}balances`).toEqual(modelBalances);
  const rows = await db.query<{ type: string; status: string; left: number; parts: Record<string, number> | null }>(GRANTS_LEFT, [orgId]);
  const sqlGrants = rows.map((r, index) => ({ index, type: r.type, status: r.status, left: r.left, ...(r.type === ANY ? { parts: r.parts ?? {} } : {}) }));
  expect(sqlGrants, `${context}grants (left in each; any-type: pool and parts)`).toEqual(model.grantsLeft());
  expect(await call(db, 'verify_ledger', { p_org_id: orgId }), `${context}verify_ledger`).toEqual([]);
}

describeEachDb('any-type grants model', (db) => {
  // Found by the run below (shrunk): balances() does each type's due work but not the pool's, so
  // `shared` (and `available`) still count an any-type grant past its expiry — and miss one whose
  // start came — until a charge, a check or the sweep locks the pool. A deduct then refuses what
  // balances just offered. (Reported to the lead; the SQL is not changed here.)
  it("balances stop counting an any-type grant at its expiry, before any charge or sweep touches the pool", async () => {
    await db().setNow(new Date(T0));
    const org = await createOrg(db(), { plan: 'pro', anchor: ANCHOR, members: 1 });
    const user = org.members[0]!;
    await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'lead_generation', p_amount: -100, p_reason: 'spend the allowance', p_idempotency_key: 'spend' });
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: ANY, p_amount: 1, p_idempotency_key: 'g', p_expires_at: iso(T0 + MINUTE) });
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: ANY, p_amount: 5, p_idempotency_key: 's', p_effective_at: iso(T0 + MINUTE) });
    await db().setNow(new Date(T0 + MINUTE));
    const lead = (await call(db(), 'balances', { p_org_id: org.orgId, p_user_id: user })).tokenTypes.find((b: any) => b.tokenType === 'lead_generation');
    await db().setNow(null);
    expect(lead).toMatchObject({ purchased: 0, shared: 5, available: 5 });
  });

  it('agrees with the reference model after every step of random sequences', { timeout: 600_000 }, async () => {
    const seed = process.env.TOKENGATE_SEED ? Number(process.env.TOKENGATE_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
    const path = process.env.TOKENGATE_PATH || undefined;
    const numRuns = Number(process.env.TOKENGATE_RUNS ?? (db().kind === 'pglite' ? runCount({ long: 60, short: 15 }) : runCount({ long: 25, short: 6 })));
    console.log(`[any-type model] ${db().kind}: seed=${seed}${path ? ` path=${path}` : ''} runs=${numRuns}  (replay: TOKENGATE_SEED=${seed})`);
    const tally = new Map<string, number>();
    let steps = 0;
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 }),
        fc.array(spec, { minLength: 10, maxLength: 30, size: 'max' }),
        async (goalLeft, specs) => {
          await db().setNow(new Date(T0));
          const org = await createOrg(db(), { plan: 'pro', anchor: ANCHOR, members: 1 });
          const user = org.members[0]!;
          const spend = { lead_generation: 100, quest_generation: 60, goal_generation: 20 - goalLeft };
          for (const [t, amount] of Object.entries(spend)) {
            if (amount > 0) await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: t, p_amount: -amount, p_reason: 'spend the allowance', p_idempotency_key: `spend-${t}` });
          }
          const model = new AnyTypeModel(T0, { lead_generation: 0, quest_generation: 0, goal_generation: goalLeft });
          const run: Run = { db: db(), orgId: org.orgId, user, model, holdIds: [], grantIds: [], keys: 0, tally, trace: [`start ${iso(T0)} (T0), goal_generation allowance left ${goalLeft}`] };
          await compare(run, 'setup', null, null);
          for (const s of specs) {
            const { label, want, got } = await step(run, s);
            const outcome = label.endsWith('(skipped)') ? 'skipped' : (want as any)?.error ?? 'ok';
            tally.set(`${s.op}:${outcome}`, (tally.get(`${s.op}:${outcome}`) ?? 0) + 1);
            if (s.op === 'commit' && want && !(want as any).error && (want as any).uncharged > 0) tally.set('commit:uncharged', (tally.get('commit:uncharged') ?? 0) + 1);
            steps += 1;
            await compare(run, label, want, got);
          }
        },
      ),
      { seed, path, numRuns, verbose: 1, endOnFailure: false },
    );
    await db().setNow(null);
    const seconds = (performance.now() - started) / 1000;
    const outcomes = [...tally].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k}=${n}`).join(' ');
    console.log(`[any-type model] ${db().kind}: ${numRuns} runs, ${steps} steps in ${seconds.toFixed(1)} s\n  ${outcomes}`);
  });
});
