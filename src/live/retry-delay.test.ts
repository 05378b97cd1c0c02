import { expect, it } from 'vitest';
import { defaultRetryDelay } from './retry-delay.ts';

it('backs off exponentially from 500 ms to 30 s with equal jitter, on top of the server minimum', () => {
  const low = () => 0;
  const high = () => 1;
  expect([0, 1, 2, 3, 4, 5, 6, 7, 30].map((a) => defaultRetryDelay(a, null, low))).toEqual([250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  expect([0, 1, 6, 30].map((a) => defaultRetryDelay(a, null, high))).toEqual([500, 1000, 30000, 30000]);
  // The server's minimum (retry:, Retry-After) is honoured, the jitter comes on top of it.
  expect(defaultRetryDelay(0, 5000, low)).toBe(5250);
  expect(defaultRetryDelay(2, 5000, high)).toBe(7000);
  // Real jitter spreads clients out.
  expect(new Set(Array.from({ length: 20 }, () => defaultRetryDelay(4, null))).size).toBeGreaterThan(1);
});
