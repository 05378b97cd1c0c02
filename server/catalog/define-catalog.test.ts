import { describe, expect, it } from 'vitest';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { DEFAULT_CATALOG } from './default-catalog.ts';
import { defineCatalog, parseCatalog } from './define-catalog.ts';

/** The error a bad config throws. */
function rejection(config: unknown): TokenGateError {
  try {
    parseCatalog(config);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenGateError);
    return error as TokenGateError;
  }
  throw new Error('expected the catalog to be refused');
}

describe('defineCatalog', () => {
  it('fills in the defaults: description null, sortOrder by position, lowAlertPercent 20, not archived, no allowances', () => {
    expect(
      defineCatalog({
        tokenTypes: [{ id: 'summary', name: 'Summary', cost: 1 }, { id: 'report', name: 'Report', cost: 5, sortOrder: 10, lowAlertPercent: 0, archived: true }],
        plans: [{ id: 'free', name: 'Free', access: 'blocked' }, { id: 'pro', name: 'Pro', access: 'metered', allowances: { report: 50 } }],
      }),
    ).toEqual({
      tokenTypes: [
        { id: 'summary', name: 'Summary', cost: 1, description: null, sortOrder: 1, lowAlertPercent: 20, archived: false },
        { id: 'report', name: 'Report', cost: 5, description: null, sortOrder: 10, lowAlertPercent: 0, archived: true },
      ],
      plans: [
        { id: 'free', name: 'Free', access: 'blocked', description: null, sortOrder: 1, allowances: {} },
        { id: 'pro', name: 'Pro', access: 'metered', description: null, sortOrder: 2, allowances: { report: 50 } },
      ],
    });
  });

  it('accepts its own output unchanged (what the CLI and pushCatalog do with a defined catalog)', () => {
    expect(parseCatalog(DEFAULT_CATALOG)).toEqual(DEFAULT_CATALOG);
    expect(parseCatalog(JSON.parse(JSON.stringify(DEFAULT_CATALOG)))).toEqual(DEFAULT_CATALOG);
  });

  it('refuses bad ids, ranges, duplicates, unknown fields and allowances of undeclared types, naming each field', () => {
    const base = JSON.parse(JSON.stringify(DEFAULT_CATALOG));
    const cases: [(c: any) => void, string, RegExp][] = [
      [(c) => (c.tokenTypes[0].id = 'Goal'), 'tokenTypes.0.id', /lowercase letter/],
      [(c) => (c.tokenTypes[0].id = 'a'.repeat(64)), 'tokenTypes.0.id', /at most 63/],
      [(c) => (c.tokenTypes[1].cost = 0), 'tokenTypes.1.cost', /at least 1/],
      [(c) => (c.tokenTypes[1].cost = 1.5), 'tokenTypes.1.cost', /whole number/],
      [(c) => (c.tokenTypes[1].cost = '3'), 'tokenTypes.1.cost', /number/],
      [(c) => (c.tokenTypes[2].name = ''), 'tokenTypes.2.name', /1 to 100/],
      [(c) => (c.tokenTypes[2].name = 'x\u0000'), 'tokenTypes.2.name', /NUL/],
      [(c) => (c.tokenTypes[3].lowAlertPercent = 101), 'tokenTypes.3.lowAlertPercent', /at most 100/],
      [(c) => (c.tokenTypes[3].costs = 3), 'tokenTypes.3', /costs/],
      [(c) => c.tokenTypes.push({ ...c.tokenTypes[0] }), 'tokenTypes.5.id', /declared twice/],
      [(c) => (c.plans[0].access = 'free'), 'plans.0.access', /blocked, metered or unlimited/],
      [(c) => (c.plans[1].allowance = {}), 'plans.1', /allowance/],
      [(c) => (c.plans[1].allowances.quest_gen = 5), 'plans.1.allowances.quest_gen', /not a token type of this catalog/],
      [(c) => (c.plans[1].allowances.goal_generation = -1), 'plans.1.allowances.goal_generation', /at least 0/],
      [(c) => c.plans.push({ ...c.plans[2] }), 'plans.3.id', /declared twice/],
      [(c) => (c.webhooks = []), '(catalog)', /webhooks/],
    ];
    for (const [edit, path, message] of cases) {
      const config = structuredClone(base);
      edit(config);
      const error = rejection(config);
      expect(error.code, path).toBe('invalid_argument');
      const problem = error.errors?.find((e) => e.path === path);
      expect(problem, `${path} in ${JSON.stringify(error.errors)}`).toBeDefined();
      expect(problem!.message, path).toMatch(message);
      expect(error.message).toContain(path);
    }
  });

  it('is typed: an allowance must name a token type the config declares', () => {
    expect(() =>
      defineCatalog({
        tokenTypes: [{ id: 'summary', name: 'Summary', cost: 1 }],
        // @ts-expect-error 'sumary' is not one of the declared token type ids
        plans: [{ id: 'pro', name: 'Pro', access: 'metered', allowances: { sumary: 5 } }],
      }),
    ).toThrow(TokenGateError);
  });
});
