/** Ticks of a count axis: round steps from 0 to `top` (the axis maximum, ≥ the data's peak). */
export interface NiceTicks {
  /** 0, step, 2·step, …, top. */
  ticks: number[];
  /** The axis maximum: bars are drawn as a fraction of it. */
  top: number;
}

/**
 * Round ticks for an axis of whole counts from 0 to at least `max`: about `target` steps of
 * 1, 2, 2.5 or 5 × 10ⁿ (never a fraction of a token), the last tick at or above `max`.
 *
 * @example
 * niceTicks(40)  // { ticks: [0, 10, 20, 30, 40], top: 40 }
 * niceTicks(7)   // { ticks: [0, 2, 4, 6, 8], top: 8 }
 * niceTicks(0)   // { ticks: [0, 1], top: 1 }
 */
export function niceTicks(max: number, target = 4): NiceTicks {
  if (!(max > 0) || !Number.isFinite(max)) return { ticks: [0, 1], top: 1 };
  const raw = max / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  let step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * magnitude;
  // Tokens are whole: 2.5 (or anything below 1) is not a step on this axis.
  if (!Number.isInteger(step)) step = Math.max(1, Math.ceil(step));
  const count = Math.ceil(max / step);
  return { ticks: Array.from({ length: count + 1 }, (_, i) => i * step), top: count * step };
}
