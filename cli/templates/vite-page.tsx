// The example with its provider, written by `tokengate init`: render <TokenGatePage /> in your app.
import { TokenGateExample } from './example';
import { TokenGateProviders } from './providers';

export function TokenGatePage() {
  return (
    <TokenGateProviders>
      <TokenGateExample />
    </TokenGateProviders>
  );
}
