/**
 * The React bindings of Tokengate on TanStack Query v5.
 *
 * @example
 * import { TokenGateProvider, useTokenGate, TokenGate } from 'tokengate/react';
 */
export { TokenGateProvider, type TokenGateProviderProps } from './token-gate-provider.tsx';
export { useTokenClient } from './use-token-client.ts';
export { balancesQueryOptions, statsQueryOptions } from './query-options.ts';
export { useTokenBalances } from './use-token-balances.ts';
export { useTokenBalance } from './use-token-balance.ts';
export { useTokenStats } from './use-token-stats.ts';
export { useGrants, type UseGrantsOptions } from './use-grants.ts';
export { grantsQueryOptions } from './grants-query-options.ts';
export {
  useTokenGate,
  type TokenGateActionContext,
  type TokenGateReason,
  type TokenGateStatus,
  type UseTokenGateDeductOptions,
  type UseTokenGateOptions,
  type UseTokenGateResult,
} from './use-token-gate.ts';
export { TokenGate, type TokenGateFallbackProps, type TokenGateProps } from './token-gate.tsx';
export { denialReason } from './denial-reason.ts';
export { tokenGateRetry } from './token-gate-retry.ts';
