import type {
  AdjustResult,
  BalanceChange,
  Balances,
  CheckResult,
  DeductResult,
  ClawbackResult,
  Grant,
  GrantResult,
  GrantSource,
  ReserveResult,
  ResolveResult,
  Stats,
  TokenTypeId,
} from '../src/core/types.ts';
import type { Alert, AlertDelivery } from './alert.ts';
import type { LedgerArgs, LedgerFunction } from './ledger-call.ts';
import type { TokenStore } from './store.ts';
import { TokenGateError } from '../src/core/token-gate-error.ts';

/** A verified caller: the user the server authenticated, and the organization they act in. */
export interface GateContext {
  userId: string;
  orgId: string;
}

/** An administrative caller: an owner/admin user, or `null` for the server itself (webhooks, CLI). */
export interface AdminContext {
  orgId: string;
  actorId: string | null;
}

/** Options of `createTokenGate`. */
export interface TokenGateOptions {
  /** Where the ledger lives: `postgresStore`, `pgliteStore` or `supabaseStore`. */
  store: TokenStore;
  /** The ledger's clock for every call (tests, simulations). Default: the database's `now()`. */
  now?: () => Date;
}

/** One page of the usage export. */
export interface ExportPage {
  entries: LedgerEntry[];
  /** Pass as `afterId` for the next page; null on the last page. */
  nextAfterId: number | null;
}

/** One ledger entry, as exported. */
export interface LedgerEntry {
  id: number;
  createdAt: string;
  kind: 'refresh' | 'grant' | 'deduct' | 'reserve' | 'commit' | 'release' | 'expire' | 'adjust' | 'transfer';
  tokenType: TokenTypeId;
  userId: string | null;
  amount: number;
  charged: number;
  allowanceAfter: number;
  purchasedAfter: number;
  heldAfter: number;
  reservationId: string | null;
  metadata: Record<string, unknown>;
}

/** A charged answer of a guarded route, stored for replay (`guard({ replay: 'store' })`). */
export interface StoredResponse {
  status: number;
  /** Response headers worth replaying, as name/value pairs. */
  headers: [string, string][];
  /** The body, base64. */
  body: string;
}

/**
 * What `guardBegin` decided for a request's idempotency key: run the handler on a new hold, or
 * do not run it — an attempt is in flight (`retryAfter` seconds), or the work was already delivered
 * and charged (replay `response` when stored).
 */
export type GuardBeginResult =
  | { outcome: 'run'; attempt: number; reservation: ReserveResult }
  | { outcome: 'in_progress'; reservationId: string; retryAfter: number }
  | { outcome: 'completed'; reservationId: string; charged: number; response: StoredResponse | null };

/** What `tokengate.commit` answers for a hold that expired before the commit. */
interface ExpiredCommit {
  error: 'reservation_expired';
  reservationId: string;
  expiresAt: string;
}

/** The typed domain API over the SQL ledger. Every method is one call, one transaction. */
export type TokenGate = ReturnType<typeof createTokenGate>;

/**
 * The typed domain API over the ledger's SQL functions. Every decision is made in SQL; this only
 * names the arguments. Methods throw `TokenGateError`.
 *
 * @example
 * const gate = createTokenGate({ store: postgresStore({ connectionString: process.env.DATABASE_URL }) });
 * const ctx = { userId, orgId };
 * if ((await gate.check(ctx, 'quest_generation')).allowed) {
 *   await gate.deduct(ctx, 'quest_generation', { idempotencyKey: crypto.randomUUID() });
 * }
 */
