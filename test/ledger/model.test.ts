/**
 * Model-based run of the ledger: fast-check generates random command sequences (deduct, reserve,
 * commit, release, sweep, clock jumps across periods and expiries, top-ups, adjustments, plan
 * changes, member quotas, checks, retries with the same or another idempotency key) and runs each
 * against the SQL ledger and the reference model in test/ledger-model.ts. After every command the
 * result or error name, every bucket (balances, period, number of ledger entries), every
 * reservation, the member counters and the number of stored idempotency keys must equal the
 * model's, the ledger must reconcile (verify_ledger = []) and no balance may be negative.
 *
 * Each run uses a new organization in the same database, so runs are cheap, and ends by jumping to
 * 2100 and sweeping, so whatever it left pending expires (checked too) before the next run.
 *
 * Replaying a failure: the output shows `seed=…` at the start, and on failure fast-check prints
 * `{ seed: …, path: "…" }` and, after the counterexample, a comment `replayPath="…"`. Re-run exactly
 * the shrunk counterexample with
 *   TOKENGATE_SEED=<seed> TOKENGATE_PATH=<path> TOKENGATE_REPLAY=<replayPath> npx vitest run test/ledger/model.test.ts -t pglite
 * TOKENGATE_SEED alone replays the whole run, shrinking included; TOKENGATE_RUNS=<n> changes the
 * number of runs (default with TOKENGATE_LONG=1, as CI runs it: 100 on PGlite, 30 on the server;
 * otherwise 25 and 8, see test/long-runs.ts). The failing assertion's message lists
 * the steps of the shrunk run as executed, each with what the model expected.
 */
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { describeEachDb, type TestDb } from '../db.ts';
import { call, createOrg, ledgerError, type LedgerFunction } from '../ledger.ts';
import { runCount } from '../long-runs.ts';
import {
  COST,
  LedgerModel,
  MEMBERS,
  PLAN_IDS,
  periodAt,
  TOKEN_TYPES,
  type Actor,
  type Outcome,
  type Person,
  type PlanId,
  type TokenType,
} from '../ledger-model.ts';

/* ─────────────────────────── commands as data ─────────────────────────── */

type KeySpec = { fresh: true } | { shared: number };
type Keyed =
  | { op: 'deduct'; user: Person; type: TokenType; units: number; key: string }
  | { op: 'reserve'; user: Person; type: TokenType; estimate: number; ttl: number; key: string }
  | { op: 'grant'; actor: Actor; type: TokenType; amount: number; key: string }
  | { op: 'adjust'; actor: Actor; type: TokenType; amount: number; key: string };
/** A call with everything resolved against the current state (key, reservation index). */
type Call =
  | Keyed
  | { op: 'commit'; user: Person; index: number | null; actual: number }
  | { op: 'release'; user: Person; index: number | null }
  | { op: 'expire' }
  | { op: 'advance'; ms: number }
  | { op: 'setPlan'; actor: Actor; plan: PlanId }
  | { op: 'quota'; actor: Actor; user: Person; type: TokenType; quota: number | null }
  | { op: 'check'; user: Person; type: TokenType; amount: number | null };
/** A reservation: the n-th pending one (any one if none is pending), the n-th of all, or a random id. */
type Pick = { pending: number } | { any: number } | 'unknown';
/** A generated command: a Call whose key or reservation is chosen when it runs. */
type Spec =
  | (Omit<Extract<Keyed, { op: 'deduct' }>, 'key'> & { key: KeySpec })
  | (Omit<Extract<Keyed, { op: 'reserve' }>, 'key'> & { key: KeySpec })
  | (Omit<Extract<Keyed, { op: 'grant' }>, 'key'> & { key: KeySpec })
  | (Omit<Extract<Keyed, { op: 'adjust' }>, 'key'> & { key: KeySpec })
  | { op: 'commit'; user: Person | 'holder'; pick: Pick; actual: number }
  | { op: 'release'; user: Person | 'holder'; pick: Pick }
  | { op: 'retry'; pick: number; change: 'none' | 'person' | 'amount' | 'type' | 'operation' }
  /** Jump to `minutes` before the end of the current period, so a reservation can outlive it. */
  | { op: 'toBoundary'; minutes: number }
  | Extract<Call, { op: 'expire' | 'advance' | 'setPlan' | 'quota' | 'check' }>;

