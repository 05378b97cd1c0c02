// Server-rendered balances, as in the README's "Server-rendered balances (Next.js App Router)":
// this Server Component verifies the user (here the app's own token, from a cookie), reads the
// organization's balances through the gate (no HTTP hop) with the kit's query key, and hands them
// to the client components with TanStack Query's dehydrate + HydrationBoundary.
import { dehydrate, HydrationBoundary, QueryClient } from '@tanstack/react-query';
import { cookies } from 'next/headers';
import { balancesServerQueryOptions } from 'tokengate/server';
import { gate, verifyToken } from '../../lib/tokengate.js';
import { Credits } from './credits.js';
import { Providers } from './providers.js';

export const dynamic = 'force-dynamic';

export default async function CreditsPage() {
  const orgId = process.env.CONSUMER_ORG_ID;
  const user = verifyToken((await cookies()).get('tg_token')?.value);
  // One QueryClient per request: the balances carry this member's own quotas.
  const queryClient = new QueryClient();
  if (user) await queryClient.prefetchQuery(balancesServerQueryOptions(gate, { userId: user.userId, orgId }));
  return (
    <main>
      <h1>Credits</h1>
      <Providers orgId={orgId}>
        <HydrationBoundary state={dehydrate(queryClient)}>
          <Credits />
        </HydrationBoundary>
      </Providers>
    </main>
  );
}
