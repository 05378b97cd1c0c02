import { describe, expect, it } from 'vitest';
import { dateTickIndexes } from './date-tick-indexes.ts';
import { niceTicks } from './nice-ticks.ts';

describe('niceTicks', () => {
  it('steps of 1, 2, 2.5 or 5 × 10ⁿ from 0 to at least the peak', () => {
    expect(niceTicks(40)).toEqual({ ticks: [0, 10, 20, 30, 40], top: 40 });
    expect(niceTicks(41)).toEqual({ ticks: [0, 20, 40, 60], top: 60 });
    expect(niceTicks(7)).toEqual({ ticks: [0, 2, 4, 6, 8], top: 8 });
    expect(niceTicks(90)).toEqual({ ticks: [0, 25, 50, 75, 100], top: 100 });
    expect(niceTicks(3_826_000_000).ticks).toEqual([0, 1e9, 2e9, 3e9, 4e9]);
  });

  it('never a fractional token, and a usable axis for tiny or empty data', () => {
    expect(niceTicks(3)).toEqual({ ticks: [0, 1, 2, 3], top: 3 });
    expect(niceTicks(1)).toEqual({ ticks: [0, 1], top: 1 });
    expect(niceTicks(9).ticks.every(Number.isInteger)).toBe(true);
    expect(niceTicks(0)).toEqual({ ticks: [0, 1], top: 1 });
    expect(niceTicks(Number.NaN)).toEqual({ ticks: [0, 1], top: 1 });
  });

  it('the top tick is never below the peak, and there are 2 to 6 ticks', () => {
    for (let max = 1; max < 5000; max += 37) {
      const { ticks, top } = niceTicks(max);
      expect(top).toBeGreaterThanOrEqual(max);
      expect(ticks.at(-1)).toBe(top);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.length).toBeLessThanOrEqual(6);
    }
  });
});

describe('dateTickIndexes', () => {
  it('at most six labels, evenly spaced, the latest day always among them', () => {
    expect(dateTickIndexes(7)).toEqual([0, 2, 4, 6]);
    expect(dateTickIndexes(3)).toEqual([0, 1, 2]);
    expect(dateTickIndexes(92)).toEqual([11, 27, 43, 59, 75, 91]);
    expect(dateTickIndexes(0)).toEqual([]);
    for (let n = 1; n <= 92; n++) {
      const idx = dateTickIndexes(n);
      expect(idx.length).toBeLessThanOrEqual(6);
      expect(idx.at(-1)).toBe(n - 1);
    }
  });
});
