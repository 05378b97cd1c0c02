/** How a run's Postgres connections are split (test/connection-budget.ts). */
import { describe, expect, it } from 'vitest';
import {
  connectionBudget,
  DEFAULT_MAX_TEST_CONNECTIONS,
  fileParallelism,
  maxTestConnections,
  MIN_FILE_CONNECTIONS,
  SETUP_CONNECTIONS,
} from './connection-budget.ts';

describe('connection budget', () => {
  it('reads TOKENGATE_TEST_MAX_CONNECTIONS, defaulting to 24, and rejects values too small for one file', () => {
    expect(maxTestConnections({})).toBe(DEFAULT_MAX_TEST_CONNECTIONS);
    expect(maxTestConnections({ TOKENGATE_TEST_MAX_CONNECTIONS: '' })).toBe(DEFAULT_MAX_TEST_CONNECTIONS);
    expect(maxTestConnections({ TOKENGATE_TEST_MAX_CONNECTIONS: '60' })).toBe(60);
    for (const bad of ['5', '10', '2.5', 'many', '-1']) {
      expect(() => maxTestConnections({ TOKENGATE_TEST_MAX_CONNECTIONS: bad })).toThrow(/TOKENGATE_TEST_MAX_CONNECTIONS/);
    }
  });

  it('splits the cap between the files that run at once, keeping one for the global setup', () => {
    expect(connectionBudget(24, 2)).toEqual({ max: 24, files: 2, perFile: 11 });
    expect(connectionBudget(24, 1)).toEqual({ max: 24, files: 1, perFile: 23 });
    expect(connectionBudget(90, 2)).toEqual({ max: 90, files: 2, perFile: 44 });
    // Never more than the cap: every file at its share, plus the setup's connection.
    for (const [max, files] of [[24, 2], [31, 3], [100, 7], [11, 1]] as const) {
      const { perFile } = connectionBudget(max, files);
      expect(perFile * files + SETUP_CONNECTIONS).toBeLessThanOrEqual(max);
      expect(perFile).toBeGreaterThanOrEqual(MIN_FILE_CONNECTIONS);
    }
  });

  it('refuses a split that leaves a file less than it needs, saying what to change', () => {
    expect(() => connectionBudget(24, 3)).toThrow(/3 test files at once need 31 Postgres connections.*TOKENGATE_TEST_MAX_CONNECTIONS is 24/);
  });

  it('runs as many files at once as the budget allows (at most the cores to spare, at least 2 when it fits)', () => {
    expect(fileParallelism({ TOKENGATE_TEST_MAX_CONNECTIONS: '11' })).toBe(1);
    expect(fileParallelism({ TOKENGATE_TEST_MAX_CONNECTIONS: '20' })).toBe(1);
    expect(fileParallelism({ TOKENGATE_TEST_MAX_CONNECTIONS: '21' })).toBe(2);
    expect(fileParallelism({})).toBe(2);
    // Whatever it picks, the split it leads to is valid.
    for (const max of ['11', '24', '50', '100']) {
      const files = fileParallelism({ TOKENGATE_TEST_MAX_CONNECTIONS: max });
      expect(() => connectionBudget(Number(max), files)).not.toThrow();
    }
  });
});