/** fast-check's model: the ledger model plus what the test needs to pick keys and retries. */
interface World {
  ledger: LedgerModel;
  keyCounter: number;
  keyed: Keyed[];
}
/** The system under test: one organization in a real database. */
interface Real {
  db: TestDb;
  orgId: string;
  users: Record<Person, string>;
  reservationIds: string[];
  trace: string[];
  /** `op → outcome` counts over the whole property, printed at the end (coverage at a glance). */
  tally: Map<string, number>;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** Where every run ends: later than any clock a run reaches (40 steps of at most 40 days from 2028). */
const DRAIN = Date.parse('2100-01-01T00:00:00Z');
const ANCHORS = ['2028-01-31T10:00:00Z', '2028-01-30T23:30:00Z', '2027-12-31T00:00:00Z', '2028-02-29T12:00:00Z', '2028-03-15T08:00:00Z'];

/* ─────────────────────────── generators ─────────────────────────── */

const person = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom<Person>(...MEMBERS) },
  { weight: 1, arbitrary: fc.constant<Person>('outsider') },
);
const actor = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom<Actor>(null, 'owner', 'admin') },
  { weight: 1, arbitrary: fc.constantFrom<Actor>('member', 'outsider') },
);
const type = fc.constantFrom<TokenType>(...TOKEN_TYPES);
/** Who resolves a reservation: mostly the member who holds it. */
const resolver = fc.oneof({ weight: 3, arbitrary: fc.constant('holder' as const) }, { weight: 1, arbitrary: person });
const keySpec: fc.Arbitrary<KeySpec> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ fresh: true as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }).map((shared) => ({ shared })) },
);
const pick: fc.Arbitrary<Pick> = fc.oneof(
  { weight: 12, arbitrary: fc.nat().map((pending) => ({ pending })) },
  { weight: 4, arbitrary: fc.nat().map((any) => ({ any })) },
  { weight: 1, arbitrary: fc.constant('unknown' as const) },
);

/** One generated command; weights favour the money paths (deduct, reserve, commit, time). */
const spec: fc.Arbitrary<Spec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('deduct' as const), user: person, type, units: fc.integer({ min: 1, max: 5 }), key: keySpec }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('reserve' as const),
      user: person,
      type,
      estimate: fc.integer({ min: 1, max: 40 }),
      ttl: fc.integer({ min: 60, max: 7200 }),
      key: keySpec,
    }),
  },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('commit' as const), user: resolver, pick, actual: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('release' as const), user: resolver, pick }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expire' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      ms: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 180 }).map((m) => m * MINUTE) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 72 }).map((h) => h * 60 * MINUTE) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }).map((d) => d * DAY) },
      ),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('toBoundary' as const), minutes: fc.integer({ min: 1, max: 45 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('grant' as const), actor, type, amount: fc.integer({ min: 1, max: 50 }), key: keySpec }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('adjust' as const), actor, type, amount: fc.integer({ min: -30, max: 30 }).filter((n) => n !== 0), key: keySpec }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('setPlan' as const), actor, plan: fc.constantFrom<PlanId>('pro', ...PLAN_IDS) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('quota' as const), actor, user: person, type, quota: fc.option(fc.integer({ min: 0, max: 40 }), { freq: 3 }) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('check' as const), user: person, type, amount: fc.option(fc.integer({ min: 1, max: 40 })) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('retry' as const),
      pick: fc.nat(),
      change: fc.constantFrom('none' as const, 'none' as const, 'person' as const, 'amount' as const, 'type' as const, 'operation' as const),
    }),
  },
);

