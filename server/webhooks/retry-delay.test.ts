import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, parseRetryAfter, retryDelay } from './retry-delay.ts';

describe('retryDelay', () => {
  const low = () => 0;
  const high = () => 0.999_999;
  const mid = () => 0.5;

  it('doubles from the base with each failed attempt, ±20 %', () => {
    expect([0, 1, 2, 3, 4].map((n) => retryDelay(n, DEFAULT_RETRY, mid))).toEqual([5, 10, 20, 40, 80]);
    expect(retryDelay(0, DEFAULT_RETRY, low)).toBe(4);
    expect(retryDelay(0, DEFAULT_RETRY, high)).toBe(6);
    expect(retryDelay(3, DEFAULT_RETRY, low)).toBe(32);
    expect(retryDelay(3, DEFAULT_RETRY, high)).toBe(48);
  });

  it('never waits longer than maxSeconds, however many attempts failed', () => {
    for (const attempts of [10, 11, 40, 1000]) {
      expect(retryDelay(attempts, DEFAULT_RETRY, high)).toBe(3600);
      expect(retryDelay(attempts, DEFAULT_RETRY, low)).toBe(2880);
    }
  });

  it('spreads alerts that failed together over the window (jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, (_, i) => retryDelay(5, DEFAULT_RETRY, () => i / 50)));
    expect(delays.size).toBeGreaterThan(30);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(128);
      expect(d).toBeLessThanOrEqual(192);
    }
  });

  it("honours the receiver's Retry-After, up to maxSeconds", () => {
    expect(retryDelay(0, DEFAULT_RETRY, mid, 120)).toBe(120);
    expect(retryDelay(0, DEFAULT_RETRY, mid, 1)).toBe(5);
    expect(retryDelay(0, DEFAULT_RETRY, mid, 999_999)).toBe(3600);
  });

  it('is 0 with a zero base (retry on the next drain)', () => {
    expect(retryDelay(7, { ...DEFAULT_RETRY, baseSeconds: 0 }, high)).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, and ignores anything else', () => {
    const now = Date.parse('2028-01-10T12:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30);
    expect(parseRetryAfter('Mon, 10 Jan 2028 12:01:00 GMT', now)).toBe(60);
    expect(parseRetryAfter('Mon, 10 Jan 2028 11:00:00 GMT', now)).toBe(0);
    for (const junk of [null, '', 'soon', '-5', '1.5']) expect(parseRetryAfter(junk, now)).toBeNull();
  });
});
