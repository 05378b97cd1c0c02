/** A mistake in how the CLI was called (unknown option, missing value…): one line on stderr, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the user must act on (drift, a changed file, an unreachable database): one line per problem, exit code 1. */
export class CommandError extends Error {
  override name = 'CommandError';
}

/** Where a command writes; swapped in tests. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};
