import { isErrorCode } from '../../src/core/error-codes.ts';
import { TokenGateError } from '../../src/core/token-gate-error.ts';

/** SQLSTATE classes and driver codes that mean "the database cannot be reached right now". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P)/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH']);

/**
 * Turn whatever a database driver threw into a `TokenGateError`. The ledger raises its errors with
 * a `TG***` SQLSTATE, the stable code as message and JSON facts as detail; those keep their code.
 * Connection failures become `unavailable`; everything else `internal`, with the original kept
 * only as `cause` (never in the message: no SQL text reaches a client).
 *
 * @example
 * try { await pool.query(text, values) } catch (e) { throw databaseError(e) }
 */
export function databaseError(error: unknown): TokenGateError {
  if (error instanceof TokenGateError) return error;
  const e = (error ?? {}) as { code?: unknown; message?: unknown; detail?: unknown; details?: unknown; hint?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (code.startsWith('TG') && isErrorCode(message)) {
    return new TokenGateError(message, typeof e.hint === 'string' && e.hint ? e.hint : undefined, {
      facts: parseFacts(e.detail ?? e.details),
      cause: error,
    });
  }
  if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code) || isConnectionMessage(message)) {
    return new TokenGateError('unavailable', 'The token ledger is unavailable. Try again shortly.', { cause: error });
  }
  return new TokenGateError('internal', 'The token ledger failed unexpectedly.', { cause: error });
}

function parseFacts(detail: unknown): Record<string, unknown> {
  if (typeof detail !== 'string' || detail === '') return {};
  try {
    const parsed: unknown = JSON.parse(detail);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function isConnectionMessage(message: string): boolean {
  return /connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Connection terminated|fetch failed/i.test(message);
}
