// An example page at /tokengate, written by `tokengate init`: the provider around the example.
import { TokenGateExample } from './example';
import { TokenGateProviders } from './providers';

export default function TokenGatePage() {
  return (
    <main>
      <h1>Tokengate</h1>
      <TokenGateProviders>
        <TokenGateExample />
      </TokenGateProviders>
    </main>
  );
}
