'use client';
// An example of the React kit, written by `tokengate init`: the balances, a gated button that calls
// the guarded example route, and the upgrade prompt when the organization cannot pay.
import { useTokenGate } from 'tokengate/react';
import { TokenDashboard, TokenGateButton, UpgradePrompt } from 'tokengate/components';
import 'tokengate/styles.css';

export function TokenGateExample() {
  const quest = useTokenGate('quest_generation', {
    // ctx.fetch adds Authorization, X-Tokengate-Org and this run's Idempotency-Key (one run, one charge).
    action: async (ctx) => (await ctx.fetch('/api/generate-quest', { method: 'POST', body: JSON.stringify({ goal: 'Save for a house' }) })).json(),
  });
  return (
    <section data-slot="tokengate-example">
      <TokenDashboard variant="compact" />
      <TokenGateButton gate={quest} onClick={() => void quest.run()} runningLabel="Generating…" data-testid="tokengate-example-button">
        Generate a quest
      </TokenGateButton>
      {quest.status === 'success' && <p data-testid="tokengate-example-result">{quest.data.quest}</p>}
      {quest.blocked && quest.reason && <UpgradePrompt variant="inline" reason={quest.reason} />}
    </section>
  );
}
