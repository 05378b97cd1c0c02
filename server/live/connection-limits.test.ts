import { describe, expect, it } from 'vitest';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { createConnectionLimits } from './connection-limits.ts';

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TokenGateError);
    const e = error as TokenGateError;
    expect([e.code, e.status]).toEqual(['too_many_connections', 429]);
    return e.facts;
  }
  throw new Error('expected a refusal');
};

describe('createConnectionLimits', () => {
  it('refuses past the per-user, per-organization and process limits, and frees slots once', () => {
    const limits = createConnectionLimits({ maxConnections: 4, maxPerOrg: 3, maxPerUser: 2, retryAfterSeconds: 7 });
    const u1a = limits.acquire('org-1', 'user-1');
    limits.acquire('ORG-1', 'USER-1'); // case does not make another user or organization
    expect(refusal(() => limits.acquire('org-2', 'user-1'))).toEqual({ limit: 'user', max: 2, retryAfter: 7 });
    limits.acquire('org-1', 'user-2');
    expect(refusal(() => limits.acquire('org-1', 'user-3'))).toEqual({ limit: 'organization', max: 3, retryAfter: 7 });
    limits.acquire('org-2', 'user-3');
    expect(limits.open).toBe(4);
    expect(refusal(() => limits.acquire('org-3', 'user-4'))).toEqual({ limit: 'process', max: 4, retryAfter: 7 });

    u1a();
    u1a(); // a second release frees nothing more
    expect(limits.open).toBe(3);
    const again = limits.acquire('org-3', 'user-4');
    expect(refusal(() => limits.acquire('org-3', 'user-5')).limit).toBe('process');
    again();
    limits.acquire('org-1', 'user-1');
    expect(limits.open).toBe(4);
  });

  it('rejects limits that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => createConnectionLimits({ maxPerUser: bad })).toThrow(/maxPerUser/);
    }
  });
});
