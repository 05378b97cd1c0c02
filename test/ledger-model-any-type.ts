/**
 * A small reference model of any-type grants (token type '*'), written from the spec — the header
 * comment of migrations/20261209000001_tokengate_any_type_grants.sql and README "Any-type grants" —
 * not from the SQL bodies. test/ledger/any-type-model.test.ts drives it beside the real SQL.
 *
 * Scope: one Pro organization within one period (no refresh), no quotas, fresh idempotency keys.
 *  - What a type T can spend: its allowance, then its own grants and the any-type grants in ONE
 *    burn order: soonest expiry (never last), priority (0 first), creation order. An any-type
 *    grant's slot holds its part for T (tokens already moved into T's child grant) first, then its
 *    pool remainder.
 *  - `available` of T = allowance remaining + purchased (T's own grants and parts) + shared (the pool).
 *  - A hold gives back (release, commit under the estimate, expiry) latest in the burn order first;
 *    for an any-type grant into T's part; a grant that expired (clock ≥ expiry) or was revoked
 *    forfeits it. Held allowance comes back to the allowance (same period).
 *  - A commit over the estimate charges the excess from what is available (allowance, then the burn
 *    order), the rest is `uncharged`.
 *  - Time: a grant is in the pool from its start until its expiry (lazy work is the SQL's business:
 *    every answer must be as if it were done); a pending hold past its expiry is given back.
 *  - clawback_grant of an any-type grant: gather every type's unspent part back to the pool, then
 *    take up to `amount` (null: all), never below zero (the rest is the shortfall); it revokes the
 *    grant (and its parts) when `amount` is null or the clawbacks cover its whole amount.
 */

export const ANY = '*';
/** Costs per unit of the seeded token types (all active types; the run charges the first three). */
export const TYPE_COST = { lead_generation: 2, quest_generation: 3, goal_generation: 1, revenue_forecast: 5, strategy_analysis: 10 } as const;
export type TypeId = keyof typeof TYPE_COST;
/** The types a run charges. */
export const CHARGED_TYPES: TypeId[] = ['lead_generation', 'quest_generation', 'goal_generation'];
/** Pro's monthly allowance per type (seeded plan_allowances). */
export const PRO_ALLOWANCE: Record<TypeId, number> = { lead_generation: 100, quest_generation: 60, goal_generation: 20, revenue_forecast: 50, strategy_analysis: 100 };

export interface AnyGrant {
  /** Creation order (SQL seq order among this org's top-level grants). */
  index: number;
  type: TypeId | typeof ANY;
  amount: number;
  /** Own grant: what is left. Any-type grant: what is left in the pool. */
  remaining: number;
  /** Any-type grant only: what each type's part (child grant) has left. */
  parts: Partial<Record<TypeId, number>>;
  priority: number;
  start: number;
  expiresAt: number | null;
  status: 'scheduled' | 'active' | 'expired' | 'revoked';
  clawedBack: number;
  shortfall: number;
}

export interface Hold {
  index: number;
  type: TypeId;
  estimate: number;
  heldAllowance: number;
  heldPurchased: number;
  /** grant index → tokens taken and not given back (for an any-type grant: from T's part). */
  taken: Record<number, number>;
  expiresAt: number;
  status: 'pending' | 'committed' | 'released' | 'expired';
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

/** One type's balance as `balances` answers it. */
export interface TypeBalance {
  allowanceRemaining: number;
  purchased: number;
  shared: number;
  held: number;
  available: number;
}

const order = (a: AnyGrant, b: AnyGrant) =>
  (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) || a.priority - b.priority || a.index - b.index;

/**
 * The model. Every method first brings time up to the clock (settle), then acts.
 *
 * @example
 * const m = new AnyTypeModel(Date.parse('2028-01-10T12:00:00Z'), { goal_generation: 3 });
 * m.grant('*', 20, { expiresAt: null, priority: 50, start: null });
 * m.deduct('lead_generation', 2); // { ok: true, value: { charged: 4 } }
 */
export class AnyTypeModel {
  grants: AnyGrant[] = [];
  holds: Hold[] = [];
  allowance: Record<TypeId, number>;

  constructor(public clock: number, allowanceLeft: Partial<Record<TypeId, number>>) {
    this.allowance = { ...PRO_ALLOWANCE, ...allowanceLeft };
  }