/* ─────────────────────────── resolving a spec ─────────────────────────── */

const nextActor = (a: Actor): Actor => ({ null: 'owner', owner: 'admin', admin: null, member: null, outsider: null } as const)[`${a}` as 'null'];
const nextPerson = (p: Person): Person => ({ owner: 'admin', admin: 'member', member: 'owner', outsider: 'owner' } as const)[p];
const otherType = (t: TokenType): TokenType => (t === 'goal_generation' ? 'quest_generation' : 'goal_generation');

function keyOf(world: World, spec: KeySpec): string {
  return 'fresh' in spec ? `k${world.keyCounter++}` : `shared-${spec.shared}`;
}

/** The same keyed call again, or with one thing changed (which must conflict unless it fails earlier). */
function retry(prev: Keyed, change: Extract<Spec, { op: 'retry' }>['change']): Keyed {
  switch (change) {
    case 'none':
      return prev;
    case 'type':
      return { ...prev, type: otherType(prev.type) };
    case 'person':
      return 'user' in prev ? { ...prev, user: nextPerson(prev.user) } : { ...prev, actor: nextActor(prev.actor) };
    case 'amount':
      if (prev.op === 'deduct') return { ...prev, units: prev.units + 1 };
      if (prev.op === 'reserve') return { ...prev, estimate: prev.estimate + 1 };
      return { ...prev, amount: prev.amount === -1 ? 1 : prev.amount + 1 };
    case 'operation':
      if (prev.op === 'deduct') return { op: 'reserve', user: prev.user, type: prev.type, estimate: prev.units * COST[prev.type], ttl: 300, key: prev.key };
      if (prev.op === 'reserve') return { op: 'deduct', user: prev.user, type: prev.type, units: 1, key: prev.key };
      if (prev.op === 'grant') return { op: 'adjust', actor: prev.actor, type: prev.type, amount: prev.amount, key: prev.key };
      return { op: 'grant', actor: prev.actor, type: prev.type, amount: Math.abs(prev.amount), key: prev.key };
  }
}

function resolve(world: World, spec: Spec): Call {
  const n = world.ledger.state.reservations.length;
  switch (spec.op) {
    case 'deduct':
    case 'reserve':
    case 'grant':
    case 'adjust':
      return { ...spec, key: keyOf(world, spec.key) } as Keyed;
    case 'retry':
      return retry(world.keyed[spec.pick % world.keyed.length]!, spec.change);
    case 'toBoundary': {
      const { clock, anchor } = world.ledger.state;
      const target = periodAt(anchor, clock).end - spec.minutes * MINUTE;
      return { op: 'advance', ms: target > clock ? target - clock : spec.minutes * MINUTE };
    }
    case 'commit':
    case 'release': {
      const { pick: p, ...rest } = spec;
      const pending = world.ledger.state.reservations.filter((r) => r.status === 'pending');
      const index = p === 'unknown' ? null : 'pending' in p && pending.length > 0 ? pending[p.pending % pending.length]!.index : ('pending' in p ? p.pending : p.any) % n;
      const user = rest.user !== 'holder' ? rest.user : index === null ? 'member' : world.ledger.state.reservations[index]!.user;
      return { ...rest, user, index } as Call;
    }
    default:
      return spec;
  }
}

/* ─────────────────────────── running a call on both sides ─────────────────────────── */

