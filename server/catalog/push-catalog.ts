import type { TokenStore } from '../store.ts';
import type { PlanAccess } from '../../src/core/types.ts';
import { parseCatalog, type Catalog, type CatalogConfig } from './define-catalog.ts';

/** One field that changes: its value in the database and in the config. */
export interface FieldChange<T = unknown> {
  from: T;
  to: T;
}

/** One change a push makes, in the order it applies. */
export type CatalogChange =
  | { entity: 'tokenType'; action: 'add'; id: string; to: Omit<Catalog['tokenTypes'][number], 'id'> }
  | { entity: 'tokenType'; action: 'update'; id: string; fields: Partial<Record<'name' | 'description' | 'sortOrder' | 'lowAlertPercent' | 'archived', FieldChange>> }
  | { entity: 'tokenType'; action: 'remove'; id: string }
  /** A price: from each organization's next period (`next_period`), or at once (`now`, with `--now`). */
  | { entity: 'price'; tokenType: string; from: number; to: number; applies: 'next_period' | 'now' }
  | { entity: 'plan'; action: 'add'; id: string; to: Omit<Catalog['plans'][number], 'id' | 'allowances'> }
  | { entity: 'plan'; action: 'update'; id: string; fields: Partial<Record<'name' | 'access' | 'description' | 'sortOrder', FieldChange>> }
  | { entity: 'plan'; action: 'remove'; id: string }
  /** An allowance (null: no row, i.e. 0): from each organization's next refresh. */
  | { entity: 'allowance'; action: 'add' | 'update' | 'remove'; planId: string; tokenType: string; from: number | null; to: number | null; applies: 'next_refresh' };

/** What changes for one organization (and one of its token types), and when. */
export interface CatalogImpact {
  orgId: string;
  planId: string;
  /** null for a change of the plan's access. */
  tokenType: string | null;
  change: 'price' | 'allowance' | 'access' | 'archived' | 'restored';
  /** Price: what a period that started before the push pays; allowance: tokens per period; access: the plan's access. */
  from: number | PlanAccess | null;
  to: number | PlanAccess | null;
  /**
   * When it takes effect for this organization: the end of its current period (a price, an
   * allowance at its next refresh), or the push itself.
   */
  appliesAt: string;
}

/** What `pushCatalog` answers (a dry run answers the same, and changes nothing). */
export interface CatalogPushResult {
  dryRun: boolean;
  /** Whether price changes apply at once. */
  now: boolean;
  /** The ledger clock when the push ran. */
  at: string;
  /** The catalog_history row of this push (null for a dry run). */
  historyId: number | null;
  /** Every change, in the order it applies; empty when the database already has this catalog. */
  changes: CatalogChange[];
  /** Organizations affected, by token type (at most 1000 rows; `impactTotal` counts them all). */
  impact: CatalogImpact[];
  impactTotal: number;
}

/** Options of `pushCatalog`. */
export interface PushCatalogOptions {
  /** Only compute the changes and their impact (what `tokengate catalog diff` shows). Default false. */
  dryRun?: boolean;
  /** Apply price changes at once instead of from each organization's next period. Default false. */
  now?: boolean;
  /** Who pushes, recorded in the catalog history (at most 200 characters). */
  actor?: string | null;
}

/**
 * Apply a catalog (from `defineCatalog`, or any value of its shape, validated here) to the
 * database in one transaction, recorded in `tokengate.catalog_history`; with `dryRun`, answer
 * what would change and whom it affects, changing nothing. Refuses with `token_type_in_use` to
 * remove a token type that has balances (archive it instead) and with `plan_in_use` to remove a
 * plan organizations are on. Needs the server role (the store of your gate).
 *
 * @example
 * import catalog from './tokengate.config.ts';
 * const diff = await pushCatalog(gate.store, catalog, { dryRun: true });
 * if (diff.changes.length > 0) await pushCatalog(gate.store, catalog, { actor: 'deploy' });
 */
export async function pushCatalog(store: TokenStore, catalog: Catalog | CatalogConfig, options: PushCatalogOptions = {}): Promise<CatalogPushResult> {
  const config = parseCatalog(catalog);
  return store.rpc<CatalogPushResult>('catalog_apply', {
    p_config: config,
    p_now: options.now ?? false,
    p_actor: options.actor ?? null,
    p_dry_run: options.dryRun ?? false,
  });
}
