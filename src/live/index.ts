/**
 * Live balances, framework-free: the transports `TokenGateProvider`'s `live` prop takes, and the
 * change type they deliver. A separate entry point (the provider loads its default transport on
 * demand), so an app that does not configure live carries none of it.
 *
 * @example
 * import { createSseTransport } from 'tokengate/live';
 * <TokenGateProvider client={client} live={createSseTransport(client, { minLifetimeMs: 30_000 })} />
 */
export { createSseTransport, type SseTransportOptions } from './sse-transport.ts';
export { defaultRetryDelay } from './retry-delay.ts';
export { parseBalanceChange } from './parse-balance-change.ts';
export { applyBalanceChange } from './apply-balance-change.ts';
export type { LiveHandlers, LiveStatus, LiveTransport } from './live-transport.ts';
