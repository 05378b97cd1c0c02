/**
 * The final server-sent event a guarded streamed route appends when it opts in (`chargeEvent: true`):
 * charge headers cannot follow a body that has started, so the charge travels at the end of the stream.
 *
 * On the wire: `event: tokengate-charge\ndata: {"charged":3,"available":17,"reservationId":"…"}\n\n`.
 */

/** The SSE event name of the charge event. */
export const CHARGE_EVENT = 'tokengate-charge';

/** What a streamed guarded answer was charged, sent as its last SSE event. */
export interface ChargeEvent {
  /** Tokens charged for this request (whole number, 0 or more). */
  charged: number;
  /** Tokens of the type still available after the charge, or `'unlimited'`. */
  available: number | 'unlimited';
  /** The reservation id (for support and reconciliation). */
  reservationId: string;
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

/**
 * The `data` of a `tokengate-charge` event, checked; `null` when it is not one (malformed JSON,
 * missing or mistyped fields), so a client never trusts half a charge.
 *
 * @example
 * source.addEventListener(CHARGE_EVENT, (e) => {
 *   const charge = parseChargeEvent((e as MessageEvent<string>).data);
 *   if (charge) showBalance(charge.available);
 * });
 */
export function parseChargeEvent(data: string): ChargeEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { charged, available, reservationId } = value as Record<string, unknown>;
  if (!isCount(charged) || typeof reservationId !== 'string' || reservationId === '') return null;
  if (available !== 'unlimited' && !isCount(available)) return null;
  return { charged, available, reservationId };
}
