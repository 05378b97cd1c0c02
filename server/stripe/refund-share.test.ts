import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { refundDelta, refundShare } from './refund-share.ts';

describe('refundShare', () => {
  it('takes the refunded fraction of the grant, rounded down, and everything on a full refund', () => {
    expect(refundShare(100, 500, 1000)).toBe(50);
    expect(refundShare(100, 333, 1000)).toBe(33);
    expect(refundShare(3, 999, 1000)).toBe(2);
    expect(refundShare(100, 0, 1000)).toBe(0);
    expect(refundShare(100, 1000, 1000)).toBeNull();
    expect(refundShare(100, 1200, 1000)).toBeNull();
    expect(refundShare(100, 10, 0)).toBeNull();
  });

  it('does not lose precision on large grants and amounts', () => {
    expect(refundShare(1_000_000_000, 99_999_999_999, 100_000_000_000)).toBe(999_999_999);
  });
});

describe('refundDelta', () => {
  it('claws the difference between two cumulative refunds', () => {
    expect(refundDelta(100, 300, 600, 1000)).toBe(30);
    expect(refundDelta(100, 0, 300, 1000)).toBe(30);
    expect(refundDelta(100, 600, 1000, 1000)).toBeNull();
    expect(refundDelta(100, 600, 600, 1000)).toBe(0);
  });

  it('adds up over any sequence of partial refunds to the share of their total (never more than granted)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 10_000_000 }), fc.array(fc.integer({ min: 1, max: 1_000_000 }), { maxLength: 8 }), (granted, paid, parts) => {
        let refunded = 0;
        let clawed = 0;
        for (const part of parts) {
          if (refunded >= paid) break;
          const next = Math.min(paid, refunded + part);
          const delta = refundDelta(granted, refunded, next, paid);
          clawed = delta === null ? granted : clawed + delta;
          refunded = next;
        }
        expect(clawed).toBe(refundShare(granted, refunded, paid) ?? granted);
        expect(clawed).toBeLessThanOrEqual(granted);
      }),
    );
  });
});
