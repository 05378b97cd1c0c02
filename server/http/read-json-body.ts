import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { BodyTooLargeError, readLimited } from './read-limited.ts';

/**
 * Options of `readJsonBody`.
 *
 * @example
 * const options: ReadJsonBodyOptions = { maxBytes: 16384, optional: true };
 */
export interface ReadJsonBodyOptions {
  /** Largest body accepted, in bytes; enforced while reading, so a larger one is never buffered. */
  maxBytes: number;
  /** Whether an empty body (no bytes at all) is allowed; it reads as `undefined`. */
  optional?: boolean;
}

/**
 * Read a request's JSON body safely: `Content-Type` must be `application/json` (charset, if given,
 * UTF-8) or it is a 415; the size limit is enforced on `Content-Length` and again while streaming
 * (413); the bytes must be valid UTF-8 and valid JSON (400 `invalid_request` with
 * `errors: [{ path: 'body', message }]`).
 *
 * @example
 * const body = await readJsonBody(request, { maxBytes: 16384 });
 * const release = await readJsonBody(request, { maxBytes: 16384, optional: true }); // undefined if empty
 */
export async function readJsonBody(request: Request, options: ReadJsonBodyOptions): Promise<unknown> {
  const { maxBytes, optional = false } = options;
  const contentType = request.headers.get('content-type');
  if (contentType !== null || !optional) assertJsonMediaType(contentType);

  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared.trim()) > maxBytes) throw tooLarge(maxBytes);

  let bytes: Uint8Array;
  try {
    bytes = await readLimited(request.body, maxBytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw tooLarge(maxBytes);
    throw invalid('The body could not be read.');
  }
  if (bytes.byteLength === 0) {
    if (optional) return undefined;
    throw invalid('A JSON body is required.');
  }
  // Only a JSON media type reaches here with a non-empty body.
  if (contentType === null) assertJsonMediaType(contentType);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw invalid('The body is not valid UTF-8.');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalid('The body is not valid JSON.');
  }
}

function assertJsonMediaType(contentType: string | null): void {
  if (contentType === null) throw new TokenGateError('unsupported_media_type', 'Send the body as Content-Type: application/json.');
  const [type = '', ...params] = contentType.split(';');
  const charset = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('charset='));
  const charsetValue = charset?.slice('charset='.length).replace(/^"(.*)"$/, '$1');
  if (type.trim().toLowerCase() !== 'application/json' || (charsetValue !== undefined && charsetValue !== 'utf-8' && charsetValue !== 'utf8')) {
    throw new TokenGateError('unsupported_media_type', 'Send the body as Content-Type: application/json (UTF-8).');
  }
}

function tooLarge(maxBytes: number): TokenGateError {
  return new TokenGateError('payload_too_large', `The body must be at most ${maxBytes} bytes.`, { facts: { maxBytes } });
}

function invalid(message: string): TokenGateError {
  return new TokenGateError('invalid_request', message, { errors: [{ path: 'body', message }] });
}
