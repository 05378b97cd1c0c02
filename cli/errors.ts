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

/**
 * Without a listener, a write to a pipe whose reader is gone (`tokengate init | head -5`) crashes
 * the process with an "Unhandled 'error' event" stack trace. With it, stdout is treated as closed:
 * further lines are dropped and the command finishes with its own exit code.
 */
function watchStdout(): void {
  if (listening) return;
  listening = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    stdoutError ??= err;
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED' && stdoutError === err) {
      process.stderr.write(`tokengate: cannot write to stdout: ${err.message}\n`);
      process.exitCode = 1;
    }
  });
}

export const processIo: Io = {
  out: (line) => {
    watchStdout();
    if (!stdoutError) process.stdout.write(`${line}\n`);
  },
  err: (line) => process.stderr.write(`${line}\n`),
  write: (chunk) =>
    new Promise((resolve, reject) => {
      watchStdout();
      if (stdoutError) return reject(stdoutError);
      // Wait for the pipe to drain (or to break: a closed reader fails the write).
      process.stdout.write(chunk, (err) => (err ? reject(err) : resolve()));
    }),
};
