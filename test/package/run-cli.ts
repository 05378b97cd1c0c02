import { execFile } from 'node:child_process';
import { expect } from 'vitest';
import { CLI } from './build.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`node dist/cli.js …args`, or another copy of it: `cli`) as a process. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; cli?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [options.cli ?? CLI, ...args], { cwd: options.cwd, env: options.env ?? { PATH: process.env.PATH } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A CLI failure as users see it: the exit code, nothing on stdout, one line on stderr, no stack trace. */
export function expectOneLineFailure(result: CliResult, code: 1 | 2, label: string): void {
  expect(result.code, `${label}: ${result.stderr}`).toBe(code);
  expect(result.stdout, label).toBe('');
  expect(result.stderr.trim().split('\n'), label).toHaveLength(1);
  expect(result.stderr, label).not.toMatch(/\n\s+at /);
}
