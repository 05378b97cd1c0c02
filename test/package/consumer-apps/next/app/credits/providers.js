'use client';
// The app's QueryClient as in TanStack Query's SSR guide (one per request on the server, one for
// the page in the browser) with a staleTime, so hydrated balances are not fetched again on mount.
import { isServer, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useState } from 'react';
import { createTokenClient } from 'tokengate';
import { TokenGateProvider, tokenGateRetry } from 'tokengate/react';

const makeQueryClient = () => new QueryClient({ defaultOptions: { queries: { staleTime: 60_000, retry: tokenGateRetry } } });
let browserQueryClient;
const getQueryClient = () => (isServer ? makeQueryClient() : (browserQueryClient ??= makeQueryClient()));

const readCookie = (name) => document.cookie.split('; ').find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1) ?? null;

export function Providers({ orgId, children }) {
  const queryClient = getQueryClient();
  const [client] = useState(() => createTokenClient({ baseUrl: '/api/tokengate', orgId, getAccessToken: () => readCookie('tg_token') }));
  return (
    <QueryClientProvider client={queryClient}>
      <TokenGateProvider client={client}>{children}</TokenGateProvider>
    </QueryClientProvider>
  );
}
