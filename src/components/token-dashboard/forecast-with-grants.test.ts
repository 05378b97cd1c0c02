import { describe, expect, it } from 'vitest';
import type { Forecast, Grant } from '../../core/types.ts';
import { forecastWithGrants } from './forecast-with-grants.ts';

const NOW = new Date('2026-11-26T12:00:00Z');
const day = (n: number) => new Date(NOW.getTime() + n * 86_400_000).toISOString();
const fc = (overrides: Partial<Forecast> = {}): Forecast => ({
  tokenType: 'chat',
  available: 100,
  burnPerDay: 10,
  runsOutOn: '2026-12-06',
  refreshesOn: '2026-12-20',
  runsOutBeforeRefresh: true,
  ...overrides,
});
let n = 0;
const grant = (overrides: Partial<Grant>): Grant => ({
  grantId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  tokenType: 'chat',
  source: 'purchase',
  amount: 50,
  remaining: 50,
  priority: 50,
  effectiveAt: day(-10),
  expiresAt: null,
  status: 'active',
  expired: 0,
  clawedBack: 0,
  clawbackShortfall: 0,
  forfeited: 0,
  endedAt: null,
  createdAt: day(-10),
  metadata: {},
  ...overrides,
});

describe('forecastWithGrants', () => {
  it('a grant expiring before the spending reaches it does not extend the runway', () => {
    // 50 from the allowance last 5 days; the 30-token promo expires on day 3, unused.
    const promo = grant({ source: 'promo', remaining: 30, expiresAt: day(3) });
    const topUp = grant({ remaining: 20 });
    const out = forecastWithGrants(fc({ available: 100 }), { allowanceRemaining: 50 }, [topUp, promo], NOW);
    expect(out.expiringUnused).toBe(30);
    // 70 usable tokens at 10 a day: 7 days from Nov 26.
    expect(out.runsOutOn).toBe('2026-12-03');
    expect(out.runsOutBeforeRefresh).toBe(true);
  });

  it('a grant reached before it expires is used up to its expiry, the rest is lost', () => {
    // Allowance 20 → 2 days; the grant (40) expires on day 5: 30 usable, 10 lost; then 30 never-expiring.
    const expiring = grant({ remaining: 40, expiresAt: day(5) });
    const never = grant({ remaining: 30 });
    const out = forecastWithGrants(fc({ available: 90 }), { allowanceRemaining: 20 }, [never, expiring], NOW);
    expect(out.expiringUnused).toBe(10);
    expect(out.runsOutOn).toBe('2026-12-04'); // 80 / 10 = 8 days
  });

  it('grants used before they expire, or none at all: the server forecast stands', () => {
    const forecast = fc();
    const early = grant({ remaining: 50, expiresAt: day(30) });
    expect(forecastWithGrants(forecast, { allowanceRemaining: 50 }, [early], NOW)).toEqual({ ...forecast, expiringUnused: 0 });
    expect(forecastWithGrants(forecast, { allowanceRemaining: 50 }, undefined, NOW)).toEqual({ ...forecast, expiringUnused: 0 });
    // Idle (no burn) or unlimited: nothing to correct.
    const soon = grant({ remaining: 50, expiresAt: day(1) });
    expect(forecastWithGrants(fc({ burnPerDay: 0, runsOutOn: null }), { allowanceRemaining: 50 }, [soon], NOW).expiringUnused).toBe(0);
    expect(forecastWithGrants(fc({ available: null }), { allowanceRemaining: 0 }, [soon], NOW).expiringUnused).toBe(0);
  });

  it('only spendable grants of the type count: another type, scheduled, revoked and already expired ones are ignored', () => {
    const others = [
      grant({ tokenType: 'image', remaining: 500, expiresAt: day(1) }),
      grant({ status: 'scheduled', remaining: 500, expiresAt: day(1) }),
      grant({ status: 'revoked', remaining: 500, expiresAt: day(1) }),
      grant({ remaining: 500, expiresAt: day(-1) }),
    ];
    expect(forecastWithGrants(fc(), { allowanceRemaining: 50 }, others, NOW).expiringUnused).toBe(0);
  });

  it('the runway may now end before the refresh where it did not', () => {
    const promo = grant({ remaining: 200, expiresAt: day(2) });
    const forecast = fc({ available: 250, runsOutOn: '2026-12-21', runsOutBeforeRefresh: false });
    const out = forecastWithGrants(forecast, { allowanceRemaining: 50 }, [promo], NOW);
    // The allowance is spent first and lasts 5 days; the promo expires on day 2, while it is: all 200 lost.
    expect(out.runsOutBeforeRefresh).toBe(true);
    expect(out.expiringUnused).toBe(200);
    expect(out.runsOutOn).toBe('2026-12-01');
  });
});
