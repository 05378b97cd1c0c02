import { queryOptions } from '@tanstack/react-query';
import type { ExpiringGrantRow, NearExhaustionRow, OperatorTopRow, SpikeRow } from '../../server/operator/types.ts';

/**
 * Where the operator's console reads: the app's OWN admin API path, which checks that the caller
 * is an operator and forwards to Tokengate's `/operator/*` routes with the server credential.
 * The credential never reaches the browser.
 *
 * @example
 * const source: OperatorSource = { baseUrl: '/admin/api/tokengate', fetch: (url, init) => fetch(url, { ...init, credentials: 'include' }) };
 */
export interface OperatorSource {
  /** Base URL the `operator/…` paths are appended to, e.g. `/admin/api/tokengate`. */
  baseUrl: string;
  /** The fetch to use (default: the global `fetch`), e.g. one that adds the operator's session. */
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
}

/** An answer of an operator route that was not 200: its status and problem `code` when it had one. */
export class OperatorRequestError extends Error {
  override name = 'OperatorRequestError';
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** GET `path` with `params` (undefined ones left out) from the app's admin API. */
async function getJson<T>(source: OperatorSource, path: string, params: Record<string, string | number | undefined>, signal?: AbortSignal): Promise<T> {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, String(value));
  const url = `${source.baseUrl.replace(/\/+$/, '')}/${path}${query.size > 0 ? `?${query}` : ''}`;
  const response = await (source.fetch ?? fetch)(url, { headers: { accept: 'application/json' }, signal });
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as { code?: string; detail?: string } | null;
    throw new OperatorRequestError(response.status, problem?.code ?? null, problem?.detail ?? `${path} answered ${response.status}`);
  }
  return (await response.json()) as T;
}

/** Query keys of the console: under `['tokengate', 'operator', …]`, apart from the member kit's. */
const key = (source: OperatorSource, name: string, params: object) => ['tokengate', 'operator', source.baseUrl, name, params] as const;

/**
 * TanStack Query options of the four operator reads, for the console or an app's own screens.
 *
 * @example
 * const { data } = useQuery(operatorQueryOptions.top(source, { from: '2028-01-01', to: '2028-01-31' }));
 */
export const operatorQueryOptions = {
  top: (source: OperatorSource, params: { from: string; to: string; tokenType?: string; limit?: number }) =>
    queryOptions({ queryKey: key(source, 'top', params), queryFn: ({ signal }) => getJson<OperatorTopRow[]>(source, 'operator/top', params, signal) }),
  nearExhaustion: (source: OperatorSource, params: { percent?: number; limit?: number } = {}) =>
    queryOptions({
      queryKey: key(source, 'near-exhaustion', params),
      queryFn: ({ signal }) => getJson<NearExhaustionRow[]>(source, 'operator/near-exhaustion', params, signal),
    }),
  spikes: (source: OperatorSource, params: { day: string; windowDays?: number; factor?: number; minTokens?: number }) =>
    queryOptions({ queryKey: key(source, 'spikes', params), queryFn: ({ signal }) => getJson<SpikeRow[]>(source, 'operator/spikes', params, signal) }),
  expiringGrants: (source: OperatorSource, params: { withinDays?: number; limit?: number } = {}) =>
    queryOptions({
      queryKey: key(source, 'expiring-grants', params),
      queryFn: ({ signal }) => getJson<ExpiringGrantRow[]>(source, 'operator/expiring-grants', params, signal),
    }),
};