function runModel(m: LedgerModel, c: Call): Outcome<any> {
  switch (c.op) {
    case 'deduct':
      return m.deduct(c.user, c.type, c.units, c.key);
    case 'reserve':
      return m.reserve(c.user, c.type, c.estimate, c.ttl, c.key);
    case 'grant':
      return m.grant(c.actor, c.type, c.amount, c.key);
    case 'adjust':
      return m.adjust(c.actor, c.type, c.amount, c.key);
    case 'commit':
      return m.commit(c.user, c.index, c.actual);
    case 'release':
      return m.release(c.user, c.index);
    case 'expire':
      return m.expireReservations();
    case 'advance':
      m.advance(c.ms);
      return { ok: true, value: { clock: new Date(m.state.clock).toISOString() } };
    case 'setPlan':
      return m.setPlan(c.actor, c.plan);
    case 'quota':
      return m.setMemberQuota(c.actor, c.user, c.type, c.quota);
    case 'check':
      return m.check(c.user, c.type, c.amount);
  }
}

function sqlArgs(real: Real, c: Call): [LedgerFunction, Record<string, unknown>] | null {
  const org = real.orgId;
  const uid = (p: Person) => real.users[p];
  const aid = (a: Actor) => (a === null ? null : real.users[a]);
  const rid = (i: number | null) => (i === null ? randomUUID() : real.reservationIds[i]);
  switch (c.op) {
    case 'deduct':
      return ['deduct', { p_org_id: org, p_user_id: uid(c.user), p_token_type: c.type, p_idempotency_key: c.key, p_units: c.units }];
    case 'reserve':
      return ['reserve', { p_org_id: org, p_user_id: uid(c.user), p_token_type: c.type, p_idempotency_key: c.key, p_estimate: c.estimate, p_ttl_seconds: c.ttl }];
    case 'grant':
      return ['grant_tokens', { p_org_id: org, p_actor_id: aid(c.actor), p_token_type: c.type, p_amount: c.amount, p_idempotency_key: c.key }];
    case 'adjust':
      return ['adjust', { p_org_id: org, p_actor_id: aid(c.actor), p_token_type: c.type, p_amount: c.amount, p_reason: 'model run', p_idempotency_key: c.key }];
    case 'commit':
      return ['commit', { p_org_id: org, p_user_id: uid(c.user), p_reservation_id: rid(c.index), p_actual: c.actual }];
    case 'release':
      return ['release', { p_org_id: org, p_user_id: uid(c.user), p_reservation_id: rid(c.index) }];
    case 'expire':
      return ['expire_reservations', {}];
    case 'setPlan':
      return ['set_plan', { p_org_id: org, p_actor_id: aid(c.actor), p_plan_id: c.plan }];
    case 'quota':
      return ['set_member_quota', { p_org_id: org, p_actor_id: aid(c.actor), p_user_id: uid(c.user), p_token_type: c.type, p_quota: c.quota }];
    case 'check':
      return ['check', { p_org_id: org, p_user_id: uid(c.user), p_token_type: c.type, p_amount: c.amount }];
    case 'advance':
      return null;
  }
}

const pickFields = (o: Record<string, unknown>, fields: string[]) => Object.fromEntries(fields.map((f) => [f, o[f] ?? null]));

/** The comparable part of a successful result, from the model's value or the SQL JSON. */
function comparable(c: Call, v: any, side: 'model' | 'sql', real: Real, ambiguousRefund: boolean): Record<string, unknown> {
  switch (c.op) {
    case 'deduct':
      return pickFields(v, ['charged', 'fromAllowance', 'fromPurchased', 'replayed']);
    case 'reserve':
      return {
        ...pickFields(v, ['status', 'estimate', 'held', 'replayed']),
        expiresAt: side === 'model' ? v.expiresAt : Date.parse(v.expiresAt),
        reservation: side === 'model' ? v.reservation : real.reservationIds.indexOf(v.reservationId),
      };
    case 'commit':
    case 'release':
      return pickFields(v, ['status', 'actual', 'charged', 'uncharged', 'replayed', ...(ambiguousRefund ? [] : ['refunded'])]);
    case 'expire':
      return pickFields(v, ['expired', 'buckets']);
    case 'grant':
      return pickFields(v, ['granted', 'replayed']);
    case 'adjust':
      return pickFields(v, ['amount', 'replayed']);
    case 'setPlan':
      return { plan: side === 'model' ? v.plan : v.plan.id };
    case 'quota':
      return pickFields(v, ['quota']);
    case 'check':
      return pickFields(v, ['allowed', 'reason']);
    case 'advance':
      return {};
  }
}

