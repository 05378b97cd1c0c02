// A server component: reads the organization's balances on the server (no client fetch) and
// renders the kit's components into the server-rendered HTML.
import { TokenDashboardView, UpgradePrompt } from 'tokengate/components';
import { gate } from '../lib/tokengate.js';

export const dynamic = 'force-dynamic';

export default async function Page() {
  const balances = await gate.balances({ userId: process.env.CONSUMER_USER_ID, orgId: process.env.CONSUMER_ORG_ID });
  return (
    <main>
      <h1>Consumer page</h1>
      <TokenDashboardView balances={balances} status="success" variant="compact" locale="en" />
      <UpgradePrompt variant="inline" reason="insufficient_tokens" upgradeLabel="Upgrade to Pro" />
    </main>
  );
}
