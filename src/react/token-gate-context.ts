'use client';
import { createContext, useContext } from 'react';
import type { TokenClient } from '../core/create-token-client.ts';

/**
 * What `TokenGateProvider` shares with the hooks (internal).
 *
 * @example
 * const value: TokenGateContextValue = { client, orgId: undefined };
 */
export interface TokenGateContextValue {
  client: TokenClient;
  /** Overrides `client.orgId()` for the subtree (org switchers that re-render on switch). */
  orgId: string | undefined;
}

/**
 * Internal: the provider's value; null outside a provider.
 *
 * @example
 * const value = useContext(TokenGateContext);
 */
export const TokenGateContext = createContext<TokenGateContextValue | null>(null);

/**
 * Internal: the provider's value, or a clear error outside one.
 *
 * @example
 * const { client, resolvedOrgId } = useTokenGateContext();
 */
export function useTokenGateContext(): TokenGateContextValue & { resolvedOrgId: string } {
  const value = useContext(TokenGateContext);
  if (!value) throw new Error('Tokengate hooks must be used inside <TokenGateProvider client={…}>.');
  // Read on every render so a function `orgId` (an org switcher's store) is always current.
  return { ...value, resolvedOrgId: value.orgId ?? value.client.orgId() };
}
