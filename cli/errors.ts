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
  /** Raw output without an added newline (streamed exports); resolves when it may write again. */
  write?: (chunk: string) => Promise<void>;
}

/** The first error stdout reported (EPIPE when the reader went away, e.g. `| head`). */
let stdoutError: Error | undefined;
let listening = false;

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  write: (chunk) =>
    new Promise((resolve, reject) => {
      if (!listening) {
        listening = true;
        process.stdout.on('error', (err) => {
          stdoutError ??= err;
        });
      }
      if (stdoutError) return reject(stdoutError);
      // Wait for the pipe to drain (or to break: a closed reader fails the write).
      process.stdout.write(chunk, (err) => (err ? reject(err) : resolve()));
    }),
};
