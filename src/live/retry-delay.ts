/**
 * The default wait before reconnect attempt `attempt` (0 after a connection that worked): the
 * server's minimum (`retry:` field or `Retry-After`, ms; null when it gave none) plus an
 * exponential backoff from 500 ms to 30 s with "equal jitter" (half fixed, half random), so a
 * server restart is not met by every client at the same instant and a failing server is not
 * hammered.
 *
 * @example
 * defaultRetryDelay(0, null);   // 250–500 ms
 * defaultRetryDelay(3, 2000);   // 2000 ms + 2–4 s
 */
export function defaultRetryDelay(attempt: number, minimumMs: number | null, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 500 * 2 ** Math.min(attempt, 16));
  return (minimumMs ?? 0) + Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
