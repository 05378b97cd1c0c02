import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareGrants, consumeGrants, sortGrants, type ConsumableGrant } from './burn-order.ts';

const NOW = Date.parse('2026-12-10T00:00:00Z');
let n = 0;
function grant(overrides: Partial<ConsumableGrant> = {}): ConsumableGrant & { tokenType: string } {
  n++;
  return {
    grantId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    expiresAt: '2027-01-01T00:00:00+00:00',
    priority: 50,
    createdAt: '2026-12-01T00:00:00+00:00',
    remaining: 10,
    status: 'active',
    tokenType: 'chat',
    ...overrides,
  };
}
const ids = (gs: { grantId: string }[]) => gs.map((g) => g.grantId);

describe('sortGrants: the SQL burn order', () => {
  it('earliest expiry first, never-expiring last', () => {
    const never = grant({ expiresAt: null });
    const late = grant({ expiresAt: '2027-06-01T00:00:00Z' });
    const soon = grant({ expiresAt: '2026-12-20T00:00:00Z' });
    expect(ids(sortGrants([never, late, soon]))).toEqual(ids([soon, late, never]));
  });

  it('same expiry: lower priority number first, whatever the creation order', () => {
    const p50 = grant({ priority: 50, createdAt: '2026-11-01T00:00:00Z' });
    const p0 = grant({ priority: 0, createdAt: '2026-12-05T00:00:00Z' });
    const p100 = grant({ priority: 100, createdAt: '2026-10-01T00:00:00Z' });
    expect(ids(sortGrants([p50, p100, p0]))).toEqual(ids([p0, p50, p100]));
  });

  it('never-expiring grants order among themselves by priority, then creation', () => {
    const a = grant({ expiresAt: null, priority: 10, createdAt: '2026-12-02T00:00:00Z' });
    const b = grant({ expiresAt: null, priority: 10, createdAt: '2026-12-01T00:00:00Z' });
    const c = grant({ expiresAt: null, priority: 5, createdAt: '2026-12-03T00:00:00Z' });
    expect(ids(sortGrants([a, b, c]))).toEqual(ids([c, b, a]));
  });

  it('ties on expiry and priority: older first, to the microsecond (Postgres precision)', () => {
    const later = grant({ createdAt: '2026-12-01T10:00:00.123457+00:00' });
    const earlier = grant({ createdAt: '2026-12-01T10:00:00.123456+00:00' });
    expect(ids(sortGrants([later, earlier]))).toEqual(ids([earlier, later]));
    // Another offset, same instant order.
    const inBerlin = grant({ createdAt: '2026-12-01T11:00:00.5+01:00' });
    const inUtc = grant({ createdAt: '2026-12-01T10:00:00.4+00:00' });
    expect(ids(sortGrants([inBerlin, inUtc]))).toEqual(ids([inUtc, inBerlin]));
  });

  it('full tie (expiry, priority and creation time): the given order is kept, as the server lists them', () => {
    const t = { expiresAt: '2027-01-01T00:00:00Z', priority: 50, createdAt: '2026-12-01T00:00:00.000001Z' };
    const b = grant({ ...t, grantId: 'b0000000-0000-4000-8000-000000000000' });
    const a9 = grant({ ...t, grantId: 'a9000000-0000-4000-8000-000000000000' });
    const f = grant({ ...t, grantId: 'f0000000-0000-4000-8000-000000000000' });
    const first = grant({ ...t, createdAt: '2026-12-01T00:00:00Z' });
    expect(ids(sortGrants([b, f, first, a9]))).toEqual(ids([first, b, f, a9]));
    expect(ids(sortGrants([a9, b, f]))).toEqual(ids([a9, b, f]));
    expect(compareGrants(b, a9)).toBe(0);
  });

  it('without full ties, a total order: sorting any shuffle gives the same list', () => {
    const pool = [
      grant({ expiresAt: null }),
      grant({ expiresAt: null, priority: 0 }),
      grant({ priority: 0 }),
      grant({ createdAt: '2026-11-01T00:00:00Z' }),
      grant({ expiresAt: '2026-12-11T00:00:00Z', priority: 99 }),
      grant(),
    ];
    const expected = ids(sortGrants(pool));
    fc.assert(fc.property(fc.shuffledSubarray(pool, { minLength: pool.length }), (shuffled) => {
      expect(ids(sortGrants(shuffled))).toEqual(expected);
    }));
    // Does not change its argument.
    const copy = [...pool];
    sortGrants(pool);
    expect(pool).toEqual(copy);
  });
});

