/**
 * Child processes for the package tests that run an installed app's own tools (`next build`,
 * `vite build`, `next start`, the installed `tokengate` bin) the way a user's shell would.
 * Shared by consumer-install.test.ts and init-scaffold.test.ts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';

/** What a finished child printed, and its exit code. */
export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A child environment without Vitest's variables (NODE_ENV=test would change what Vite and Next build).
 *
 * @example
 * await ok('next', ['build'], { cwd: app, env: cleanEnv({ DATABASE_URL: url }) });
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^(VITEST|NODE_ENV$|TEST$|__)/.test(key)) env[key] = value;
  return { ...env, NEXT_TELEMETRY_DISABLED: '1', ...extra };
}

/**
 * Runs `command` to the end (stdin is not a terminal).
 *
 * @example
 * const { code, stdout } = await run('node', ['--version'], { cwd: '.' });
 */
export function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), timeout: options.timeout ?? 180_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

/**
 * Runs and expects exit code 0 (the output is in the failure message).
 *
 * @example
 * await ok(path.join(app, 'node_modules', '.bin', 'vite'), ['build'], { cwd: app });
 */
export async function ok(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<ChildResult> {
  const result = await run(command, args, options);
  expect(result.code, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

/**
 * Starts a long-running child and resolves when its output matches `ready`.
 *
 * @example
 * const { child } = await start(nextBin, ['start', '--port', '3000'], app, env, /Ready in/);
 */
export function start(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    // A deadline for a server that never comes up, generous for a loaded machine; readiness is its output.
    const timer = setTimeout(() => reject(new Error(`${command} not ready after 120 s:\n${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}:\n${output}`));
    });
  });
}

/**
 * Stops a child started with `start` (SIGTERM, then SIGKILL after 5 s).
 *
 * @example
 * await stop(child);
 */
export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
