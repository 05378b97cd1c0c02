/**
 * Streamed answers of guarded routes, framework-free: read one to its end with the guard's charge
 * event split off, or pass it on without it. A separate entry point, so an app that does not
 * stream carries none of it.
 *
 * @example
 * import { readGuardedStream } from 'tokengate/stream';
 */
export {
  readGuardedStream,
  type GuardedStreamEvent,
  type GuardedStreamResult,
  type ReadGuardedStreamOptions,
} from './read-guarded-stream.ts';
export { stripChargeEvent, type StreamEnd, type StripChargeEventOptions } from './strip-charge-event.ts';
