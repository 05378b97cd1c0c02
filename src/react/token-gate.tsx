'use client';
import type { ReactNode } from 'react';
import type { TokenBalance, TokenTypeId } from '../core/types.ts';
import { denialReason } from './denial-reason.ts';
import type { TokenGateReason } from './use-token-gate.ts';
import { useTokenBalances } from './use-token-balances.ts';

/**
 * What a `fallback` function receives.
 *
 * @example
 * const fallback = ({ reason }: TokenGateFallbackProps) => <UpgradePrompt variant="inline" reason={reason} />;
 */
export interface TokenGateFallbackProps {
  /**
   * Why the children are not shown: a denial, `not_a_member` when the balances were refused because
   * the caller is not a member; null when they failed to load for another reason or the type is unknown.
   */
  reason: TokenGateReason | null;
  balance: TokenBalance | undefined;
}

/**
 * Props of `TokenGate`.
 *
 * @example
 * const props: TokenGateProps = { tokenType: 'lead_generation', fallback: <p>Upgrade to find leads</p> };
 */
export interface TokenGateProps {
  /** The token type the children spend. */
  tokenType: TokenTypeId;
  /** Shown instead of the children when the org cannot use the type now. */
  fallback?: ReactNode | ((props: TokenGateFallbackProps) => ReactNode);
  /** Shown while the balances load (also the server-rendered output). Default: nothing. */
  loading?: ReactNode;
  children?: ReactNode;
}

/**
 * Render `children` only when the organization can use `tokenType` now (in the plan, enough tokens
 * for one use, within the member's quota); otherwise `fallback`.
 *
 * @example
 * <TokenGate tokenType="strategy_analysis" fallback={({ reason }) => <UpgradePrompt variant="inline" reason={reason} />}>
 *   <AnalyseButton />
 * </TokenGate>
 */
export function TokenGate({ tokenType, fallback = null, loading = null, children }: TokenGateProps) {
  const { data, isPending, error } = useTokenBalances();
  if (isPending) return <>{loading}</>;
  const balance = data?.tokenTypes.find((b) => b.tokenType === tokenType);
  const reason: TokenGateReason | null =
    data && balance ? denialReason(data, tokenType, balance.cost) : error?.code === 'not_a_member' ? 'not_a_member' : null;
  if (balance && reason === null) return <>{children}</>;
  return <>{typeof fallback === 'function' ? fallback({ reason, balance }) : fallback}</>;
}
