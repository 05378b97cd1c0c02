'use client';
import type { TokenClient } from '../core/create-token-client.ts';
import { useTokenGateContext } from './token-gate-context.ts';

/**
 * The client of the nearest `TokenGateProvider` (for calls the hooks do not cover).
 *
 * @example
 * const client = useTokenClient();
 * const onExport = async () => download(await (await client.exportUsage(range)).blob());
 */
export function useTokenClient(): TokenClient {
  return useTokenGateContext().client;
}
