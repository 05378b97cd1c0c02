/**
 * Builds `dist/` once for the package tests: `npm run build`'s script in a child process (so the
 * build sees a plain Node environment, not the Vitest worker), under a lock so that test files
 * running in parallel workers don't build at the same time, and skipped when `dist/` is newer
 * than every input.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = path.join(ROOT, 'dist');
export const CLI = path.join(DIST, 'cli.js');

const STAMP = path.join(ROOT, 'node_modules', '.cache', 'tokengate-build-stamp');
const LOCK = path.join(ROOT, 'node_modules', '.cache', 'tokengate-build.lock');
const INPUTS = ['src', 'server', 'cli', 'scripts', 'migrations', 'package.json', 'tsconfig.build.json'];

async function newestMtime(target: string): Promise<number> {
  const info = await stat(target);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(target)) newest = Math.max(newest, await newestMtime(path.join(target, entry)));
  return newest;
}

async function isFresh(): Promise<boolean> {
  if (!existsSync(STAMP) || !existsSync(CLI)) return false;
  const built = (await stat(STAMP)).mtimeMs;
  for (const input of INPUTS) if ((await newestMtime(path.join(ROOT, input))) > built) return false;
  return true;
}

/** Whether the process that took the lock is gone (a crashed run); a lock without an owner yet is not. */
async function lockIsStale(): Promise<boolean> {
  const owner = Number(await readFile(path.join(LOCK, 'pid'), 'utf8').catch(() => 'NaN'));
  if (!Number.isInteger(owner)) {
    // Just created, its pid not written yet; only a crash between the two leaves it like this.
    const age = Date.now() - (await stat(LOCK).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    return age > 120_000;
  }
  try {
    process.kill(owner, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(LOCK), { recursive: true });
  // Test files build in parallel workers; on a loaded machine a build can take minutes, so the
  // lock is broken only when its owner is dead, never for its age alone.
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      await mkdir(LOCK);
      await writeFile(path.join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await lockIsStale()) await rm(LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK}`);
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}

/** Builds `dist/` unless it is up to date; returns the build time in ms (0 when skipped). */
export async function ensureBuilt(): Promise<number> {
  return withLock(async () => {
    if (await isFresh()) return 0;
    const started = performance.now();
    await run(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [path.join(ROOT, 'scripts', 'build.ts')], {
      cwd: ROOT,
      // Vitest sets NODE_ENV=test, which makes Vite emit React's dev JSX runtime (`jsxDEV`, undefined in production React).
      env: { ...process.env, NODE_ENV: 'production' },
    });
    await writeFile(STAMP, new Date().toISOString());
    return performance.now() - started;
  });
}
