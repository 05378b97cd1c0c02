/** What an alert says happened to an organization's bucket (see the `tokengate.alerts` outbox). */
export type AlertKind = 'low' | 'exhausted' | 'member_quota_reached' | 'refreshed' | 'expired_hold';

/**
 * A threshold alert from the outbox, written with the change that crossed the threshold, once per
 * (bucket, period, kind[, member | hold]). The app's worker delivers it as a webhook.
 *
 * @example
 * const [alert] = await gate.claimAlerts({ limit: 1 });
 * if (alert?.type === 'low') console.log(`${alert.orgId} has ${alert.available} ${alert.tokenType} tokens left`);
 */
export interface Alert {
  alertId: number;
  orgId: string;
  type: AlertKind;
  tokenType: string;
  /** member_quota_reached: the member; expired_hold: the hold's member. */
  userId: string | null;
  /** expired_hold: the hold. */
  reservationId: string | null;
  /** The bucket's period the alert belongs to (refreshed: the new period). */
  periodStart: string | null;
  /** low: the available count it fired below; member_quota_reached: the quota; exhausted: 0. */
  threshold: number | null;
  /** Available tokens right after the change (null on an unlimited plan or for a member quota). */
  available: number | null;
  createdAt: string;
  /** Delivery attempts since it was created or replayed (a delivered alert counts its successful one). */
  attempts: number;
  status: 'pending' | 'delivered' | 'failed';
  deliveredAt: string | null;
  /** When it is due (or its claim's lease ends); null once delivered or failed. */
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
}

/** One attempt to deliver an alert, from the delivery log. */
export interface AlertDelivery {
  /** 1, 2, … over the alert's whole life (replays continue the count). */
  attempt: number;
  attemptedAt: string;
  ok: boolean;
  status: number | null;
  error: string | null;
  durationMs: number | null;
}
