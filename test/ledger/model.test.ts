/**
 * Model-based run of the ledger: fast-check generates random command sequences (deduct, reserve,
 * commit, release, sweep, clock jumps across periods and expiries, top-ups, adjustments, plan
 * changes, member quotas, checks, retries with the same or another idempotency key; grants with
 * sources, priorities, starts and expiries, clawbacks by id or key, the grants sweep, clock jumps to
 * around a grant's expiry) and runs each
 * against the SQL ledger and the reference model in test/ledger-model.ts. After every command the
 * result or error name, every bucket (balances, period, number of ledger entries), every
 * reservation, every grant (remaining, status, expired, forfeited, clawed back, shortfall…), each
 * bucket's grants_due_at, the member counters and the number of stored idempotency keys must equal the
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
import { call, createOrg, expectReconciled, ledgerError, type LedgerFunction } from '../ledger.ts';
import { runCount } from '../long-runs.ts';
import {
  COST,
  DEFAULT_GRANT,
  LedgerModel,
  MEMBERS,
  PLAN_IDS,
  PLANS,
  periodAt,
  TOKEN_TYPES,
  type Actor,
  type GrantOptions,
  type KnownDiscrepancy,
  type Outcome,
  type Person,
  type PlanId,
  type TokenType,
} from '../ledger-model.ts';
import { type Grant, GRANT_SOURCES, type GrantSource } from '../ledger-model-grants.ts';

/* ─────────────────────────── commands as data ─────────────────────────── */

type KeySpec = { fresh: true } | { shared: number };
type Keyed =
  | { op: 'deduct'; user: Person; type: TokenType; units: number; key: string }
  | { op: 'reserve'; user: Person; type: TokenType; estimate: number; ttl: number; key: string }
  | ({ op: 'grant'; actor: Actor; type: TokenType; amount: number; key: string } & GrantOptions)
  | { op: 'adjust'; actor: Actor; type: TokenType; amount: number; key: string }
  /** `grant`: the model's index of the grant (null: one that does not exist), named by its id or its key. */
  | { op: 'clawback'; actor: Actor; grant: number | null; byKey: boolean; amount: number | null; key: string };
/** A call with everything resolved against the current state (key, reservation index). */
type Call =
  | Keyed
  | { op: 'commit'; user: Person; index: number | null; actual: number }
  | { op: 'release'; user: Person; index: number | null }
  | { op: 'expire' }
  | { op: 'expireGrants' }
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
  /**
   * Start (null: now) in ms from now; expiry: null never, ms after the start (≤ 0 is invalid), or at
   * midnight UTC `days` after the start (so that grants share an expiry and priority and age decide).
   */
  | {
      op: 'grant'; actor: Actor; type: TokenType; amount: number; key: KeySpec; source: GrantSource;
      startsIn: number | null; lasts: number | { days: number } | null; priority: number;
    }
  | (Omit<Extract<Keyed, { op: 'adjust' }>, 'key'> & { key: KeySpec })
  | { op: 'clawback'; actor: Actor; pick: { any: number } | 'unknown'; byKey: boolean; amount: number | null; key: KeySpec }
  | { op: 'commit'; user: Person | 'holder'; pick: Pick; actual: number }
  | { op: 'release'; user: Person | 'holder'; pick: Pick }
  | { op: 'retry'; pick: number; change: 'none' | 'person' | 'amount' | 'type' | 'operation' }
  /** Jump to `minutes` before the end of the current period, so a reservation can outlive it. */
  | { op: 'toBoundary'; minutes: number }
  /** Jump to `minutes` around the expiry of the n-th grant that has one, so holds and charges cross it. */
  | { op: 'toExpiry'; pick: number; minutes: number }
  | Extract<Call, { op: 'expire' | 'expireGrants' | 'advance' | 'setPlan' | 'quota' | 'check' }>;

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
  /** SQL grant ids in creation order (the model's grant indexes), read after every step. */
  grantIds: string[];
  trace: string[];
  /** `op → outcome` counts over the whole property, printed at the end (coverage at a glance). */
  tally: Map<string, number>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * 60 * MINUTE;
/** Where every run ends: later than any clock a run reaches (40 steps of at most 40 days from 2028). */
const DRAIN = Date.parse('2100-01-01T00:00:00Z');
const ANCHORS = ['2028-01-31T10:00:00Z', '2028-01-30T23:30:00Z', '2027-12-31T00:00:00Z', '2028-02-29T12:00:00Z', '2028-03-15T08:00:00Z'];