/* ─────────────────────────── the state both sides must agree on ─────────────────────────── */

const SNAPSHOT = `
  select jsonb_build_object(
    'buckets', coalesce((select jsonb_object_agg(b.token_type_id, jsonb_build_object(
        'periodStart', (extract(epoch from b.period_start) * 1000)::bigint,
        'periodEnd', (extract(epoch from b.period_end) * 1000)::bigint,
        'allowance', b.allowance, 'allowanceSpent', b.allowance_spent, 'allowanceRemaining', b.allowance_remaining,
        'purchased', b.purchased_remaining, 'held', b.held, 'used', b.used,
        'entries', (select count(*) from tokengate.ledger l where l.org_id = b.org_id and l.token_type_id = b.token_type_id)))
      from tokengate.buckets b where b.org_id = $1 and b.token_type_id in ('goal_generation', 'quest_generation')), '{}'),
    'reservations', coalesce((select jsonb_object_agg(x.id, jsonb_build_object(
        'status', x.status, 'estimate', x.estimate, 'heldAllowance', x.held_allowance,
        'heldPurchased', x.held_purchased, 'charged', x.charged))
      from tokengate.reservations x where x.org_id = $1), '{}'),
    'memberUsage', coalesce((select jsonb_object_agg(m.user_id || '|' || m.token_type_id || '|' || (extract(epoch from m.period_start) * 1000)::bigint,
        jsonb_build_object('used', m.used, 'held', m.held))
      from tokengate.member_usage m
      join tokengate.buckets b on b.org_id = m.org_id and b.token_type_id = m.token_type_id and b.period_start = m.period_start
      where m.org_id = $1 and (m.used <> 0 or m.held <> 0)), '{}'),
    'keys', (select count(*) from tokengate.idempotency_keys k where k.org_id = $1),
    'negative', (select count(*) from tokengate.buckets b where b.org_id = $1
        and least(b.allowance, b.allowance_remaining, b.purchased_remaining, b.held, b.used) < 0)
      + (select count(*) from tokengate.member_usage m where m.org_id = $1 and least(m.used, m.held) < 0),
    'problems', tokengate.verify_ledger($1)) as snap`;

function expectedSnapshot(world: World, real: Real) {
  const s = world.ledger.state;
  const buckets = Object.fromEntries(Object.entries(s.buckets).map(([t, b]) => [t, { ...b }]));
  const reservations = Object.fromEntries(
    s.reservations.map((r) => [
      real.reservationIds[r.index],
      { status: r.status, estimate: r.estimate, heldAllowance: r.heldAllowance, heldPurchased: r.heldPurchased, charged: r.result?.charged ?? null },
    ]),
  );
  // The ledger keeps member counters only for a member with a quota of the type (backfilled when
  // the quota is set), and only their current period is ever read.
  const memberUsage = Object.fromEntries(
    Object.entries(s.memberUsage)
      .filter(([k, u]) => {
        const [user, t, start] = k.split('|');
        return (u.used !== 0 || u.held !== 0) && `${user}|${t}` in s.quotas && s.buckets[t as keyof typeof s.buckets]?.periodStart === Number(start);
      })
      .map(([k, u]) => {
        const [user, t, start] = k.split('|');
        return [`${real.users[user as Person]}|${t}|${start}`, u];
      }),
  );
  return { buckets, reservations, memberUsage, keys: Object.keys(s.keys).length, negative: 0, problems: [] };
}

/* ─────────────────────────── one command ─────────────────────────── */

class Step implements fc.AsyncCommand<World, Real> {
  constructor(readonly spec: Spec) {}

