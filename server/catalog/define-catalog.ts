import { z } from 'zod';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import type { PlanAccess } from '../../src/core/types.ts';

/** One token type (an AI feature that spends tokens) as declared in a catalog config. */
export interface TokenTypeConfig<Id extends string = string> {
  /** Stable id: a lowercase letter, then lowercase letters, digits or `_` (at most 63). */
  id: Id;
  /** Display name, 1 to 100 characters. */
  name: string;
  /** Tokens one use costs, 1 to 1,000,000. A change applies from each organization's next period (or at once with `--now`). */
  cost: number;
  /** Optional longer text for the dashboard. */
  description?: string | null;
  /** Position in lists (default: its 1-based position in `tokenTypes`). */
  sortOrder?: number;
  /** Send a `low` alert when the allowance left falls below this percentage of it (0 to 100, 0 = never; default 20). */
  lowAlertPercent?: number;
  /**
   * Keep the type (and every balance of it) but stop charging it. A type that has balances cannot
   * be removed from the catalog; archive it instead. Default false.
   */
  archived?: boolean;
}

/** One plan as declared in a catalog config. */
export interface PlanConfig<TokenTypeId extends string = string> {
  /** Stable id, same rule as token type ids. */
  id: string;
  /** Display name, 1 to 100 characters. */
  name: string;
  /** `blocked` (AI off), `metered` (monthly allowances) or `unlimited` (never blocked, usage recorded). */
  access: PlanAccess;
  /** Optional longer text. */
  description?: string | null;
  /** Position in lists (default: its 1-based position in `plans`). */
  sortOrder?: number;
  /**
   * Tokens per period by token type id (metered plans); a type left out gets 0. Changes apply at
   * each organization's next refresh.
   */
  allowances?: Partial<Record<NoInfer<TokenTypeId>, number>>;
}

/** What `defineCatalog` takes: the whole catalog. Anything the database has that is not here is removed by a push. */
export interface CatalogConfig<TokenTypeId extends string = string> {
  tokenTypes: readonly TokenTypeConfig<TokenTypeId>[];
  plans: readonly PlanConfig<TokenTypeId>[];
}

/** A token type with every default filled in. */
export interface CatalogTokenType {
  id: string;
  name: string;
  cost: number;
  description: string | null;
  sortOrder: number;
  lowAlertPercent: number;
  archived: boolean;
}

/** A plan with every default filled in. */
export interface CatalogPlan {
  id: string;
  name: string;
  access: PlanAccess;
  description: string | null;
  sortOrder: number;
  allowances: Record<string, number>;
}

/** A validated catalog with every default filled in: what `pushCatalog` sends and `catalog_history` records. */
export interface Catalog {
  tokenTypes: CatalogTokenType[];
  plans: CatalogPlan[];
}

const ID = /^[a-z][a-z0-9_]{0,62}$/;
const id = (what: string) => z.string().regex(ID, `must be a ${what} id: a lowercase letter, then lowercase letters, digits or _ (at most 63)`);
const text = (max: number, min = 0) =>
  z.string().superRefine((value, ctx) => {
    const length = [...value].length;
    if (value.includes('\u0000')) ctx.addIssue({ code: 'custom', message: 'must not contain NUL characters' });
    else if (length < min || length > max) ctx.addIssue({ code: 'custom', message: min > 0 ? `must be ${min} to ${max} characters` : `must be at most ${max} characters` });
  });
const int = (min: number, max: number) =>
  z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

/**
 * The zod schema of a catalog config (strict: an unknown field is an error, so a typo such as
 * `allowance:` does not silently mean "no allowances"). Parsing fills in the defaults.
 *
 * @example
 * const parsed = catalogSchema.safeParse(JSON.parse(readFileSync('tokengate.config.json', 'utf8')));
 */