/**
 * Rules the SQL is known to break (reported, with focused tests below): a run that reaches one is
 * left out (fc.pre) and counted as `known:<name>` in the tally. Empty this when the SQL is fixed.
 */
const KNOWN_DISCREPANCIES = new Set<KnownDiscrepancy>();

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
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('grant' as const),
      actor,
      type,
      // Small grants often, so that one charge or hold spans several of them.
      amount: fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 30 }) }),
      key: keySpec,
      source: fc.constantFrom<GrantSource>(...GRANT_SOURCES),
      startsIn: fc.oneof(
        { weight: 6, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.integer({ min: -3 * DAY, max: 0 }) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 180 }).map((m) => m * MINUTE) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).map((d) => d * DAY) },
      ),
      lasts: fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 240 }).map((m) => m * MINUTE) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 72 }).map((h) => h * HOUR) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 40 }).map((d) => d * DAY) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }).map((days) => ({ days })) },
        { weight: 1, arbitrary: fc.integer({ min: -60, max: 0 }).map((m) => m * MINUTE) },
      ),
      priority: fc.oneof(fc.constantFrom(0, 50, 50, 100), fc.integer({ min: 0, max: 100 })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('clawback' as const),
      actor,
      pick: fc.oneof({ weight: 12, arbitrary: fc.nat().map((any) => ({ any })) }, { weight: 1, arbitrary: fc.constant('unknown' as const) }),
      byKey: fc.boolean(),
      amount: fc.option(fc.integer({ min: 1, max: 60 }), { freq: 3 }),
      key: keySpec,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expireGrants' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('toExpiry' as const), pick: fc.nat(), minutes: fc.integer({ min: -30, max: 30 }) }) },
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
  if (prev.op === 'clawback') {
    switch (change) {
      case 'none':
        return prev;
      case 'person':
        return { ...prev, actor: nextActor(prev.actor) };
      case 'amount':
        return { ...prev, amount: (prev.amount ?? 0) + 1 };
      case 'type': // another grant (or one that does not exist)
        return { ...prev, grant: prev.grant === null ? 0 : prev.grant + 1 };
      case 'operation':
        return { op: 'grant', actor: prev.actor, type: 'goal_generation', amount: prev.amount ?? 1, key: prev.key, ...DEFAULT_GRANT };
    }
  }
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
      return { op: 'grant', actor: prev.actor, type: prev.type, amount: Math.abs(prev.amount), key: prev.key, ...DEFAULT_GRANT };
  }
}