export function createTokenGate(options: TokenGateOptions) {
  const { store, now } = options;
  const rpc = <T>(fn: LedgerFunction, args: LedgerArgs) => store.rpc<T>(fn, args, now ? { now: now() } : undefined);
  const member = (ctx: GateContext) => ({ p_org_id: ctx.orgId, p_user_id: ctx.userId });
  const admin = (ctx: AdminContext) => ({ p_org_id: ctx.orgId, p_actor_id: ctx.actorId });

  return {
    /** The store this gate calls. */
    store,

    /** Balances of every token type, refreshed if a period ended, with the member's quotas. */
    balances: (ctx: GateContext) => rpc<Balances>('balances', member(ctx)),

    /** May the member spend `amount` tokens (default: one use) now? Advisory: deduct decides again. */
    check: (ctx: GateContext, tokenType: TokenTypeId, opts: { amount?: number } = {}) =>
      rpc<CheckResult>('check', { ...member(ctx), p_token_type: tokenType, p_amount: opts.amount ?? null }),

    /** Charge `units` uses (default 1) at the catalog's cost, exactly once per idempotency key. */
    deduct: (
      ctx: GateContext,
      tokenType: TokenTypeId,
      opts: { idempotencyKey: string; metadata?: Record<string, unknown>; units?: number },
    ) =>
      rpc<DeductResult>('deduct', {
        ...member(ctx),
        p_token_type: tokenType,
        p_idempotency_key: opts.idempotencyKey,
        p_metadata: opts.metadata ?? {},
        p_units: opts.units ?? 1,
      }),

    /** Hold an estimate (default: one use) for AI work; resolve with commit or release. */
    reserve: (
      ctx: GateContext,
      tokenType: TokenTypeId,
      opts: { idempotencyKey: string; estimate?: number; ttlSeconds?: number; metadata?: Record<string, unknown> },
    ) =>
      rpc<ReserveResult>('reserve', {
        ...member(ctx),
        p_token_type: tokenType,
        p_idempotency_key: opts.idempotencyKey,
        p_estimate: opts.estimate ?? null,
        p_ttl_seconds: opts.ttlSeconds ?? 300,
        p_metadata: opts.metadata ?? {},
      }),

    /**
     * Charge the actual usage of a reservation and refund the rest. Throws `reservation_expired`
     * (410) when the hold lapsed first: it was refunded, and stays so.
     */
    commit: async (ctx: GateContext, reservationId: string, opts: { actual: number; metadata?: Record<string, unknown> }) => {
      const result = await rpc<ResolveResult | ExpiredCommit>('commit', {
        ...member(ctx),
        p_reservation_id: reservationId,
        p_actual: opts.actual,
        p_metadata: opts.metadata ?? {},
      });
      // The ledger answers an expired hold instead of raising, so that the expiry it performed is kept.
      if ('error' in result) {
        throw new TokenGateError('reservation_expired', 'The reservation expired and was refunded; nothing was charged.', {
          facts: { reservationId: result.reservationId, expiresAt: result.expiresAt },
        });
      }
      return result;
    },

    /** Refund a reservation in full. Idempotent. */
    release: (ctx: GateContext, reservationId: string, opts: { metadata?: Record<string, unknown> } = {}) =>
      rpc<ResolveResult>('release', { ...member(ctx), p_reservation_id: reservationId, p_metadata: opts.metadata ?? {} }),

    /**
     * Start a guarded run (what `guard()` calls): claim the idempotency key and hold the estimate,
     * or say why the handler must not run. Holds taken here can only be resolved by
     * `guardCommit`/`guardRelease`, never through the member API.
     */
    guardBegin: (
      ctx: GateContext,
      tokenType: TokenTypeId,
      opts: { idempotencyKey: string; estimate?: number; ttlSeconds?: number; metadata?: Record<string, unknown> },
    ) =>
      rpc<GuardBeginResult>('guard_begin', {
        ...member(ctx),
        p_token_type: tokenType,
        p_idempotency_key: opts.idempotencyKey,
        p_estimate: opts.estimate ?? null,
        p_ttl_seconds: opts.ttlSeconds ?? 300,
        p_metadata: opts.metadata ?? {},
      }),

    /**
     * Charge a guarded run that delivered its answer (a late charge when its hold already expired),
     * mark its key completed and store `response` for replay. Exactly once per reservation.
     */
    guardCommit: (
      ctx: GateContext,
      opts: { idempotencyKey: string; reservationId: string; actual: number; response?: StoredResponse | null; metadata?: Record<string, unknown> },
    ) =>
      rpc<ResolveResult>('guard_commit', {
        ...member(ctx),
        p_idempotency_key: opts.idempotencyKey,
        p_reservation_id: opts.reservationId,
        p_actual: opts.actual,
        p_response: opts.response ?? null,
        p_metadata: opts.metadata ?? {},
      }),

    /** Refund a guarded run whose handler failed; a retry with the same key may run again. */
    guardRelease: (ctx: GateContext, opts: { idempotencyKey: string; reservationId: string; metadata?: Record<string, unknown> }) =>
      rpc<ResolveResult>('guard_release', {
        ...member(ctx),
        p_idempotency_key: opts.idempotencyKey,
        p_reservation_id: opts.reservationId,
        p_metadata: opts.metadata ?? {},
      }),

    /** Usage by type, day and member for [from, to] (UTC days, `YYYY-MM-DD`), with a runway forecast. */
    stats: (ctx: GateContext, range: { from: string; to: string }) =>
      rpc<Stats>('stats', { ...member(ctx), p_from: range.from, p_to: range.to }),

    /** One page of ledger entries for [from, to], for exports. */
    exportPage: (ctx: GateContext, range: { from: string; to: string; afterId?: number; limit?: number }) =>
      rpc<ExportPage>('usage_export', {
        ...member(ctx),
        p_from: range.from,
        p_to: range.to,
        p_after_id: range.afterId ?? 0,
        p_limit: range.limit ?? 1000,
      }),

    /** Expire and refund stale reservations (call from a timer or pg_cron). */
    expireReservations: (opts: { limit?: number } = {}) =>
      rpc<{ expired: number; buckets: number }>('expire_reservations', { p_limit: opts.limit ?? 1000 }),

    /** Register an organization on a plan with its first owner. Idempotent. */
    createAccount: (account: { orgId: string; planId: string; ownerId: string; periodAnchor?: Date | string }) =>
      rpc<{ orgId: string; created: boolean; planId: string }>('create_account', {
        p_org_id: account.orgId,
        p_plan_id: account.planId,
        p_owner_id: account.ownerId,
        p_period_anchor: account.periodAnchor ?? null,
      }),

    /** Add a member or change their role. */
    addMember: (ctx: AdminContext, userId: string, role: 'owner' | 'admin' | 'member' = 'member') =>
      rpc<{ orgId: string; userId: string; role: string }>('add_member', { ...admin(ctx), p_user_id: userId, p_role: role }),

    /** Remove a member (their history stays). */
    removeMember: (ctx: AdminContext, userId: string) =>
      rpc<{ orgId: string; userId: string; removed: true }>('remove_member', { ...admin(ctx), p_user_id: userId }),

    /** Cap a member's spend of a token type per period; `null` removes the cap. */
    setMemberQuota: (ctx: AdminContext, userId: string, tokenType: TokenTypeId, quota: number | null) =>
      rpc<{ orgId: string; userId: string; tokenType: string; quota: number | null }>('set_member_quota', {
        ...admin(ctx),
        p_user_id: userId,
        p_token_type: tokenType,
        p_quota: quota,
      }),

    /** Move the organization to another plan, effective now. */
    setPlan: (ctx: AdminContext, planId: string) => rpc<Omit<Balances, 'member'>>('set_plan', { ...admin(ctx), p_plan_id: planId }),

    /**
     * Add a grant of tokens, exactly once per idempotency key (use the payment id): a `purchase`
     * (default), `promo`, `plan` or `adjustment`, optionally expiring (`expiresAt`), starting later
     * (`effectiveAt`) and ordered among grants of the same expiry by `priority` (0 first, default 50).
     *
     * @example
     * await gate.grant({ orgId, actorId: null }, 'quest_generation', {
     *   amount: 500, idempotencyKey: `stripe:${paymentIntent.id}`, expiresAt: inOneYear,
     * });
     */
    grant: (
      ctx: AdminContext,
      tokenType: TokenTypeId,
      opts: {
        amount: number;
        idempotencyKey: string;
        metadata?: Record<string, unknown>;
        source?: GrantSource;
        expiresAt?: Date | string | null;
        effectiveAt?: Date | string;
        priority?: number;
      },
    ) =>
      rpc<GrantResult>('grant_tokens', {
        ...admin(ctx),
        p_token_type: tokenType,
        p_amount: opts.amount,
        p_idempotency_key: opts.idempotencyKey,
        p_metadata: opts.metadata ?? {},
        p_source: opts.source ?? 'purchase',
        p_expires_at: opts.expiresAt ?? null,
        p_effective_at: opts.effectiveAt ?? null,
        p_priority: opts.priority ?? 50,
      }),

    /**
     * Take back what is left of a grant — up to `amount` (default: everything left, which revokes
     * it) — exactly once per idempotency key: a refund or dispute of the payment behind it. Name the
     * grant by `grantId` or by `grantKey`, the idempotency key it was made with. Never takes below
     * zero: what was already spent is the `shortfall`, recorded.
     *
     * @example
     * await gate.clawback({ orgId, actorId: null }, {
     *   grantKey: `stripe:${pi}`, amount: 250, idempotencyKey: `stripe:refund:${refund.id}`, reason: 'refund',
     * });
     */
    clawback: (
      ctx: AdminContext,
      opts: { grantId?: string; grantKey?: string; amount?: number; idempotencyKey: string; reason: string; metadata?: Record<string, unknown> },
    ) =>
      rpc<ClawbackResult>('clawback_grant', {
        ...admin(ctx),
        p_grant_id: opts.grantId ?? null,
        p_grant_key: opts.grantKey ?? null,
        p_amount: opts.amount ?? null,
        p_idempotency_key: opts.idempotencyKey,
        p_reason: opts.reason,
        p_metadata: opts.metadata ?? {},
      }),

    /** The organization's grants, for a member: active ones in the order they are consumed, then scheduled (then ended ones, if asked). */
    grants: (ctx: GateContext, opts: { tokenType?: TokenTypeId; includeEnded?: boolean } = {}) =>
      rpc<Grant[]>('grants', { ...member(ctx), p_token_type: opts.tokenType ?? null, p_include_ended: opts.includeEnded ?? false }),

    /**
     * The sweep: activate scheduled grants and expire lapsed ones (one ledger entry per expired
     * remainder) for up to `limit` buckets. Charges do it lazily for their own bucket; schedule this
     * (pg_cron, or a timer) so balances and alerts do not wait for the next charge.
     */
    expireGrants: (opts: { limit?: number } = {}) => rpc<{ grants: number; buckets: number }>('expire_grants', { p_limit: opts.limit ?? 1000 }),

    /** Manual correction with a reason: credits add purchased tokens, debits never go negative. */
    adjust: (
      ctx: AdminContext,
      tokenType: TokenTypeId,
      opts: { amount: number; reason: string; idempotencyKey: string; metadata?: Record<string, unknown> },
    ) =>
      rpc<AdjustResult>('adjust', {
        ...admin(ctx),
        p_token_type: tokenType,
        p_amount: opts.amount,
        p_reason: opts.reason,
        p_idempotency_key: opts.idempotencyKey,
        p_metadata: opts.metadata ?? {},
      }),

    /**
     * Delete idempotency records (and finished guarded-run records) older than `olderThan` (a
     * Postgres interval, default `'30 days'`), up to `limit` of each. Within the window a repeated key
     * replays; after it, it is a new request. Schedule it daily (pg_cron, or a timer).
     */
    pruneIdempotencyKeys: (opts: { olderThan?: string; limit?: number } = {}) =>
      rpc<{ keys: number; guardRequests: number; before: string }>('prune_idempotency_keys', {
        p_older_than: opts.olderThan ?? '30 days',
        p_limit: opts.limit ?? 10000,
      }),

    /**
     * Bring the daily usage rollup (what `stats` and the dashboard's charts read) up to date from
     * the ledger for up to `limit` organizations; returns how many it rolled up. `stats()` rolls its
     * own organization up first, so it is always exact; schedule this every minute (pg_cron, or a
     * timer) so that stats find little to do, and call it again while it returns `limit`.
     *
     * @example
     * setInterval(() => gate.rollUpUsage().catch(console.error), 60_000);
     */
    rollUpUsage: (opts: { limit?: number } = {}) => rpc<number>('roll_up_usage', { p_limit: opts.limit ?? 1000 }),

    /**
     * Create the ledger's monthly partitions for this month and the next `monthsAhead` (default 3),
     * moving entries that waited in the default partition into theirs; returns how many it created.
     * Schedule it daily (pg_cron, or a timer); if it lapses nothing fails, entries wait in the default
     * partition.
     *
     * @example
     * await gate.createLedgerPartitions({ monthsAhead: 3 });
     */
    createLedgerPartitions: (opts: { monthsAhead?: number } = {}) =>
      rpc<number>('create_ledger_partitions', { p_months_ahead: opts.monthsAhead ?? 3 }),

    /**
     * Archive one month of the ledger older than the previous month: its per-bucket totals are kept
     * (so `verifyLedger` still reconciles) and its partition is detached as a plain table, named in
     * the answer, for you to dump (`pg_dump -t`) to cold storage and drop.
     *
     * @example
     * const { table } = await gate.archiveLedgerMonth('2026-01-01');
     */
    archiveLedgerMonth: (month: string) =>
      rpc<{ month: string; entries: number; table: string }>('archive_ledger_partition', { p_month: month }),

    /**
     * The organization's balance changes after ledger id `afterId`, oldest first (at most `limit`,
     * default 500): what a live client missed while disconnected. Member only.
     *
     * @example
     * const { changes, more } = await gate.changes(ctx, { afterId: lastEventId });
     */
    changes: (ctx: GateContext, opts: { afterId: number; limit?: number }) =>
      rpc<{ changes: BalanceChange[]; more: boolean }>('changes', { ...member(ctx), p_after_id: opts.afterId, p_limit: opts.limit ?? 500 }),

    /**
     * Claim due alerts for delivery (oldest first, at most `limit`, default 100), leased for
     * `leaseSeconds` (default 60): no other worker gets them until the lease ends. Answer each with
     * `recordDelivery`. Server only.
     *
     * @example
     * for (const alert of await gate.claimAlerts({ limit: 50 })) await deliver(alert);
     */
    claimAlerts: (opts: { limit?: number; leaseSeconds?: number } = {}) =>
      rpc<Alert[]>('claim_alerts', { p_limit: opts.limit ?? 100, p_lease_seconds: opts.leaseSeconds ?? 60 }),

    /**
     * Record one delivery attempt of an alert: delivered when `ok`; otherwise due again in
     * `retryInSeconds` (default 60), or `failed` once `maxAttempts` (default 12) attempts failed.
     *
     * @example
     * await gate.recordDelivery(alert.alertId, { ok: false, status: 503, error: 'Service Unavailable', retryInSeconds: 40 });
     */
    recordDelivery: (
      alertId: number,
      opts: { ok: boolean; status?: number | null; error?: string | null; durationMs?: number; retryInSeconds?: number; maxAttempts?: number },
    ) =>
      rpc<Alert>('record_delivery', {
        p_alert_id: alertId,
        p_ok: opts.ok,
        p_status: opts.status ?? null,
        p_error: opts.error ?? null,
        p_duration_ms: opts.durationMs === undefined ? null : Math.max(0, Math.round(opts.durationMs)),
        p_retry_in_seconds: Math.max(0, Math.round(opts.retryInSeconds ?? 60)),
        p_max_attempts: opts.maxAttempts ?? 12,
      }),

    /** Alerts, newest first: all, or those `pending`, `delivered` or `failed`; of one organization or all. */
    listAlerts: (opts: { status?: Alert['status']; orgId?: string; limit?: number } = {}) =>
      rpc<Alert[]>('list_alerts', { p_status: opts.status ?? null, p_org_id: opts.orgId ?? null, p_limit: opts.limit ?? 50 }),

    /** Every delivery attempt of an alert, oldest first. */
    alertDeliveries: (alertId: number) => rpc<AlertDelivery[]>('alert_deliveries', { p_alert_id: alertId }),

    /** Deliver an alert again (pending, due now; same webhook id). */
    replayAlert: (alertId: number) => rpc<Alert>('replay_alert', { p_alert_id: alertId }),

    /** Differences between the balances and the ledger (`[]` = reconciled). */
    verifyLedger: (orgId?: string) => rpc<unknown[]>('verify_ledger', { p_org_id: orgId ?? null }),
  };
}