  /** A grant is usable at the clock: active (started) and not past its expiry. */
  private live(g: AnyGrant): boolean {
    return g.status === 'active' && (g.expiresAt === null || g.expiresAt > this.clock);
  }

  /** Starts, hold expiries (given back at this clock), grant expiries. */
  settle(): void {
    for (const g of this.grants) {
      if (g.status === 'scheduled' && g.start <= this.clock) {
        g.status = 'active';
        g.remaining = g.amount;
      }
    }
    for (const h of this.holds) {
      if (h.status === 'pending' && h.expiresAt <= this.clock) {
        this.giveBack(h, h.heldPurchased);
        this.allowance[h.type] += h.heldAllowance;
        h.status = 'expired';
      }
    }
    for (const g of this.grants) {
      if (g.status === 'active' && g.expiresAt !== null && g.expiresAt <= this.clock) {
        g.status = 'expired';
        g.remaining = 0;
        g.parts = Object.fromEntries(Object.keys(g.parts).map((t) => [t, 0]));
      }
    }
  }

  advance(ms: number): void {
    this.clock += ms;
    this.settle();
  }

  /** The pool: what is left of the live any-type grants. */
  shared(): number {
    return this.grants.filter((g) => g.type === ANY && this.live(g)).reduce((n, g) => n + g.remaining, 0);
  }

  /** T's own grants and its parts of any-type grants. */
  purchased(t: TypeId): number {
    let n = 0;
    for (const g of this.grants) {
      if (!this.live(g)) continue;
      if (g.type === t) n += g.remaining;
      else if (g.type === ANY) n += g.parts[t] ?? 0;
    }
    return n;
  }

  balance(t: TypeId): TypeBalance {
    this.settle();
    const held = this.holds.filter((h) => h.type === t && h.status === 'pending').reduce((n, h) => n + h.heldAllowance + h.heldPurchased, 0);
    const purchased = this.purchased(t);
    const shared = this.shared();
    return { allowanceRemaining: this.allowance[t], purchased, shared, held, available: this.allowance[t] + purchased + shared };
  }

  private available(t: TypeId): number {
    return this.allowance[t] + this.purchased(t) + this.shared();
  }

  /** Take `n` for type t from its grants and the any-type grants in the one burn order. */
  private walk(t: TypeId, n: number): Record<number, number> {
    const taken: Record<number, number> = {};
    let left = n;
    for (const g of this.grants.filter((x) => this.live(x) && (x.type === t || x.type === ANY)).sort(order)) {
      if (left === 0) break;
      let got = 0;
      if (g.type === ANY && g.parts[t] !== undefined) {
        got = Math.min(left, g.parts[t]!);
        g.parts[t]! -= got;
      }
      const fromOwn = Math.min(left - got, g.remaining);
      g.remaining -= fromOwn;
      got += fromOwn;
      // What the pool pays moves into T's part (its child grant, made on the first move) and is taken there.
      if (g.type === ANY && fromOwn > 0) g.parts[t] ??= 0;
      if (got > 0) taken[g.index] = got;
      left -= got;
    }
    if (left > 0) throw new Error(`model: type ${t} is ${left} short of what it counted as available`);
    return taken;
  }

  /** Give back `n` of what hold h took, latest in the burn order first; forfeited to dead grants. */
  private giveBack(h: Hold, n: number): void {
    let left = n;
    const from = Object.keys(h.taken).map((i) => this.grants[Number(i)]!).filter((g) => h.taken[g.index]! > 0).sort((a, b) => order(b, a));
    for (const g of from) {
      if (left === 0) break;
      const k = Math.min(left, h.taken[g.index]!);
      h.taken[g.index]! -= k;
      left -= k;
      if (!this.live(g)) continue; // forfeited
      if (g.type === ANY) g.parts[h.type] = (g.parts[h.type] ?? 0) + k;
      else g.remaining += k;
    }
    if (left > 0) throw new Error(`model: hold ${h.index} gives back ${left} more than it took from grants`);
  }

  grant(type: TypeId | typeof ANY, amount: number, opts: { expiresAt: number | null; priority: number; start: number | null }): Result<{ index: number }> {
    this.settle();
    const start = opts.start ?? this.clock;
    const g: AnyGrant = {
      index: this.grants.length, type, amount, remaining: 0, parts: {}, priority: opts.priority, start, expiresAt: opts.expiresAt,
      status: 'scheduled', clawedBack: 0, shortfall: 0,
    };
    this.grants.push(g);
    this.settle();
    return { ok: true, value: { index: g.index } };
  }

