/**
 * TEMPORARY: the alerts part of the SQL contract (issue 12, §3), typed here until the lead's
 * `gate.claimAlerts`/`recordDelivery` land on main; then this file re-exports the gate's types.
 */

/** What an alert is about. */
export type AlertKind = 'low' | 'exhausted' | 'member_quota_reached' | 'refreshed' | 'expired_hold';

/** One row of the alerts outbox. */
export interface Alert {
  alertId: number;
  orgId: string;
  type: AlertKind;
  tokenType: string;
  userId: string | null;
  reservationId: string | null;
  periodStart: string | null;
  threshold: number | null;
  available: number | null;
  createdAt: string;
  attempts: number;
  status: 'pending' | 'delivered' | 'failed';
  deliveredAt: string | null;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
}

/** One attempt of the delivery log. */
export interface AlertDelivery {
  attempt: number;
  attemptedAt: string;
  ok: boolean;
  status: number | null;
  error: string | null;
  durationMs: number | null;
}

/** The part of the gate the alert worker uses. */
export interface AlertQueue {
  claimAlerts(opts?: { limit?: number; leaseSeconds?: number }): Promise<Alert[]>;
  recordDelivery(
    alertId: number,
    outcome: { ok: boolean; status?: number | null; error?: string | null; durationMs?: number; retryInSeconds?: number; maxAttempts?: number },
  ): Promise<Alert>;
}

/** The gate's alert administration (the CLI). */
export interface AlertAdmin extends AlertQueue {
  listAlerts(opts?: { status?: Alert['status']; orgId?: string; limit?: number }): Promise<Alert[]>;
  alertDeliveries(alertId: number): Promise<AlertDelivery[]>;
  replayAlert(alertId: number): Promise<Alert>;
}
