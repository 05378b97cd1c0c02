/**
 * Every error code Tokengate can produce, with its HTTP status. The SQL ledger raises the
 * database codes (see `tokengate.error_codes`); the server adds the HTTP-only ones.
 *
 * The `type` of a problem+json response is `https://tokengate.dev/errors/<code>`.
 */
export const ERROR_STATUS = {
  // raised by the ledger (SQLSTATE TG***)
  invalid_argument: 400,
  unknown_token_type: 404,
  unknown_organization: 404,
  unknown_plan: 404,
  not_a_member: 403,
  admin_required: 403,
  insufficient_tokens: 402,
  plan_blocked: 403,
  member_quota_exceeded: 402,
  idempotency_conflict: 409,
  reservation_not_found: 404,
  reservation_expired: 410,
  reservation_not_pending: 409,
  ledger_immutable: 403,
  owner_required: 403,
  last_owner: 409,
  alert_not_found: 404,
  /** No grant with this id or idempotency key belongs to the organization (`clawback`). */
  grant_not_found: 404,
  /** A catalog push would remove a token type that has balances or member quotas: archive it instead. */
  token_type_in_use: 409,
  /** A catalog push would remove a plan that organizations are on. */
  plan_in_use: 409,
  // added by the server and the client
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** A webhook whose Standard Webhooks signature, secret or timestamp does not verify (`verifyWebhook`). */
  invalid_signature: 400,
  /** A request with this Idempotency-Key is running now: retry after `Retry-After` seconds. */
  request_in_progress: 409,
  /** The work of this Idempotency-Key was already delivered and charged; it is never run twice. */
  request_completed: 409,
  /** Only the app's server may do this (grants, adjustments, plan changes). */
  server_only: 403,
  /** Too many live connections (per user, per organization or per server): retry after `Retry-After` seconds. */
  too_many_connections: 429,
  /** This server cannot stream live balances (disabled, or its store cannot LISTEN): poll instead. */
  live_unavailable: 501,
  unavailable: 503,
  internal: 500,
  network: 0,
  aborted: 0,
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Base of every problem `type` URI. */
export const ERROR_TYPE_BASE = 'https://tokengate.dev/errors/';

/** Whether a string is a known error code. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);
}
