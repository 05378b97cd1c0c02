/**
 * The headless core of Tokengate: wire types, the one error type, the HTTP client and query keys.
 * Never imports React.
 *
 * @example
 * import { createTokenClient, tokenGateKeys, TokenGateError } from 'tokengate/core';
 */
export * from './types.ts';
export { TokenGateError, type ProblemDetails } from './token-gate-error.ts';
export { isRetryableError } from './is-retryable-error.ts';
export { ERROR_STATUS, ERROR_TYPE_BASE, isErrorCode, type ErrorCode } from './error-codes.ts';
export {
  createTokenClient,
  type CallOptions,
  type DateRange,
  type GuardedRequestInit,
  type GrantsQuery,
  type GuardInfo,
  type TokenClient,
  type TokenClientOptions,
} from './create-token-client.ts';
export { readGuardInfo } from './read-guard-info.ts';
export { tokenGateKeys } from './query-keys.ts';
export { CHARGE_EVENT, parseChargeEvent, type ChargeEvent } from './charge-event.ts';
