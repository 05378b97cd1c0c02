import { QueryClient } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';
import { lowBalances } from '../components/fixtures.ts';
import type { Balances } from '../core/types.ts';
import { applyOptimisticCharge } from './optimistic-balance.ts';
import { setCachedBalance } from './set-cached-balance.ts';

const KEY = ['tokengate', 'org_fixture', 'balances'];
/** lowBalances with an any-type pool of 20 counted in every balance, and quest_generation's allowance nearly spent. */
function pooled(): Balances {
  const quest = lowBalances.tokenTypes.find((b) => b.tokenType === 'quest_generation')!;
  return {
    ...lowBalances,
    tokenTypes: [
      { ...quest, allowanceRemaining: 2, purchased: 3, shared: 20, available: 25 },
      { ...quest, tokenType: 'lead_generation', name: 'Leads', allowanceRemaining: 10, purchased: 0, shared: 20, available: 30 },
    ],
  };
}
const byType = (qc: QueryClient) => Object.fromEntries(qc.getQueryData<Balances>(KEY)!.tokenTypes.map((b) => [b.tokenType, { shared: b.shared, available: b.available, purchased: b.purchased }]));

describe('applyOptimisticCharge with an any-type pool', () => {
  it('takes the allowance, then the type’s own purchased tokens, then the pool — which every balance counts — and undoes exactly that', () => {
    const qc = new QueryClient();
    qc.setQueryData(KEY, pooled());
    const before = byType(qc);
    const undo = applyOptimisticCharge(qc, KEY, 'quest_generation', 9); // 2 allowance + 3 purchased + 4 pool
    const after = byType(qc);
    expect(after.quest_generation).toEqual({ shared: 16, available: 16, purchased: 0 });
    expect(after.lead_generation).toEqual({ shared: 16, available: 26, purchased: 0 });
    undo();
    expect(byType(qc)).toEqual(before);
  });

  it('a server balance with a new pool moves `shared` in every other balance too', () => {
    const qc = new QueryClient();
    qc.setQueryData(KEY, pooled());
    const quest = qc.getQueryData<Balances>(KEY)!.tokenTypes.find((b) => b.tokenType === 'quest_generation')!;
    setCachedBalance(qc, KEY, 'quest_generation', { ...quest, allowanceRemaining: 0, purchased: 0, shared: 11, available: 11 });
    expect(byType(qc).lead_generation).toEqual({ shared: 11, available: 21, purchased: 0 });
  });
});