  check(world: Readonly<World>): boolean {
    if (this.spec.op === 'retry') return world.keyed.length > 0;
    if ((this.spec.op === 'commit' || this.spec.op === 'release') && this.spec.pick !== 'unknown') {
      return world.ledger.state.reservations.length > 0;
    }
    return true;
  }

  async run(world: World, real: Real): Promise<void> {
    const c = resolve(world, this.spec);
    if ('key' in c) world.keyed.push(c);
    const expected = runModel(world.ledger, c);
    const args = sqlArgs(real, c);

    let actual: Outcome<any>;
    if (args === null) {
      await real.db.setNow(new Date(world.ledger.state.clock));
      actual = expected;
    } else {
      try {
        const value = await call(real.db, args[0], args[1]);
        // commit answers an expired hold with { error } (so that its expiry is kept) instead of raising.
        actual = value && typeof value.error === 'string' ? { ok: false, error: value.error } : { ok: true, value };
      } catch (error) {
        actual = { ok: false, error: ledgerError(error).name };
      }
    }
    if (c.op === 'reserve' && actual.ok && actual.value.replayed === false) real.reservationIds.push(actual.value.reservationId);

    const model = world.ledger.state;
    const ambiguous =
      (c.op === 'commit' || c.op === 'release') && c.index !== null && !!model.reservations[c.index]?.result?.refundedAmbiguous;
    const summarize = (o: Outcome<any>, side: 'model' | 'sql') =>
      o.ok ? comparable(c, o.value, side, real, ambiguous) : { error: o.error };
    const want = summarize(expected, 'model');
    const got = summarize(actual, 'sql');
    real.trace.push(`${label(c)}  →  ${JSON.stringify(want)}`);
    const outcome = !expected.ok ? expected.error : expected.value.replayed ? 'replayed' : c.op === 'check' ? `${expected.value.reason ?? 'allowed'}` : 'ok';
    const count = (k: string) => real.tally.set(k, (real.tally.get(k) ?? 0) + 1);
    count(`${c.op}:${outcome}`);
    if ((c.op === 'commit' || c.op === 'release') && expected.ok && !expected.value.replayed) {
      const r = model.reservations[c.index!]!;
      if (expected.value.uncharged > 0) count(`${c.op}:uncharged`);
      if (r.periodStart !== model.buckets[r.type]!.periodStart) count(`${c.op}:acrossPeriods`);
    }
    const context = `after steps (clock, model's expectation):\n  ${real.trace.join('\n  ')}\n`;

    expect(got, `${context}result of the last step`).toEqual(want);
    const [row] = await real.db.query<{ snap: any }>(SNAPSHOT, [real.orgId]);
    const snap = row!.snap;
    const exp = expectedSnapshot(world, real);
    expect(snap.problems, `${context}verify_ledger`).toEqual([]);
    expect(snap.negative, `${context}negative balances`).toBe(0);
    expect(snap.buckets, `${context}buckets`).toEqual(exp.buckets);
    expect(snap.reservations, `${context}reservations`).toEqual(exp.reservations);
    expect(snap.memberUsage, `${context}member usage`).toEqual(exp.memberUsage);
    expect(snap.keys, `${context}idempotency keys stored`).toBe(exp.keys);
  }

  toString(): string {
    return JSON.stringify(this.spec);
  }
}

function label(c: Call): string {
  const { op, ...rest } = c as Record<string, unknown> & { op: string };
  if (op === 'advance') return `advance ${(c as { ms: number }).ms / MINUTE} min`;
  return `${op} ${JSON.stringify(rest)}`;
}

/* ─────────────────────────── the property ─────────────────────────── */

