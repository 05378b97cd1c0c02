import { TokenGateError } from '../../src/core/token-gate-error.ts';

/**
 * Options of `createConnectionLimits` (and of `createHandler`'s `events`).
 *
 * @example
 * createHandler({ gate, authenticate, events: { maxConnections: 5000, maxPerOrg: 500, maxPerUser: 3 } });
 */
export interface ConnectionLimitOptions {
  /** Live connections this handler serves at once, all organizations together. Default 1000. */
  maxConnections?: number;
  /** Live connections of one organization at once. Default 100. */
  maxPerOrg?: number;
  /** Live connections of one user at once (tabs, devices), all organizations together. Default 5. */
  maxPerUser?: number;
  /** What a refused client is told to wait before retrying (`Retry-After`), seconds. Default 10. */
  retryAfterSeconds?: number;
}

/**
 * Counts open live connections and refuses one past a limit.
 *
 * @example
 * const release = limits.acquire(orgId, userId);
 */
export interface ConnectionLimits {
  /**
   * Take a slot for a connection of `userId` in `orgId`, or throw `too_many_connections` (429,
   * facts: `limit` — `'user'`, `'organization'` or `'process'` —, `max` and `retryAfter`). Returns
   * the function that gives the slot back (calling it again does nothing).
   */
  acquire(orgId: string, userId: string): () => void;
  /** Connections open now. */
  readonly open: number;
}

/**
 * The live route's connection limits, counted in this process. A slot is taken synchronously, so
 * concurrent requests can never together pass a limit.
 *
 * @example
 * const limits = createConnectionLimits({ maxPerUser: 3 });
 * const release = limits.acquire(orgId, userId); // throws TokenGateError('too_many_connections')
 * try { … } finally { release(); }
 */
export function createConnectionLimits(options: ConnectionLimitOptions = {}): ConnectionLimits {
  const { maxConnections = 1000, maxPerOrg = 100, maxPerUser = 5, retryAfterSeconds = 10 } = options;
  for (const [name, value] of Object.entries({ maxConnections, maxPerOrg, maxPerUser, retryAfterSeconds })) {
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`createHandler: events.${name} must be a positive integer`);
  }
  const byOrg = new Map<string, number>();
  const byUser = new Map<string, number>();
  let open = 0;

  const refuse = (limit: 'user' | 'organization' | 'process', max: number, who: string) =>
    new TokenGateError('too_many_connections', `Too many live connections for this ${who} (at most ${max}). Retry later.`, {
      facts: { limit, max, retryAfter: retryAfterSeconds },
    });
  const bump = (map: Map<string, number>, key: string, by: number) => {
    const n = (map.get(key) ?? 0) + by;
    if (n === 0) map.delete(key);
    else map.set(key, n);
  };

  return {
    acquire(orgId, userId) {
      const org = orgId.toLowerCase();
      const user = userId.toLowerCase();
      if ((byUser.get(user) ?? 0) >= maxPerUser) throw refuse('user', maxPerUser, 'user');
      if ((byOrg.get(org) ?? 0) >= maxPerOrg) throw refuse('organization', maxPerOrg, 'organization');
      if (open >= maxConnections) throw refuse('process', maxConnections, 'server');
      bump(byUser, user, 1);
      bump(byOrg, org, 1);
      open++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        bump(byUser, user, -1);
        bump(byOrg, org, -1);
        open--;
      };
    },
    get open() {
      return open;
    },
  };
}
