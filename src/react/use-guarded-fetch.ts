'use client';
import { useQueryClient } from '@tanstack/react-query';
import { useCallback, useRef } from 'react';
import { readGuardInfo } from '../core/read-guard-info.ts';
import { tokenGateKeys } from '../core/query-keys.ts';
import { stripChargeEvent } from '../core/strip-charge-event.ts';
import type { TokenTypeId } from '../core/types.ts';
import { setCachedBalance } from './set-cached-balance.ts';
import { settleBalances } from './settle-balances.ts';
import { useTokenGateContext } from './token-gate-context.ts';

/**
 * A `fetch` for the app's guarded routes (the signature of the global `fetch`).
 *
 * @example
 * const transport = new DefaultChatTransport({ api: '/api/chat', fetch: guardedFetch satisfies GuardedFetch });
 */
export type GuardedFetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/**
 * Options of `useGuardedFetch`.
 *
 * @example
 * const fetch = useGuardedFetch({ tokenType: 'strategy_analysis' });
 */
export interface UseGuardedFetchOptions {
  /**
   * The token type the route spends. With it, the guard's charge event sets that type's cached
   * balance at once, and after a stream that ended without it (Stop, a broken stream) the balances
   * are refetched until the guard's commit shows. Without it, the balances are refetched once.
   */
  tokenType?: TokenTypeId;
}

/**
 * A pre-authorised `fetch` for the app's guarded routes, for libraries that do their own fetching
 * — the AI SDK's `useChat` (`DefaultChatTransport({ fetch })`), `useCompletion`, … Each call sends
 * `Authorization`, `X-Tokengate-Org` and a fresh `Idempotency-Key` (one message, one charge),
 * rejects with a `TokenGateError` when the guard refuses (402 `insufficient_tokens`, 403
 * `plan_blocked`, …: `useChat`'s `error`), strips the guard's `tokengate-charge` event from a
 * streamed answer (the AI SDK would fail to parse it), and refreshes the organization's balances
 * when the answer ends — however it ends.
 *
 * @example
 * import { useChat } from '@ai-sdk/react';
 * import { DefaultChatTransport } from 'ai';
 *
 * function Chat() {
 *   const fetch = useGuardedFetch({ tokenType: 'strategy_analysis' });
 *   const [transport] = useState(() => new DefaultChatTransport({ api: '/api/chat', fetch }));
 *   const { messages, sendMessage, stop, status, error } = useChat({ transport });
 *   const blocked = error instanceof TokenGateError && error.status === 402;
 *   // …render messages; `stop()` cancels the stream and the guard charges what was reported so far.
 * }
 */
export function useGuardedFetch(options: UseGuardedFetchOptions = {}): GuardedFetch {
  const { client, resolvedOrgId } = useTokenGateContext();
  const queryClient = useQueryClient();
  // Read per call, so the returned fetch keeps one identity (a chat transport is built once).
  const latest = useRef({ orgId: resolvedOrgId, tokenType: options.tokenType });
  latest.current = { orgId: resolvedOrgId, tokenType: options.tokenType };

  return useCallback(
    async (input: RequestInfo | URL, init: RequestInit = {}) => {
      const { orgId, tokenType } = latest.current;
      const refresh = () => void queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(orgId) });
      let url: string;
      let request = init;
      if (input instanceof Request) {
        url = input.url;
        const body = input.method === 'GET' || input.method === 'HEAD' ? undefined : await input.arrayBuffer();
        request = { method: input.method, headers: input.headers, signal: input.signal, ...(body ? { body } : {}), ...init };
      } else {
        url = String(input);
      }
      let response: Response;
      try {
        response = await client.callGuarded(url, { ...request, orgId, idempotencyKey: crypto.randomUUID() });
      } catch (error) {
        // A refusal means the cached balance was wrong: show the server's.
        refresh();
        throw error;
      }
      const info = readGuardInfo(response);
      if (info.charged !== null || info.replayed) {
        // A buffered answer: the guard has charged already, and said so in its headers.
        if (tokenType && typeof info.available === 'number') setCachedBalance(queryClient, tokenGateKeys.balances(orgId), tokenType, { available: info.available });
        refresh();
        return response;
      }
      let charged = false;
      return stripChargeEvent(response, {
        ...(request.signal ? { signal: request.signal } : {}),
        onCharge: ({ available }) => {
          charged = true;
          if (tokenType && typeof available === 'number') setCachedBalance(queryClient, tokenGateKeys.balances(orgId), tokenType, { available });
        },
        // The guard commits when it sees the end: without its charge event, wait for the commit to show.
        onEnd: () => (charged ? refresh() : settleBalances(queryClient, orgId, tokenType)),
      });
    },
    [client, queryClient],
  );
}