describeEachDb('ledger model', (db) => {
  // Found by the model run (shrunk: reserve ttl 60 → advance 1 day → the same reserve again).
  it('a replayed reserve reports a reservation past its expiry as expired, as commit and release would', async () => {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    const args = { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'r', p_estimate: 1, p_ttl_seconds: 60 };
    const first = await call(db(), 'reserve', args);
    await db().setNow('2028-01-11T12:00:00Z');
    expect((await call(db(), 'commit', { p_org_id: org.orgId, p_user_id: org.owner, p_reservation_id: first.reservationId, p_actual: 1 })).error).toBe('reservation_expired');
    const replay = await call(db(), 'reserve', args);
    await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.owner, p_reservation_id: first.reservationId });
    await db().setNow(null);
    expect(replay).toMatchObject({ replayed: true, reservationId: first.reservationId, status: 'expired' });
  });

  it('agrees with the reference model after every step of random command sequences', { timeout: 600_000 }, async () => {
    const seed = process.env.TOKENGATE_SEED ? Number(process.env.TOKENGATE_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
    const path = process.env.TOKENGATE_PATH || undefined;
    const replayPath = process.env.TOKENGATE_REPLAY || undefined;
    const numRuns = Number(process.env.TOKENGATE_RUNS ?? (db().kind === 'pglite' ? runCount({ long: 100, short: 25 }) : runCount({ long: 30, short: 8 })));
    console.log(`[ledger model] ${db().kind}: seed=${seed}${path ? ` path=${path}` : ''} runs=${numRuns}  (replay: TOKENGATE_SEED=${seed})`);

    // Expire what other tests of this database left pending: the sweep is global, and each run
    // must see only its own organization (each run drains its own at its end, see below).
    await db().setNow(new Date(DRAIN));
    await call(db(), 'expire_reservations', {});
    let commands = 0;
    const tally = new Map<string, number>();
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          plan: fc.constantFrom<PlanId>('pro', 'pro', 'pro', 'pro', 'pro', 'enterprise', 'starter'),
          anchor: fc.constantFrom(...ANCHORS),
          startOffset: fc.integer({ min: -5 * 24 * 60, max: 35 * 24 * 60 }).map((m) => m * MINUTE),
        }),
        fc.commands([spec.map((s) => new Step(s))], { maxCommands: 40, size: 'max', replayPath }),
        async (setup, steps) => {
          const anchor = Date.parse(setup.anchor);
          const clock = anchor + setup.startOffset;
          await db().setNow(new Date(clock));
          const org = await createOrg(db(), { plan: setup.plan, anchor: setup.anchor, members: 1 });
          const users = { owner: org.owner, admin: org.admin, member: org.members[0]!, outsider: randomUUID() };
          const real: Real = { db: db(), orgId: org.orgId, users, reservationIds: [], tally, trace: [`start ${new Date(clock).toISOString()} plan ${setup.plan} anchor ${setup.anchor}`] };
          const world: World = { ledger: new LedgerModel({ plan: setup.plan, anchor, clock }), keyCounter: 0, keyed: [] };
          let drained = false;
          try {
            await fc.asyncModelRun(() => ({ model: world, real }), steps);
            // Last, far in the future: the sweep expires whatever is still pending and all still agrees.
            // It also keeps runs independent: the sweep is global, and the next run must see only its own organization.
            await new Step({ op: 'advance', ms: DRAIN - world.ledger.state.clock }).run(world, real);
            await new Step({ op: 'expire' }).run(world, real);
            drained = true;
          } finally {
            commands += real.trace.length - 1;
            if (!drained) {
              await db().setNow(new Date(DRAIN));
              await call(db(), 'expire_reservations', {}).catch(() => undefined);
            }
          }
        },
      ),
      { seed, path, numRuns, verbose: 1, endOnFailure: false },
    );
    await db().setNow(null);
    const seconds = (performance.now() - started) / 1000;
    const outcomes = [...tally].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k}=${n}`).join(' ');
    console.log(`[ledger model] ${db().kind}: ${numRuns} runs, ${commands} commands in ${seconds.toFixed(1)} s\n  ${outcomes}`);
  });
});
