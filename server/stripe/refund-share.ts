/**
 * How many of `granted` tokens a cumulative refund (or dispute) of `returned` out of `paid` takes
 * back: `floor(granted × returned / paid)`, or `null` (everything left, and the grant is revoked)
 * once `returned` covers the whole payment. Rounding down favours the customer by less than one
 * token, and because each refund claws `share(now) − share(before)`, the parts of several partial
 * refunds add up exactly to the share of their total.
 *
 * @example
 * refundShare(100, 500, 1000) // 50
 * refundShare(100, 1000, 1000) // null: all that is left, revoked
 */
export function refundShare(granted: number, returned: number, paid: number): number | null {
  if (paid <= 0 || returned >= paid) return null;
  if (returned <= 0) return 0;
  // BigInt: granted × returned can pass 2^53 (a billion tokens × a large amount in cents).
  return Number((BigInt(granted) * BigInt(returned)) / BigInt(paid));
}

/**
 * The tokens a refund that moved the cumulative refunded amount from `before` to `now` claws back
 * from one grant: `null` when the payment is now fully refunded (take all that is left), else the
 * difference of the two shares (0: nothing to take).
 *
 * @example
 * refundDelta(100, 300, 600, 1000) // 30 (60 − 30)
 */
export function refundDelta(granted: number, before: number, now: number, paid: number): number | null {
  const after = refundShare(granted, now, paid);
  if (after === null) return null;
  const previous = refundShare(granted, Math.min(before, now), paid) ?? granted;
  return Math.max(0, after - previous);
}
