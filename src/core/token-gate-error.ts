import { ERROR_STATUS, ERROR_TYPE_BASE, isErrorCode, type ErrorCode } from './error-codes.ts';

/** RFC 9457 problem details, as Tokengate's HTTP API returns them. */
export interface ProblemDetails {
  /** `https://tokengate.dev/errors/<code>` */
  type: string;
  /** Short, human-readable summary of the problem type. */
  title: string;
  /** HTTP status code. */
  status: number;
  /** Human-readable explanation of this occurrence. */
  detail?: string;
  /** The stable error code (also the last path segment of `type`). */
  code: ErrorCode;
  /** Facts about the occurrence, e.g. `{ available: 2, required: 3 }` for insufficient_tokens. */
  facts?: Record<string, unknown>;
  /** Field-level problems of an invalid request. */
  errors?: { path: string; message: string }[];
}

/**
 * The one error type of Tokengate, on the server and in the client: a stable `code`, the HTTP
 * `status`, a human `detail` and structured `facts`.
 *
 * @example
 * try { await gate.deduct(ctx, 'quest_generation', { idempotencyKey }) }
 * catch (e) { if (e instanceof TokenGateError && e.code === 'insufficient_tokens') showUpgrade(e.facts) }
 */
export class TokenGateError extends Error {
  override readonly name = 'TokenGateError';
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** HTTP status this error maps to (0 for client-side network/abort errors). */
  readonly status: number;
  /** Structured facts about the occurrence. */
  readonly facts: Record<string, unknown>;
  /** Field-level problems, for invalid_request. */
  readonly errors: { path: string; message: string }[] | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    options: { facts?: Record<string, unknown>; errors?: { path: string; message: string }[]; cause?: unknown } = {},
  ) {
    super(detail ?? code, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.facts = options.facts ?? {};
    this.errors = options.errors;
  }

  /** This error as RFC 9457 problem details (never includes the cause). */
  toProblem(): ProblemDetails {
    return {
      type: ERROR_TYPE_BASE + this.code,
      title: this.code.replaceAll('_', ' '),
      status: this.status,
      detail: this.message,
      code: this.code,
      ...(Object.keys(this.facts).length > 0 ? { facts: this.facts } : {}),
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }

  /**
   * Rebuild the error from a problem+json body (as the client receives it). Unknown shapes become
   * `internal` with the status kept in facts.
   */
  static fromProblem(body: unknown, status: number): TokenGateError {
    const problem = (body ?? {}) as Partial<ProblemDetails>;
    const code = isErrorCode(problem.code) ? problem.code : 'internal';
    return new TokenGateError(code, typeof problem.detail === 'string' ? problem.detail : undefined, {
      facts: problem.facts ?? (code === 'internal' ? { status } : {}),
      ...(problem.errors ? { errors: problem.errors } : {}),
    });
  }
}
