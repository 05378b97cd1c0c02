import { TokenGateError } from '../../src/core/token-gate-error.ts';

/**
 * Turn any thrown value into an RFC 9457 `application/problem+json` Response. A `TokenGateError`
 * keeps its code and status; anything else is a 500 `internal` that says nothing about the cause.
 *
 * @example
 * try { return json(await gate.balances(ctx)) } catch (e) { return problemResponse(e) }
 */
export function problemResponse(error: unknown, headers: HeadersInit = {}): Response {
  const tgError = error instanceof TokenGateError ? error : new TokenGateError('internal', 'Unexpected error.');
  const problem = tgError.toProblem();
  const response = new Response(JSON.stringify(problem), {
    status: problem.status || 500,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...headersObject(headers) },
  });
  if (problem.status === 401) response.headers.set('www-authenticate', 'Bearer');
  return response;
}

function headersObject(headers: HeadersInit): Record<string, string> {
  return Object.fromEntries(new Headers(headers).entries());
}
