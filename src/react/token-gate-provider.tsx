'use client';
import { QueryClient, QueryClientContext, QueryClientProvider } from '@tanstack/react-query';
import { useContext, useMemo, useState, type ReactNode } from 'react';
import type { TokenClient } from '../core/create-token-client.ts';
import { TokenGateContext } from './token-gate-context.ts';
import { tokenGateRetry } from './token-gate-retry.ts';

/**
 * Props of `TokenGateProvider`.
 *
 * @example
 * const props: TokenGateProviderProps = { client, orgId: currentOrgId };
 */
export interface TokenGateProviderProps {
  /** The client from `createTokenClient(...)`. Create it once (module scope or `useState`). */
  client: TokenClient;
  /**
   * The QueryClient to use. Default: the app's own (from an enclosing `QueryClientProvider`), else
   * one created once for this provider (with `retry: tokenGateRetry`). The kit never changes a
   * QueryClient's settings: when the app's client sets `retry`, the kit's queries follow it; when it
   * leaves `retry` unset, they use `tokenGateRetry` (no retries of a refusal such as 403).
   */
  queryClient?: QueryClient;
  /**
   * The organization for this subtree, overriding `client.orgId()`. Pass it from an org switcher so
   * the hooks re-key their queries on a switch.
   */
  orgId?: string;
  children?: ReactNode;
}

/**
 * Makes a Tokengate client available to the hooks and components below, on TanStack Query.
 * Inside the app's `QueryClientProvider` it shares the app's cache (so the app can prefetch and
 * invalidate with `tokenGateKeys`); without one it creates its own QueryClient once.
 *
 * @example
 * const client = createTokenClient({ baseUrl: '/api/tokengate', getAccessToken, orgId });
 * export function Providers({ children }: { children: React.ReactNode }) {
 *   return <TokenGateProvider client={client}>{children}</TokenGateProvider>;
 * }
 */
export function TokenGateProvider({ client, queryClient, orgId, children }: TokenGateProviderProps) {
  // useQueryClient() throws without a provider; the context itself just reads undefined.
  const appQueryClient = useContext(QueryClientContext);
  // Created at most once (lazy state), and only when the app has none.
  const [ownQueryClient] = useState(() => (queryClient || appQueryClient ? null : new QueryClient({ defaultOptions: { queries: { retry: tokenGateRetry } } })));
  const value = useMemo(() => ({ client, orgId }), [client, orgId]);
  const tree = <TokenGateContext.Provider value={value}>{children}</TokenGateContext.Provider>;
  const use = queryClient ?? (appQueryClient ? null : ownQueryClient);
  return use ? <QueryClientProvider client={use}>{tree}</QueryClientProvider> : tree;
}