describe('consumeGrants', () => {
  it('takes each grant to zero in burn order before the next, returning the list in its own order', () => {
    const never = grant({ expiresAt: null, remaining: 100 });
    const soon = grant({ expiresAt: '2026-12-20T00:00:00Z', remaining: 15 });
    const later = grant({ expiresAt: '2027-02-01T00:00:00Z', remaining: 10 });
    const { grants, taken } = consumeGrants([never, later, soon], 30, { now: NOW });
    expect(taken).toEqual([
      { grantId: soon.grantId, amount: 15 },
      { grantId: later.grantId, amount: 10 },
      { grantId: never.grantId, amount: 5 },
    ]);
    expect(grants.map((g) => g.remaining)).toEqual([95, 0, 0]);
    expect(ids(grants)).toEqual(ids([never, later, soon]));
  });

  it('skips grants that are not spendable: scheduled, revoked, empty, expired at now, another type', () => {
    const scheduled = grant({ status: 'scheduled', expiresAt: '2026-12-11T00:00:00Z' });
    const revoked = grant({ status: 'revoked', expiresAt: '2026-12-11T00:00:00Z' });
    const expiredByTime = grant({ expiresAt: '2026-12-09T23:59:59Z' });
    const empty = grant({ remaining: 0, expiresAt: '2026-12-12T00:00:00Z' });
    const otherType = grant({ tokenType: 'image', expiresAt: '2026-12-12T00:00:00Z' });
    const spendable = grant({ remaining: 50 });
    const { grants, taken } = consumeGrants([scheduled, revoked, expiredByTime, empty, otherType, spendable], 7, { now: NOW, tokenType: 'chat' });
    expect(taken).toEqual([{ grantId: spendable.grantId, amount: 7 }]);
    expect(grants.map((g) => g.remaining)).toEqual([10, 10, 10, 0, 10, 43]);
  });

  it('never below zero: asking more than the grants hold takes what is there', () => {
    const a = grant({ remaining: 4 });
    const b = grant({ remaining: 3, expiresAt: null });
    const { grants, taken } = consumeGrants([a, b], 100, { now: NOW });
    expect(taken.reduce((s, t) => s + t.amount, 0)).toBe(7);
    expect(grants.every((g) => g.remaining === 0)).toBe(true);
    expect(consumeGrants([a], 0, { now: NOW }).taken).toEqual([]);
    expect(consumeGrants([a], -5, { now: NOW }).taken).toEqual([]);
  });

  it('conserves tokens: what is taken is exactly what the list lost, never more than asked', () => {
    const arb = fc.array(
      fc.record({
        remaining: fc.integer({ min: 0, max: 50 }),
        priority: fc.integer({ min: 0, max: 3 }),
        expires: fc.option(fc.integer({ min: -3, max: 5 })),
        created: fc.integer({ min: 0, max: 3 }),
      }),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: 200 }), (specs, amount) => {
        const gs = specs.map((s) =>
          grant({
            remaining: s.remaining,
            priority: s.priority,
            expiresAt: s.expires === null ? null : new Date(NOW + s.expires * 86_400_000).toISOString(),
            createdAt: new Date(NOW - s.created * 1000).toISOString(),
          }),
        );
        const { grants, taken } = consumeGrants(gs, amount, { now: NOW });
        const before = gs.reduce((s, g) => s + g.remaining, 0);
        const after = grants.reduce((s, g) => s + g.remaining, 0);
        const took = taken.reduce((s, t) => s + t.amount, 0);
        expect(before - after).toBe(took);
        expect(took).toBeLessThanOrEqual(amount);
        expect(grants.every((g) => g.remaining >= 0)).toBe(true);
        // Only the last grant taken from may keep tokens: every earlier one went to zero.
        for (const t of taken.slice(0, -1)) expect(grants.find((g) => g.grantId === t.grantId)!.remaining).toBe(0);
        // Burn order: the takes follow sortGrants.
        const order = ids(sortGrants(gs));
        const positions = taken.map((t) => order.indexOf(t.grantId));
        expect(positions).toEqual([...positions].sort((x, y) => x - y));
      }),
    );
  });

  it("spends a type's own grants and the any-type grants ('*') in one order; other types' grants are left alone", () => {
    const g = (grantId: string, tokenType: string, expiresAt: string | null) =>
      ({ grantId, tokenType, remaining: 5, priority: 50, expiresAt, createdAt: '2028-01-01T00:00:00.000000Z' });
    const { taken } = consumeGrants([g('own-never', 'chat', null), g('any-soon', '*', '2028-02-01T00:00:00Z'), g('image-soon', 'image', '2028-01-15T00:00:00Z')], 8, {
      tokenType: 'chat', now: Date.parse('2028-01-10T00:00:00Z'),
    });
    expect(taken).toEqual([{ grantId: 'any-soon', amount: 5 }, { grantId: 'own-never', amount: 3 }]);
  });
});
