/**
 * Tokengate's server module: the typed gate over the SQL ledger, its stores, one HTTP handler,
 * the guard for an app's own AI routes, JWT auth and the migration runner. Framework adapters are
 * separate entry points (`server/adapters/*`).
 *
 * @example
 * import { createTokenGate, postgresStore, createHandler, supabaseAuth } from 'tokengate/server';
 * const gate = createTokenGate({ store: postgresStore({ connectionString: process.env.DATABASE_URL! }) });
 * export const handler = createHandler({ gate, authenticate: supabaseAuth({ issuer: `${process.env.SUPABASE_URL}/auth/v1` }) });
 */
export { createTokenGate, type AdminContext, type ExportPage, type GateContext, type GuardBeginResult, type StoredResponse, type LedgerEntry, type TokenGate, type TokenGateOptions } from './gate.ts';
export type { Alert, AlertDelivery, AlertKind } from './alert.ts';
export type { DeductBatchOutcome, DeductBatchStore, ListenOptions, RpcOptions, TokenStore } from './store.ts';
export type { LedgerArgs, LedgerFunction } from './ledger-call.ts';
export { postgresStore, type PostgresStoreOptions } from './stores/postgres-store.ts';
export { pgliteStore, type PgliteLike } from './stores/pglite-store.ts';
export { batchingStore, type BatchingStoreOptions } from './stores/batching-store.ts';
export { supabaseStore, type SupabaseClientLike, type SupabaseStoreOptions } from './stores/supabase-store.ts';
export { databaseError } from './stores/database-error.ts';
export { createOperatorApi, type OperatorApi } from './operator/create-operator-api.ts';
export type { ExpiringGrantRow, ExpiringGrantsOptions, NearExhaustionOptions, NearExhaustionRow, OperatorTopOptions, OperatorTopRow, SpikeRow, SpikesOptions } from './operator/types.ts';
export { createHandler, type BillingOperation, type HandlerOptions } from './http/handler.ts';
export { balancesServerQueryOptions, statsServerQueryOptions } from './server-query-options.ts';
export { problemResponse } from './http/problem-response.ts';
export { CHANGES_CHANNEL, createChangeHub, sharedChangeHub, type ChangeHub, type ChangeHubOptions, type ChangeSubscriber } from './live/change-hub.ts';
export type { ConnectionLimitOptions } from './live/connection-limits.ts';
export type { LiveEventsOptions } from './live/live-events-options.ts';
export { guard, GUARD_HEADERS, type GuardContext, type GuardedHandler, type GuardErrorInfo, type GuardOptions } from './guard.ts';
export { bearerSecret, supabaseAuth, type Authenticate, type AuthenticatedUser, type SupabaseAuthOptions } from './auth.ts';
export { createAlertWorker, type AlertWorker, type AlertWorkerOptions, type DeliveryAttempt, type DrainResult } from './webhooks/create-alert-worker.ts';
export { verifyWebhook, type VerifyWebhookOptions } from './webhooks/verify-webhook.ts';
export { WEBHOOK_EVENT_TYPES, alertEvent, webhookId, type AlertEventData, type TokenGateWebhookEvent, type WebhookEventType } from './webhooks/webhook-event.ts';
export { DEFAULT_RETRY, retryDelay, type RetryPolicy } from './webhooks/retry-delay.ts';
export { COMPAT_MIGRATION, MIGRATIONS_DIR, migrationFiles, runMigrations } from './migrate.ts';
export { catalogSchema, defineCatalog, parseCatalog, type Catalog, type CatalogConfig, type CatalogPlan, type CatalogTokenType, type PlanConfig, type TokenTypeConfig } from './catalog/define-catalog.ts';
export { DEFAULT_CATALOG } from './catalog/default-catalog.ts';
export { pushCatalog, type CatalogChange, type CatalogImpact, type CatalogPushResult, type FieldChange, type PushCatalogOptions } from './catalog/push-catalog.ts';
export { TokenGateError, type ProblemDetails } from '../src/core/token-gate-error.ts';
export { ERROR_STATUS, type ErrorCode } from '../src/core/error-codes.ts';
export type * from '../src/core/types.ts';
// A value, beside the wire types: the token type of a grant for every type (gate.grant).
export { ANY_TOKEN_TYPE } from '../src/core/types.ts';
