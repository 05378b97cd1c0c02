/**
 * React bindings for streamed answers of guarded routes: `useGuardedFetch`, the pre-authorised
 * `fetch` for libraries that fetch themselves (the AI SDK's `useChat`). A separate entry point, so
 * an app that does not stream carries none of it.
 *
 * @example
 * import { useGuardedFetch } from 'tokengate/react/stream';
 */
export { useGuardedFetch, type GuardedFetch, type UseGuardedFetchOptions } from './use-guarded-fetch.ts';
