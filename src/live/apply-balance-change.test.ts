import { describe, expect, it } from 'vitest';
import { balance, enterpriseBalances, lowBalances, proBalances } from '../components/fixtures.ts';
import { applyBalanceChange } from './apply-balance-change.ts';
import type { BalanceChange, Balances } from '../core/types.ts';

// lowBalances: quest_generation 60 of 500 left, used 440, no member quota.
const change = (over: Partial<BalanceChange>): BalanceChange => ({
  orgId: 'org_fixture',
  tokenType: 'quest_generation',
  ledgerId: 10,
  kind: 'deduct',
  available: 55,
  allowanceRemaining: 55,
  purchased: 0,
  held: 0,
  ...over,
});

describe('applyBalanceChange', () => {
  it('patches a charge in place: the figures, `used` by what was consumed, nothing else', () => {
    const { balances, refetch } = applyBalanceChange(lowBalances, change({}));
    expect(refetch).toBe(false);
    expect(balances.tokenTypes[0]).toEqual({ ...lowBalances.tokenTypes[0], allowanceRemaining: 55, available: 55, used: 445 });
    expect({ ...balances, tokenTypes: [] }).toEqual({ ...lowBalances, tokenTypes: [] });
    // Immutable: the cached object is not touched.
    expect(lowBalances.tokenTypes[0]!.available).toBe(60);
  });

  it('a hold moves tokens to `held` without counting them used; its commit counts what was charged', () => {
    const held = applyBalanceChange(lowBalances, change({ kind: 'reserve', allowanceRemaining: 50, available: 50, held: 10 }));
    expect(held.refetch).toBe(false);
    expect(held.balances.tokenTypes[0]).toMatchObject({ allowanceRemaining: 50, held: 10, used: 440, available: 50 });
    // Committed 7 of the 10 held: 3 come back.
    const committed = applyBalanceChange(held.balances, change({ kind: 'commit', ledgerId: 11, allowanceRemaining: 53, available: 53, held: 0 }));
    expect(committed.refetch).toBe(false);
    expect(committed.balances.tokenTypes[0]).toMatchObject({ allowanceRemaining: 53, held: 0, used: 447, available: 53 });
  });

  it('leaves out a spending change older than the cache (one a snapshot already counts), so no charge counts twice', () => {
    // The cache (a snapshot) already counts charges 5 (60 → 55) and 6 (55 → 50): used 450.
    const snapshot: Balances = { ...lowBalances, tokenTypes: [{ ...lowBalances.tokenTypes[0]!, allowanceRemaining: 50, available: 50, used: 450 }] };
    const five = applyBalanceChange(snapshot, change({ ledgerId: 5, available: 55, allowanceRemaining: 55 }));
    expect(five).toEqual({ balances: snapshot, refetch: false });
    const six = applyBalanceChange(five.balances, change({ ledgerId: 6, available: 50, allowanceRemaining: 50 }));
    expect(six.balances.tokenTypes[0]).toMatchObject({ available: 50, used: 450 });
    // A hold, a release or an expiry that counted already is left out the same way (they never raise the total).
    for (const kind of ['reserve', 'release', 'expire'] as BalanceChange['kind'][]) {
      expect(applyBalanceChange(snapshot, change({ kind, allowanceRemaining: 55, available: 55 })).balances, kind).toBe(snapshot);
    }
    // A top-up does raise it: applied.
    expect(applyBalanceChange(snapshot, change({ kind: 'grant', purchased: 10, available: 60, allowanceRemaining: 50 })).balances.tokenTypes[0]!.purchased).toBe(10);
  });

  it('a top-up patches purchased tokens without touching `used`', () => {
    const { balances, refetch } = applyBalanceChange(lowBalances, change({ kind: 'grant', purchased: 100, allowanceRemaining: 60, available: 160 }));
    expect(refetch).toBe(false);
    expect(balances.tokenTypes[0]).toMatchObject({ purchased: 100, available: 160, used: 440 });
  });

  it('keeps an unlimited plan unlimited, and refetches its charges (their figures do not move)', () => {
    const before = enterpriseBalances.tokenTypes[0]!;
    const { balances, refetch } = applyBalanceChange(enterpriseBalances, change({ available: null, allowanceRemaining: 0 }));
    expect(refetch).toBe(true);
    expect(balances.tokenTypes[0]).toMatchObject({ unlimited: true, available: null, used: before.used });
  });

  it('refetches, without patching, a plan that became unlimited or a token type the cache does not show', () => {
    expect(applyBalanceChange(lowBalances, change({ available: null }))).toEqual({ balances: lowBalances, refetch: true });
    expect(applyBalanceChange(lowBalances, change({ tokenType: 'new_type' }))).toEqual({ balances: lowBalances, refetch: true });
  });

  it('patches but also refetches a new period, an adjustment (maybe a plan change) and unknown kinds', () => {
    for (const kind of ['refresh', 'adjust', 'future_kind'] as BalanceChange['kind'][]) {
      const { balances, refetch } = applyBalanceChange(lowBalances, change({ kind, allowanceRemaining: 500, available: 500 }));
      expect(refetch, kind).toBe(true);
      expect(balances.tokenTypes[0]!.available, kind).toBe(500);
    }
  });

  it("refetches a change that may move the caller's member quota (the feed names no member)", () => {
    const withQuota: Balances = proBalances; // quest_generation has a member quota
    expect(applyBalanceChange(withQuota, change({ available: 375, allowanceRemaining: 375 })).refetch).toBe(true);
    const other = change({ tokenType: 'image_generation', available: 160, allowanceRemaining: 160 });
    expect(applyBalanceChange(withQuota, other).refetch).toBe(false);
    expect(applyBalanceChange(withQuota, other).balances.tokenTypes[1]).toEqual({ ...balance({ tokenType: 'image_generation', name: 'Image generation', cost: 10, allowance: 200, allowanceRemaining: 160, used: 40 }) });
  });

  it("adds the any-type pool (`shared`) to a bucket's own figures, and refetches on a change of the pool itself ('*')", () => {
    const pooled: Balances = { ...lowBalances, tokenTypes: lowBalances.tokenTypes.map((b) => ({ ...b, shared: 20, available: b.available === null ? null : b.available + 20 })) };
    const charged = applyBalanceChange(pooled, change({}));
    expect(charged.balances.tokenTypes[0]).toMatchObject({ allowanceRemaining: 55, shared: 20, available: 75 });
    const pool = applyBalanceChange(pooled, change({ tokenType: '*', kind: 'transfer', available: 15, allowanceRemaining: 0, purchased: 15 }));
    expect(pool).toEqual({ balances: pooled, refetch: true });
  });
});
