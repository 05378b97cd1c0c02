/**
 * `tokengate demo`: starts the playground (`demo/start.mjs`, as `npm start` does) when run from the repository.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { intOption } from './admin.ts';
import { parseCommandArgs } from './args.ts';
import { CommandError, type Io } from './errors.ts';

export const DEMO_HELP = `Usage: tokengate demo [--port <n>] [--reset]

Starts the Tokengate playground (the real API, guard and React kit over embedded PGlite, or
DATABASE_URL when set) on http://127.0.0.1:<port>. The playground's sources live in the
repository, not in the npm package: run this from a clone (after npm install), where it is the
same as 'npm start'. Stop it with Ctrl+C.

Options:
  --port <n>    port to listen on (default: $PORT or 5173)
  --reset       wipe the playground's local data and seed it again
  -h, --help    show this help`;

/** The package root: the folder above `cli/` (source) or `dist/` (built). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function demo(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs('demo', argv, { port: { type: 'string' }, reset: { type: 'boolean' } });
  if (values.help) {
    io.out(DEMO_HELP);
    return 0;
  }
  const port = values.port === undefined ? undefined : intOption('demo', 'port', values.port, 0, 65_535);
  const server = path.join(ROOT, 'demo', 'start.mjs');
  const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
  if (!existsSync(server) || !existsSync(tsx)) {
    throw new CommandError(
      existsSync(server)
        ? "tokengate demo: the playground needs the repository's dev dependencies: run 'npm install' in the repository first."
        : "tokengate demo: the playground is not part of the npm package; clone the tokengate repository, run 'npm install', then 'npx tokengate demo' (or 'npm start') there.",
    );
  }
  const args = [server, ...(port === undefined ? [] : ['--port', String(port)]), ...(values.reset ? ['--reset'] : [])];
  // start.mjs registers tsx itself (a dev dependency: checked above).
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt).on('SIGTERM', onTerm);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (err) => reject(new CommandError(`tokengate demo: cannot start the playground: ${err.message}`)));
      child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1)));
    });
  } finally {
    process.off('SIGINT', onInt).off('SIGTERM', onTerm);
  }
}
