import { defineCatalog } from './define-catalog.ts';

/**
 * The catalog the migrations seed (migrations/20261125000001_tokengate_schema.sql), as a config:
 * Starter (AI blocked), Pro (monthly allowances), Enterprise (unlimited), and the five token types
 * of the original spec. A fresh database has exactly this catalog (`tokengate catalog diff` with it
 * finds nothing to change); start your own `tokengate.config.ts` from it.
 *
 * @example
 * import { DEFAULT_CATALOG, defineCatalog } from 'tokengate/server';
 * export default defineCatalog({ ...DEFAULT_CATALOG, tokenTypes: DEFAULT_CATALOG.tokenTypes.map((t) => t.id === 'quest_generation' ? { ...t, cost: 4 } : t) });
 */
export const DEFAULT_CATALOG = defineCatalog({
  tokenTypes: [
    { id: 'goal_generation', name: 'Goal generation', cost: 1, description: 'Generate a financial goal.' },
    { id: 'quest_generation', name: 'Quest generation', cost: 3, description: 'Generate quests for a goal.' },
    { id: 'lead_generation', name: 'Lead generation', cost: 2, description: 'Find and qualify leads.' },
    { id: 'revenue_forecast', name: 'Revenue forecast', cost: 5, description: 'Forecast revenue from history.' },
    { id: 'strategy_analysis', name: 'Strategy analysis', cost: 10, description: 'Analyse a business strategy.' },
  ],
  plans: [
    { id: 'starter', name: 'Starter', access: 'blocked', description: 'AI features are not included.' },
    {
      id: 'pro',
      name: 'Pro',
      access: 'metered',
      description: 'A monthly token allowance per AI feature.',
      allowances: { goal_generation: 20, quest_generation: 60, lead_generation: 100, revenue_forecast: 50, strategy_analysis: 100 },
    },
    { id: 'enterprise', name: 'Enterprise', access: 'unlimited', description: 'Unlimited AI usage, still recorded for analytics.' },
  ],
});
