/**
 * Writes `tokengate init`'s files into an app without ever losing the app's own work: a missing
 * file is created; an identical one is left alone; one that differs is overwritten only when the
 * user says so — `--yes`, or "y" to the prompt that follows its diff in a terminal. Without either
 * (stdin is not a terminal: CI, a script) it is kept and reported. Running it twice writes nothing.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Io } from './errors.ts';
import type { ScaffoldFile } from './scaffold-files.ts';
import { unifiedDiff } from './unified-diff.ts';

/** What happened to one file. */
export type WriteOutcome = 'created' | 'unchanged' | 'overwritten' | 'kept';

/** How to treat a file that exists with other content. */
export interface WriteScaffoldOptions {
  /** Overwrite differing files without asking (`--yes`). */
  yes?: boolean;
  /** Ask a yes/no question (a terminal); without it, differing files are kept. */
  ask?: (question: string) => Promise<boolean>;
}

const LABELS: Record<WriteOutcome, string> = { created: 'created', unchanged: 'unchanged', overwritten: 'overwrote', kept: 'kept' };

/**
 * Writes `files` under `root` and prints one line per file (`created`, `unchanged`, `overwrote`,
 * `kept … (differs)`), then a summary line.
 *
 * @example
 * const outcomes = await writeScaffold(root, files, { yes: false }, io);
 * outcomes.every((o) => o.outcome === 'unchanged'); // true on a second run
 */
export async function writeScaffold(root: string, files: ScaffoldFile[], options: WriteScaffoldOptions, io: Io): Promise<{ path: string; outcome: WriteOutcome }[]> {
  const results: { path: string; outcome: WriteOutcome }[] = [];
  for (const file of files) {
    const dest = path.join(root, ...file.path.split('/'));
    let outcome: WriteOutcome;
    if (!existsSync(dest)) {
      await mkdir(path.dirname(dest), { recursive: true });
      // wx: never replace a file that appeared since the check.
      await writeFile(dest, file.content, { flag: 'wx' });
      outcome = 'created';
    } else {
      const current = await readFile(dest, 'utf8');
      if (current === file.content) outcome = 'unchanged';
      else if (options.yes) outcome = 'overwritten';
      else if (options.ask) {
        io.out(unifiedDiff(current, file.content, `${file.path} (yours)`, `${file.path} (tokengate init)`));
        outcome = (await options.ask(`Overwrite ${file.path}? [y/N] `)) ? 'overwritten' : 'kept';
      } else outcome = 'kept';
      if (outcome === 'overwritten') await writeFile(dest, file.content);
    }
    io.out(`${LABELS[outcome].padEnd(10)}${file.path}${outcome === 'kept' ? ' (differs from the template; left as it is)' : ''}`);
    results.push({ path: file.path, outcome });
  }
  const written = results.filter((r) => r.outcome === 'created' || r.outcome === 'overwritten').length;
  const kept = results.filter((r) => r.outcome === 'kept').length;
  if (written === 0 && kept === 0) io.out(`Nothing to write: all ${results.length} files are already in place.`);
  else io.out(`${written} file(s) written, ${results.length - written - kept} already in place${kept ? `, ${kept} kept as they are` : ''}.`);
  if (kept > 0 && !options.ask) {
    io.out('Files you changed are never overwritten without asking: run init in a terminal to see each diff and choose, or add --yes to overwrite them.');
  }
  return results;
}
