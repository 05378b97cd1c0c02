// A Vite + React app using the installed `tokengate` package exactly as the README shows.
import { createRoot } from 'react-dom/client';
import { createTokenClient } from 'tokengate';
import { TokenGateProvider, useTokenGate } from 'tokengate/react';
import { TokenDashboard, UpgradePrompt } from 'tokengate/components';
import 'tokengate/styles.css';

const params = new URLSearchParams(location.search);
const client = createTokenClient({
  baseUrl: '/api/tokengate',
  getAccessToken: () => params.get('token'),
  orgId: params.get('org'),
});

function GenerateGoalButton() {
  // No action: run() charges one use through the kit's `deduct`.
  const goal = useTokenGate('quest_generation');
  if (goal.blocked) return <UpgradePrompt variant="inline" reason={goal.reason} />;
  return (
    <button type="button" data-testid="gated" data-status={goal.status} disabled={!goal.canRun || goal.status === 'running'} onClick={() => goal.run()}>
      Generate quest ({goal.cost} tokens)
    </button>
  );
}

createRoot(document.getElementById('root')).render(
  <TokenGateProvider client={client}>
    <main>
      <TokenDashboard variant="compact" />
      <GenerateGoalButton />
    </main>
  </TokenGateProvider>,
);
