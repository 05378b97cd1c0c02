/**
 * Headers every JSON and export response of the API carries.
 *
 * @example
 * new Response(stream, { headers: { 'content-type': 'text/csv', ...API_HEADERS } });
 */
export const API_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

/**
 * A JSON API response: `application/json`, never cached.
 *
 * @example
 * return jsonResponse(await gate.balances(ctx));
 * return jsonResponse(reservation, 201, { 'idempotent-replayed': 'true' });
 */
export function jsonResponse(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: { 'content-type': 'application/json', ...API_HEADERS, ...headers },
  });
}
