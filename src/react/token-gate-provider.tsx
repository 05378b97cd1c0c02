'use client';
import { QueryClient, QueryClientContext, QueryClientProvider } from '@tanstack/react-query';
import { useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { TokenClient } from '../core/create-token-client.ts';
import type { LiveTransport } from '../live/live-transport.ts';
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
  /**
   * Keep the cached balances current from the server's change feed (issue 12). `true` (default):
   * server-sent events from the handler's `/orgs/:orgId/events`, through this client; a transport
   * (`createSseTransport(client, …)` from `tokengate/live`, `createSupabaseTransport(supabase)` from
   * `tokengate/live/supabase`; create it once); `false`: off. Loaded on demand, after the first render.
   */
  live?: boolean | LiveTransport;
  /** While live is unavailable (no endpoint, a serverless host), refetch the balances this often (ms) while the page is visible; 0: never. Default 15,000. */
  pollInterval?: number;
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
export function TokenGateProvider({ client, queryClient, orgId, live = true, pollInterval, children }: TokenGateProviderProps) {
  // useQueryClient() throws without a provider; the context itself just reads undefined.
  const appQueryClient = useContext(QueryClientContext);
  // Created at most once (lazy state), and only when the app has none.
  const [ownQueryClient] = useState(() => (queryClient || appQueryClient ? null : new QueryClient({ defaultOptions: { queries: { retry: tokenGateRetry } } })));
  const value = useMemo(() => ({ client, orgId }), [client, orgId]);
  const tree = <TokenGateContext.Provider value={value}>{children}</TokenGateContext.Provider>;
  const use = queryClient ?? (appQueryClient ? null : ownQueryClient);
  const hooksClient = use ?? appQueryClient!;
  useEffect(() => {
    if (live === false) return;
    // A separate chunk, loaded after the first render (never with live off); if it cannot load,
    // the app works as without live.
    const attached = import('../live/attach-live.ts').then((m) => m.attachLive(hooksClient, client, live, pollInterval), () => {});
    return () => void attached.then((detach) => detach?.());
  }, [hooksClient, client, live, pollInterval]);
  return use ? <QueryClientProvider client={use}>{tree}</QueryClientProvider> : tree;
}
