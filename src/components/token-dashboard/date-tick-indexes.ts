/**
 * Which of `count` consecutive days get a label on the date axis: at most `max`, evenly spaced,
 * counted back from the last day (the most recent day is always labelled), in ascending order.
 *
 * @example
 * dateTickIndexes(7)   // [0, 2, 4, 6]
 * dateTickIndexes(92)  // [11, 27, 43, 59, 75, 91]
 */
export function dateTickIndexes(count: number, max = 6): number[] {
  if (count <= 0) return [];
  const step = Math.max(1, Math.ceil(count / max));
  const out: number[] = [];
  for (let i = count - 1; i >= 0; i -= step) out.unshift(i);
  return out;
}
