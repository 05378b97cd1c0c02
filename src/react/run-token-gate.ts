import type { QueryClient } from '@tanstack/react-query';
import type { ChargeEvent } from '../core/charge-event.ts';
import type { TokenClient } from '../core/create-token-client.ts';
import { readGuardInfo } from '../core/read-guard-info.ts';
import { tokenGateKeys } from '../core/query-keys.ts';
import { TokenGateError } from '../core/token-gate-error.ts';
import type { DeductResult, TokenBalance, TokenTypeId } from '../core/types.ts';
import { setCachedBalance } from './set-cached-balance.ts';
import type { UseTokenGateDeductOptions, UseTokenGateOptions } from './use-token-gate.ts';

/** One run: the mutation's variables (`args`: `run`'s arguments) and what it learns (`unsettled`: a streamed charge not seen yet). */
export interface Run {
  args: unknown[];
  o: Partial<UseTokenGateOptions<unknown[], unknown>> & UseTokenGateDeductOptions;
  org: string;
  type: TokenTypeId;
  estimate: number | undefined;
  signal: AbortSignal;
  idempotencyKey: string;
  started?: boolean;
  charged?: boolean;
  unsettled?: boolean;
}

/**
 * Internal: the work of one `useTokenGate` run (its mutation's `mutationFn`) — the action through a
 * pre-authorised fetch (after a hold, in `reserve` mode, then commit or release), or the kit's
 * deduct without one — recording on `r` whether it started, charged, or left a streamed charge
 * unsettled, and putting the balance the server reported into the cache. Rejects with a
 * `TokenGateError`. Loaded on demand by `useTokenGate` (preloaded when the hook mounts).
 *
 * @example
 * mutationFn: async (r) => (await import('./run-token-gate.ts')).runTokenGate(r, client, queryClient),
 */
export async function runTokenGate(r: Run, client: TokenClient, queryClient: QueryClient): Promise<unknown> {
  const { o, org, type, signal, idempotencyKey } = r;
  const call = { idempotencyKey, orgId: org, signal };
  let reported: TokenBalance | { available: number } | undefined;
  const onCharge = (charge: ChargeEvent) => {
    if (typeof charge.available === 'number') reported = { available: charge.available };
    r.unsettled = false;
  };
  const fetch = async (url: string, init: RequestInit = {}) => {
    const response = await client.callGuarded(url, { ...init, ...call, signal: init.signal ?? signal });
    const info = readGuardInfo(response);
    r.charged = true;
    if (typeof info.available === 'number') reported = { available: info.available };
    // No charge headers: a streamed answer, which the guard charges when its stream ends.
    if (info.charged === null && !info.replayed) r.unsettled = true;
    return response;
  };
  try {
    const reservation = o.action && o.mode === 'reserve' ? await client.reserve(type, { ...call, estimate: r.estimate }) : null;
    r.started = true;
    let result: unknown;
    if (!o.action) {
      result = await client.deduct(type, { ...call, units: o.units });
      reported = (result as DeductResult).balance;
    } else {
      try {
        result = await o.action({ idempotencyKey, signal, fetch, reservation, onCharge }, ...r.args);
        if (reservation && signal.aborted) throw new TokenGateError('aborted', 'The run was cancelled.');
      } catch (error) {
        // Not under the aborted signal: the refund must reach the server.
        if (reservation) await client.release(reservation.reservationId, { orgId: org }).catch(() => {});
        throw error;
      }
      const actual = reservation && (o.actualUsage ? o.actualUsage(result) : reservation.estimate);
      if (reservation) reported = (await client.commit(reservation.reservationId, { actual: actual!, orgId: org })).balance;
    }
    r.charged ||= !!reported;
    if (reported) setCachedBalance(queryClient, tokenGateKeys.balances(org), type, reported);
    return result;
  } catch (error) {
    const message = signal.aborted ? 'The run was cancelled.' : error instanceof Error ? error.message : 'The action failed.';
    throw error instanceof TokenGateError ? error : new TokenGateError(signal.aborted ? 'aborted' : 'internal', message, { cause: error });
  }
}
