/**
 * A unified diff of two texts, line by line (`diff -u` style, 3 lines of context), for showing what
 * `tokengate init` would change in a file before it asks. Scaffold files are small, so a plain
 * longest-common-subsequence table is fast enough.
 *
 * @example
 * unifiedDiff('a\nb\n', 'a\nc\n', 'app/x.ts (yours)', 'app/x.ts (template)');
 * // --- app/x.ts (yours)\n+++ app/x.ts (template)\n@@ -1,2 +1,2 @@\n a\n-b\n+c
 */
export function unifiedDiff(before: string, after: string, beforeLabel: string, afterLabel: string, context = 3): string {
  const a = splitLines(before);
  const b = splitLines(after);
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: { kind: ' ' | '-' | '+'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: ' ', line: a[i]! });
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      ops.push({ kind: '-', line: a[i++]! }); // removals first, as diff -u prints them
    } else {
      ops.push({ kind: '+', line: b[j++]! });
    }
  }
  const changed = ops.map((op, index) => (op.kind === ' ' ? -1 : index)).filter((index) => index >= 0);
  if (changed.length === 0) return '';

  // Hunks: runs of changes whose contexts touch or overlap.
  const hunks: [number, number][] = [];
  for (const index of changed) {
    const start = Math.max(0, index - context);
    const end = Math.min(ops.length - 1, index + context);
    const last = hunks.at(-1);
    if (last && start <= last[1] + 1) last[1] = end;
    else hunks.push([start, end]);
  }
  const out = [`--- ${beforeLabel}`, `+++ ${afterLabel}`];
  for (const [start, end] of hunks) {
    const slice = ops.slice(start, end + 1);
    // Line numbers (1-based) where the hunk starts in each text; 0 when that side has no line in it.
    const aCount = slice.filter((op) => op.kind !== '+').length;
    const bCount = slice.filter((op) => op.kind !== '-').length;
    const aStart = countBefore(ops, start, '+') + (aCount > 0 ? 1 : 0);
    const bStart = countBefore(ops, start, '-') + (bCount > 0 ? 1 : 0);
    out.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`);
    for (const op of slice) out.push(`${op.kind}${op.line}`);
  }
  return out.join('\n');
}

/** Lines of the other side before `index` (the lines of `skip` kind do not exist on this side). */
function countBefore(ops: { kind: string }[], index: number, skip: string): number {
  let n = 0;
  for (let k = 0; k < index; k++) if (ops[k]!.kind !== skip) n++;
  return n;
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
