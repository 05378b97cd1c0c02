import { TokenGateError } from '../core/token-gate-error.ts';

/**
 * Internal: a loader of code the kit loads on demand (`import()`) that loads it once, for every
 * caller, and again after a failure (offline, or a new deploy that removed the old chunk) — which
 * rejects as a `network` TokenGateError with `detail`, the cause kept.
 *
 * @example
 * const loadRun = loadOnce(() => import('./run-token-gate.ts'), 'The run could not start: its code did not load.');
 * const { runTokenGate } = await loadRun();
 */
export function loadOnce<T>(load: () => Promise<T>, detail: string): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((cause: unknown) => {
      loading = undefined;
      throw new TokenGateError('network', detail, { cause });
    }));
}
