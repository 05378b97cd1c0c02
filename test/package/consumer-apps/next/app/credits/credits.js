'use client';
// Rendered on the server from the hydrated cache (the balance and the button's cost are in the
// HTML), then in the browser from the same cache, kept current by the provider's live feed.
import { useEffect, useState } from 'react';
import { useTokenBalances, useTokenGate } from 'tokengate/react';
import { useLiveStatus } from 'tokengate/react/live';
import { TokenGateButton } from 'tokengate/components';

export function Credits() {
  const { data } = useTokenBalances();
  const quest = useTokenGate('quest_generation');
  const live = useLiveStatus();
  // For the test: set once React has hydrated the page.
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  const balance = data?.tokenTypes.find((b) => b.tokenType === 'quest_generation');
  return (
    <section data-testid="credits" data-hydrated={hydrated} data-live={live}>
      <p data-testid="credits-left">{balance ? `${balance.available} quest tokens left` : 'Loading balance…'}</p>
      <TokenGateButton gate={quest} locale="en" data-testid="credits-gated" onClick={() => void quest.run()}>
        Generate New Quest
      </TokenGateButton>
    </section>
  );
}
