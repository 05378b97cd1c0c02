import { execFile } from 'node:child_process';
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
