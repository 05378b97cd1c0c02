import type { QueryClient } from '@tanstack/react-query';
import { tokenGateKeys } from '../core/query-keys.ts';
import type { Balances, TokenTypeId } from '../core/types.ts';

/** Refetches after the first one, at 250 ms, 500 ms, 1 s and 2 s. */
const RETRIES = 4;

/**
 * Internal: refetch the organization's data now, and again (a few times, backing off) while the
 * token type (without one: any type) still shows tokens held. For a streamed answer that ended without the guard's charge
 * event — the reader stopped it, or it broke off — the server commits after it sees the stream
 * end, so the first refetch may still show the hold; the retries pick up the commit.
 *
 * @example
 * settleBalances(queryClient, orgId, 'strategy_analysis');
 */
export function settleBalances(queryClient: QueryClient, orgId: string, tokenType?: TokenTypeId): void {
  let retry = 0;
  const refetch = (): void =>
    void queryClient.invalidateQueries({ queryKey: tokenGateKeys.org(orgId) }).then(() => {
      const types = queryClient.getQueryData<Balances>(tokenGateKeys.balances(orgId))?.tokenTypes ?? [];
      const held = types.some((b) => (tokenType === undefined || b.tokenType === tokenType) && b.held > 0);
      if (!held || retry >= RETRIES) return;
      setTimeout(refetch, 250 * 2 ** retry++);
    });
  refetch();
}