export const catalogSchema = z
  .strictObject({
    tokenTypes: z.array(
      z.strictObject({
        id: id('token type'),
        name: text(100, 1),
        cost: int(1, 1_000_000),
        description: text(10_000).nullish(),
        sortOrder: int(-2_147_483_648, 2_147_483_647).optional(),
        lowAlertPercent: int(0, 100).optional(),
        archived: z.boolean().optional(),
      }),
    ),
    plans: z.array(
      z.strictObject({
        id: id('plan'),
        name: text(100, 1),
        access: z.enum(['blocked', 'metered', 'unlimited'], 'must be blocked, metered or unlimited'),
        description: text(10_000).nullish(),
        sortOrder: int(-2_147_483_648, 2_147_483_647).optional(),
        allowances: z.record(z.string(), int(0, 1_000_000_000)).optional(),
      }),
    ),
  })
  .superRefine((config, ctx) => {
    const types = new Set<string>();
    config.tokenTypes.forEach((t, i) => {
      if (types.has(t.id)) ctx.addIssue({ code: 'custom', path: ['tokenTypes', i, 'id'], message: `the token type ${t.id} is declared twice` });
      types.add(t.id);
    });
    const plans = new Set<string>();
    config.plans.forEach((p, i) => {
      if (plans.has(p.id)) ctx.addIssue({ code: 'custom', path: ['plans', i, 'id'], message: `the plan ${p.id} is declared twice` });
      plans.add(p.id);
      for (const key of Object.keys(p.allowances ?? {})) {
        if (!types.has(key)) ctx.addIssue({ code: 'custom', path: ['plans', i, 'allowances', key], message: `${key} is not a token type of this catalog` });
      }
    });
  })
  .transform(
    (config): Catalog => ({
      tokenTypes: config.tokenTypes.map((t, i) => ({
        id: t.id,
        name: t.name,
        cost: t.cost,
        description: t.description ?? null,
        sortOrder: t.sortOrder ?? i + 1,
        lowAlertPercent: t.lowAlertPercent ?? 20,
        archived: t.archived ?? false,
      })),
      plans: config.plans.map((p, i) => ({
        id: p.id,
        name: p.name,
        access: p.access,
        description: p.description ?? null,
        sortOrder: p.sortOrder ?? i + 1,
        allowances: { ...(p.allowances ?? {}) },
      })),
    }),
  );

/**
 * Validate a catalog of unknown shape (a loaded JSON file, a module's export) and fill in the
 * defaults. Throws `TokenGateError('invalid_argument')` whose `errors` name every bad field
 * (`plans.1.allowances.quest_gen: quest_gen is not a token type of this catalog`).
 *
 * @example
 * const catalog = parseCatalog(JSON.parse(await readFile('tokengate.config.json', 'utf8')));
 */
export function parseCatalog(value: unknown): Catalog {
  const parsed = catalogSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const errors = parsed.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(catalog)',
    message: issue.message,
  }));
  throw new TokenGateError('invalid_argument', `invalid catalog: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
}

/**
 * Declare the catalog — plans, token types, costs, allowances and low-balance alert thresholds —
 * as code (`tokengate.config.ts`), checked when it is defined: ids, ranges, duplicates, and
 * allowances naming a token type the catalog does not declare (a type error too, when the token
 * types are written inline). `tokengate catalog diff` shows what pushing it would change;
 * `tokengate catalog push` applies it in one transaction.
 *
 * @example
 * // tokengate.config.ts
 * import { defineCatalog } from 'tokengate/server';
 *
 * export default defineCatalog({
 *   tokenTypes: [
 *     { id: 'summary', name: 'Summary', cost: 1 },
 *     { id: 'report', name: 'Report', cost: 5, lowAlertPercent: 10 },
 *   ],
 *   plans: [
 *     { id: 'free', name: 'Free', access: 'blocked' },
 *     { id: 'pro', name: 'Pro', access: 'metered', allowances: { summary: 100, report: 50 } },
 *   ],
 * });
 */
export function defineCatalog<const TokenTypeId extends string>(config: CatalogConfig<TokenTypeId>): Catalog {
  return parseCatalog(config);
}