  deduct(t: TypeId, units: number): Result<{ charged: number }> {
    this.settle();
    const cost = units * TYPE_COST[t];
    if (cost > this.available(t)) return { ok: false, error: 'insufficient_tokens' };
    const a = Math.min(cost, this.allowance[t]);
    this.allowance[t] -= a;
    this.walk(t, cost - a);
    return { ok: true, value: { charged: cost } };
  }

  reserve(t: TypeId, estimate: number, ttlSeconds: number): Result<{ held: number; index: number }> {
    this.settle();
    if (estimate > this.available(t)) return { ok: false, error: 'insufficient_tokens' };
    const a = Math.min(estimate, this.allowance[t]);
    this.allowance[t] -= a;
    const taken = this.walk(t, estimate - a);
    const h: Hold = { index: this.holds.length, type: t, estimate, heldAllowance: a, heldPurchased: estimate - a, taken, expiresAt: this.clock + ttlSeconds * 1000, status: 'pending' };
    this.holds.push(h);
    return { ok: true, value: { held: estimate, index: h.index } };
  }

  /** commit (actual) or release (null) of a pending hold. */
  resolve(index: number, actual: number | null): Result<{ charged: number; uncharged: number }> {
    this.settle();
    const h = this.holds[index]!;
    if (h.status !== 'pending') return { ok: false, error: h.status === 'expired' ? 'reservation_expired' : 'reservation_not_pending' };
    const spend = actual ?? 0;
    const fromA = Math.min(spend, h.heldAllowance);
    const fromP = Math.min(spend - fromA, h.heldPurchased);
    const over = spend - fromA - fromP;
    this.allowance[h.type] += h.heldAllowance - fromA;
    this.giveBack(h, h.heldPurchased - fromP);
    let uncharged = 0;
    if (over > 0) {
      const a = Math.min(over, this.allowance[h.type]);
      this.allowance[h.type] -= a;
      const p = Math.min(over - a, this.purchased(h.type) + this.shared());
      this.walk(h.type, p);
      uncharged = over - a - p;
    }
    h.status = actual === null ? 'released' : 'committed';
    return { ok: true, value: { charged: spend - uncharged, uncharged } };
  }

  clawback(index: number, amount: number | null): Result<{ clawedBack: number; shortfall: number; revoked: boolean }> {
    this.settle();
    const g = this.grants[index]!;
    let requested: number;
    let take: number;
    let revoke: boolean;
    if (g.status === 'scheduled') {
      requested = amount ?? g.amount;
      take = Math.min(requested, g.amount);
      revoke = take === g.amount;
      if (!revoke) g.amount -= take;
    } else if (g.status === 'active') {
      // Every type's unspent part goes back to the pool first.
      for (const t of Object.keys(g.parts) as TypeId[]) {
        g.remaining += g.parts[t]!;
        g.parts[t] = 0;
      }
      requested = amount ?? g.remaining;
      revoke = amount === null || g.clawedBack + g.shortfall + requested >= g.amount;
      take = revoke ? g.remaining : Math.min(requested, g.remaining);
      g.remaining -= take;
    } else {
      requested = amount ?? 0;
      take = 0;
      revoke = false;
    }
    const shortfall = Math.max(requested - take, 0);
    g.clawedBack += take;
    g.shortfall += shortfall;
    if (revoke) g.status = 'revoked';
    return { ok: true, value: { clawedBack: take, shortfall, revoked: revoke } };
  }

  /**
   * What each grant has left, as the test reads it from SQL: own grants `{ left }`, any-type grants
   * `{ left, parts }` (pool remainder and each charged type's part; 0 once expired or revoked).
   */
  grantsLeft(): { index: number; type: string; status: string; left: number; parts?: Record<string, number> }[] {
    this.settle();
    return this.grants.map((g) => {
      const base = { index: g.index, type: g.type, status: g.status, left: g.status === 'active' ? g.remaining : 0 };
      if (g.type !== ANY) return base;
      const parts: Record<string, number> = {};
      for (const t of Object.keys(g.parts).sort()) parts[t] = g.status === 'active' ? g.parts[t as TypeId]! : 0;
      return { ...base, parts };
    });
  }
}