function resolve(world: World, spec: Spec): Call {
  const n = world.ledger.state.reservations.length;
  switch (spec.op) {
    case 'deduct':
    case 'reserve':
    case 'adjust':
      return { ...spec, key: keyOf(world, spec.key) } as Keyed;
    case 'grant': {
      const { startsIn, lasts, key, ...rest } = spec;
      const { clock } = world.ledger.state;
      const effectiveAt = startsIn === null ? null : clock + startsIn;
      const start = Math.max(clock, effectiveAt ?? clock);
      const expiresAt = lasts === null ? null : typeof lasts === 'number' ? start + lasts : (Math.floor(start / DAY) + lasts.days) * DAY;
      return { ...rest, key: keyOf(world, key), effectiveAt, expiresAt };
    }
    case 'clawback': {
      const { pick: p, key, ...rest } = spec;
      const count = world.ledger.state.grants.length;
      return { ...rest, key: keyOf(world, key), grant: p === 'unknown' || count === 0 ? null : p.any % count };
    }
    case 'toExpiry': {
      const { clock, grants } = world.ledger.state;
      const expiries = grants.filter((g) => g.expiresAt !== null).map((g) => g.expiresAt!);
      const target = expiries.length === 0 ? clock : expiries[spec.pick % expiries.length]! + spec.minutes * MINUTE;
      return { op: 'advance', ms: target > clock ? target - clock : MINUTE };
    }
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
      return m.grant(c.actor, c.type, c.amount, c.key, { source: c.source, expiresAt: c.expiresAt, effectiveAt: c.effectiveAt, priority: c.priority });
    case 'clawback':
      return m.clawback(c.actor, c.grant, c.amount, c.key);
    case 'expireGrants':
      return m.expireGrants();
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

function sqlArgs(real: Real, world: World, c: Call): [LedgerFunction, Record<string, unknown>] | null {
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
      return ['grant_tokens', {
        p_org_id: org, p_actor_id: aid(c.actor), p_token_type: c.type, p_amount: c.amount, p_idempotency_key: c.key, p_source: c.source,
        p_expires_at: iso(c.expiresAt), p_effective_at: iso(c.effectiveAt), p_priority: c.priority,
      }];
    case 'clawback': {
      const g = c.grant === null ? undefined : world.ledger.state.grants[c.grant];
      const ref = c.byKey ? { p_grant_id: null, p_grant_key: g?.key ?? 'no-such-grant' } : { p_grant_id: (g && real.grantIds[g.index]) ?? randomUUID(), p_grant_key: null };
      return ['clawback_grant', { p_org_id: org, p_actor_id: aid(c.actor), ...ref, p_amount: c.amount, p_idempotency_key: c.key, p_reason: 'model run' }];
    }
    case 'expireGrants':
      return ['expire_grants', {}];
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

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const ms = (t: string | null) => (t === null ? null : Date.parse(t));
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
      return {
        ...pickFields(v, ['granted', 'source', 'priority', 'replayed']),
        expiresAt: side === 'model' ? v.expiresAt : ms(v.expiresAt),
        effectiveAt: side === 'model' ? v.effectiveAt : ms(v.effectiveAt),
        scheduled: side === 'model' ? v.scheduled : v.ledgerId === null,
        grant: side === 'model' ? v.grant : real.grantIds.indexOf(v.grantId),
      };
    case 'clawback':
      return {
        ...pickFields(v, ['requested', 'clawedBack', 'shortfall', 'revoked', 'replayed']),
        grant: side === 'model' ? v.grant : real.grantIds.indexOf(v.grantId),
      };
    case 'expireGrants':
      return pickFields(v, ['grants', 'buckets']);
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
    'grantsDueAt', coalesce((select jsonb_object_agg(b.token_type_id, (extract(epoch from b.grants_due_at) * 1000)::bigint)
      from tokengate.buckets b where b.org_id = $1 and b.token_type_id in ('goal_generation', 'quest_generation')), '{}'),
    'grantIds', coalesce((select jsonb_agg(g.id order by g.seq) from tokengate.grants g where g.org_id = $1), '[]'),
    'grants', coalesce((select jsonb_agg(jsonb_build_object(
        'type', g.token_type_id, 'source', g.source, 'amount', g.amount, 'remaining', g.remaining, 'priority', g.priority,
        'effectiveAt', (extract(epoch from g.effective_at) * 1000)::bigint, 'expiresAt', (extract(epoch from g.expires_at) * 1000)::bigint,
        'status', g.status, 'expired', g.expired, 'forfeited', g.forfeited, 'clawedBack', g.clawed_back,
        'clawbackShortfall', g.clawback_shortfall, 'key', g.idempotency_key) order by g.seq)
      from tokengate.grants g where g.org_id = $1), '[]'),
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
  const grants = s.grants.map(({ index: _, ...g }) => g);
  const grantsDueAt = Object.fromEntries(Object.keys(s.buckets).map((t) => [t, s.grantsDueAt[t as keyof typeof s.grantsDueAt] ?? null]));
  return { buckets, reservations, memberUsage, keys: Object.keys(s.keys).length, grants, grantsDueAt, negative: 0, problems: [] };
}

/* ─────────────────────────── one command ─────────────────────────── */

class Step implements fc.AsyncCommand<World, Real> {
  constructor(readonly spec: Spec) {}

  check(world: Readonly<World>): boolean {
    if (this.spec.op === 'retry') return world.keyed.length > 0;
    if ((this.spec.op === 'commit' || this.spec.op === 'release') && this.spec.pick !== 'unknown') {
      return world.ledger.state.reservations.length > 0;
    }
    if (this.spec.op === 'clawback' && this.spec.pick !== 'unknown') return world.ledger.state.grants.length > 0;
    return true;
  }

  async run(world: World, real: Real): Promise<void> {
    const c = resolve(world, this.spec);
    if ('key' in c) world.keyed.push(c);
    const grantsBefore = structuredClone(world.ledger.state.grants);
    const expected = runModel(world.ledger, c);
    const known = world.ledger.discrepancy;
    if (known) {
      // The SQL is known to break a rule here (see KNOWN_DISCREPANCIES): leave this run out.
      real.tally.set(`known:${known}`, (real.tally.get(`known:${known}`) ?? 0) + 1);
      fc.pre(!KNOWN_DISCREPANCIES.has(known));
    }
    expect(world.ledger.invariants(), `the model's own invariants after ${label(c)}`).toEqual([]);
    const args = sqlArgs(real, world, c);

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

    // The snapshot first: it names the grants a result refers to.
    const [row] = await real.db.query<{ snap: any }>(SNAPSHOT, [real.orgId]);
    const snap = row!.snap;
    real.grantIds = snap.grantIds;

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
    for (const event of grantEvents(grantsBefore, model.grants)) count(`grants:${event}`);
    const context = `after steps (clock, model's expectation):\n  ${real.trace.join('\n  ')}\n`;

    expect(got, `${context}result of the last step`).toEqual(want);
    const exp = expectedSnapshot(world, real);
    expect(snap.problems, `${context}verify_ledger`).toEqual([]);
    expect(snap.negative, `${context}negative balances`).toBe(0);
    expect(snap.buckets, `${context}buckets`).toEqual(exp.buckets);
    expect(snap.reservations, `${context}reservations`).toEqual(exp.reservations);
    expect(snap.memberUsage, `${context}member usage`).toEqual(exp.memberUsage);
    expect(snap.keys, `${context}idempotency keys stored`).toBe(exp.keys);
    expect(snap.grants, `${context}grants`).toEqual(exp.grants);
    expect(snap.grantsDueAt, `${context}buckets' grants_due_at`).toEqual(exp.grantsDueAt);
  }

  toString(): string {
    return JSON.stringify(this.spec);
  }
}

/** What a step did to grants, for the tally (coverage of the grant rules at a glance). */
function grantEvents(before: Grant[], after: Grant[]): string[] {
  const events = new Set<string>();
  const was = (g: Grant) => before[g.index];
  const fell = after.filter((g) => was(g)?.status === 'active' && g.remaining < was(g)!.remaining && g.clawedBack === was(g)!.clawedBack && g.status === 'active');
  if (fell.length > 1) events.add('tookFromSeveral');
  if (fell.some((g) => after.some((o) => o !== g && o.type === g.type && o.expiresAt === g.expiresAt && o.status === 'active' && o.remaining > 0))) {
    events.add('tookAtTiedExpiry');
  }
  for (const g of after) {
    const b = was(g);
    if (b?.status === 'active' && g.remaining > b.remaining) events.add('gotBack');
    if (b && g.forfeited > b.forfeited) events.add(`forfeitedTo_${g.status}`);
    if (b?.status === 'scheduled' && g.status !== 'scheduled') events.add('activated');
    if (b?.status === 'active' && g.status === 'expired') events.add(g.expired > 0 ? 'expiredWithLeft' : 'expiredSpent');
    if (b && g.clawbackShortfall > b.clawbackShortfall) events.add(`clawbackShortfall_${b.status}`);
    if (b && g.clawedBack > b.clawedBack) events.add(`clawedBack_${b.status}`);
    if (b && b.status !== 'revoked' && g.status === 'revoked') events.add(`revoked_${b.status}`);
  }
  return [...events];
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

  /*
   * Regressions the model found in clawback_grant (fixed in the grants migration). KNOWN_DISCREPANCIES
   * names any rule the SQL is known to break while a fix is pending (none now): a random run that
   * reaches one is left out and tallied, and a focused `it.fails` test stands for it.
   */
  async function spentGoalOrg() {
    await db().setNow('2028-01-10T12:00:00Z');
    const org = await createOrg(db(), { plan: 'pro', anchor: '2028-01-01T00:00:00Z' });
    await call(db(), 'adjust', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: -20, p_reason: 'spend the allowance', p_idempotency_key: 'spend' });
    return org;
  }
  const clawback = (orgId: string, grantKey: string, amount: number | null, key: string) =>
    call(db(), 'clawback_grant', { p_org_id: orgId, p_actor_id: null, p_grant_id: null, p_grant_key: grantKey, p_amount: amount, p_idempotency_key: key, p_reason: 'refund' });
  const grantRow = async (orgId: string) =>
    (await db().query<any>(`select amount::int, remaining::int, status, clawed_back::int, clawback_shortfall::int from tokengate.grants where org_id = $1`, [orgId]))[0];

  // clawback-revokes-with-tokens-left: a clawback that "covers" the grant (earlier clawbacks and
  // their shortfall + this one ≥ its amount) revokes it even when a hold gave tokens back since, so
  // tokens are left: the grants' check (revoked ⇒ remaining = 0) fails and the call raises a raw
  // check_violation (23514, an HTTP 500) instead of answering.
  it('a clawback after a shortfall, once a hold gave the tokens back, answers and keeps the grant consistent', async () => {
    const org = await spentGoalOrg();
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 100, p_idempotency_key: 'g1' });
    const hold = await call(db(), 'reserve', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: 'r1', p_estimate: 100, p_ttl_seconds: 600 });
    expect(await clawback(org.orgId, 'g1', 50, 'c1')).toMatchObject({ clawedBack: 0, shortfall: 50, revoked: false });
    await call(db(), 'release', { p_org_id: org.orgId, p_user_id: org.owner, p_reservation_id: hold.reservationId });
    const second = await clawback(org.orgId, 'g1', 60, 'c2').catch((error) => ({ error: ledgerError(error) }));
    await db().setNow(null);
    expect(second).not.toHaveProperty('error');
    const g = await grantRow(org.orgId);
    expect(g.remaining).toBe(100 - g.clawed_back);
    if (g.status === 'revoked') expect(g.remaining).toBe(0);
    await expectReconciled(db(), org.orgId);
  });

  // scheduled-clawback-counts-twice: a clawback of a scheduled grant shrinks its amount and adds
  // to clawed_back; the next one takes from amount − clawed_back, counting the first twice. Grant
  // 100 (future), clawback 30 (amount 70), clawback 40 → revoked: the 30 still owed are never granted.
  it('a second clawback of a scheduled grant takes from what is still to be granted', async () => {
    const org = await spentGoalOrg();
    await call(db(), 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 100, p_idempotency_key: 's1', p_effective_at: '2028-01-12T00:00:00Z' });
    expect(await clawback(org.orgId, 's1', 30, 'c1')).toMatchObject({ clawedBack: 30, shortfall: 0, revoked: false });
    const second = await clawback(org.orgId, 's1', 40, 'c2');
    await db().setNow('2028-01-12T00:00:00Z');
    await call(db(), 'expire_grants', {});
    const g = await grantRow(org.orgId);
    await db().setNow(null);
    expect(second).toMatchObject({ clawedBack: 40, shortfall: 0, revoked: false });
    expect(g).toMatchObject({ amount: 30, remaining: 30, status: 'active', clawed_back: 70 });
    await expectReconciled(db(), org.orgId);
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
    await call(db(), 'expire_grants', { p_limit: 100000 });
    let commands = 0;
    const tally = new Map<string, number>();
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          plan: fc.constantFrom<PlanId>('pro', 'pro', 'pro', 'pro', 'pro', 'enterprise', 'starter'),
          anchor: fc.constantFrom(...ANCHORS),
          startOffset: fc.integer({ min: -5 * 24 * 60, max: 35 * 24 * 60 }).map((m) => m * MINUTE),
          // Start with this period's allowance spent, so that charges and holds reach the grants at once.
          spent: fc.boolean(),
        }),
        fc.commands([spec.map((s) => new Step(s))], { maxCommands: 40, size: 'max', replayPath }),
        async (setup, steps) => {
          const anchor = Date.parse(setup.anchor);
          const clock = anchor + setup.startOffset;
          await db().setNow(new Date(clock));
          const org = await createOrg(db(), { plan: setup.plan, anchor: setup.anchor, members: 1 });
          const users = { owner: org.owner, admin: org.admin, member: org.members[0]!, outsider: randomUUID() };
          const real: Real = { db: db(), orgId: org.orgId, users, reservationIds: [], grantIds: [], tally, trace: [`start ${new Date(clock).toISOString()} plan ${setup.plan} anchor ${setup.anchor}`] };
          const world: World = { ledger: new LedgerModel({ plan: setup.plan, anchor, clock }), keyCounter: 0, keyed: [] };
          let drained = false;
          try {
            for (const t of setup.spent ? TOKEN_TYPES : []) {
              const allowance = PLANS[setup.plan].allowance[t];
              if (allowance > 0) await new Step({ op: 'adjust', actor: null, type: t, amount: -allowance, key: { fresh: true } }).run(world, real);
            }
            await fc.asyncModelRun(() => ({ model: world, real }), steps);
            // Last, far in the future: the sweep expires whatever is still pending and all still agrees.
            // It also keeps runs independent: the sweep is global, and the next run must see only its own organization.
            await new Step({ op: 'advance', ms: DRAIN - world.ledger.state.clock }).run(world, real);
            await new Step({ op: 'expire' }).run(world, real);
            await new Step({ op: 'expireGrants' }).run(world, real);
            drained = true;
          } finally {
            commands += real.trace.length - 1;
            if (!drained) {
              await db().setNow(new Date(DRAIN));
              await call(db(), 'expire_reservations', {}).catch(() => undefined);
              await call(db(), 'expire_grants', { p_limit: 100000 }).catch(() => undefined);
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
