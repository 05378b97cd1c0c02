/**
 * Installs a consumer app's node_modules without npm, its cache or the network, so the consumer
 * tests pass whatever state the npm cache is in (an `npm install --offline <name>@<version>` needs
 * packuments that `npm ci` never stores, and an online install would make the test depend on the
 * registry):
 * - the packed tarball is unpacked into `node_modules/<its name>`, exactly the files `npm pack` put
 *   in it, as npm would;
 * - every other package comes from this repository's own `node_modules` (installed from
 *   package-lock.json, so at the locked versions), together with everything it needs at run time
 *   (dependencies, installed optional dependencies, required peers), in the same layout;
 * - `node_modules/.bin` gets a link for every `bin` of a top-level package, as npm makes them.
 * Files are hard-linked (copied when the app is on another file system): a Next.js install is
 * ~300 MB. They are real directories, not symlinks, because Turbopack refuses to compile files
 * outside the app's root.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './build.ts';

const run = promisify(execFile);

interface Manifest {
  name: string;
  bin?: string | Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

async function manifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** Where Node would find package `name` from `dir` inside the repository, or null. */
function resolveInProject(name: string, dir: string): string | null {
  for (let at = dir; ; at = path.dirname(at)) {
    const candidate = path.join(at, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (at === ROOT || path.dirname(at) === at) return null;
  }
}

/** Package directories (inside the repository) that `names` need at run time, themselves included. */
async function closure(names: readonly string[], from: string): Promise<Set<string>> {
  const found = new Set<string>();
  const queue: { name: string; from: string; optional: boolean }[] = names.map((name) => ({ name, from, optional: false }));
  while (queue.length > 0) {
    const { name, from, optional } = queue.shift()!;
    const dir = resolveInProject(name, from);
    if (!dir) {
      if (optional) continue; // e.g. another platform's binary
      throw new Error(`${name} (needed from ${path.relative(ROOT, from) || '.'}) is not installed in ${ROOT}/node_modules: run npm ci`);
    }
    if (found.has(dir)) continue;
    found.add(dir);
    const m = await manifest(dir);
    for (const dep of Object.keys(m.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(m.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true });
    for (const dep of Object.keys(m.peerDependencies ?? {})) {
      queue.push({ name: dep, from: dir, optional: m.peerDependenciesMeta?.[dep]?.optional === true });
    }
  }
  return found;
}

/** Mirror `src` at `dest`: hard links for files (copies across file systems), symlinks as they are. */
async function linkTree(src: string, dest: string): Promise<void> {
  const info = await lstat(src);
  if (info.isSymbolicLink()) {
    await symlink(await readlink(src), dest);
  } else if (info.isDirectory()) {
    await mkdir(dest, { recursive: true });
    for (const entry of await readdir(src)) await linkTree(path.join(src, entry), path.join(dest, entry));
  } else {
    try {
      await link(src, dest);
    } catch (error) {
      if (!['EXDEV', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      await copyFile(src, dest);
    }
  }
}

/** `node_modules/.bin/<name>` → the package's bin file, for every top-level package, as npm does. */
async function linkBins(nodeModules: string): Promise<void> {
  const bin = path.join(nodeModules, '.bin');
  await mkdir(bin, { recursive: true });
  const packages: string[] = [];
  for (const entry of await readdir(nodeModules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) for (const scoped of await readdir(path.join(nodeModules, entry))) packages.push(`${entry}/${scoped}`);
    else packages.push(entry);
  }
  for (const name of packages) {
    const m = await manifest(path.join(nodeModules, name));
    const bins = typeof m.bin === 'string' ? { [m.name.split('/').pop()!]: m.bin } : (m.bin ?? {});
    for (const [command, file] of Object.entries(bins)) {
      const target = path.join(nodeModules, name, file);
      await chmod(target, 0o755);
      await rm(path.join(bin, command), { force: true });
      await symlink(path.relative(bin, target), path.join(bin, command));
    }
  }
}

/**
 * Install `tarball` and `packages` (names; their versions are the ones this repository has
 * installed) into `appDir/node_modules`.
 *
 * @example
 * await installFromProject(dir, '/tmp/tokengate-0.0.0.tgz', ['react', 'react-dom', 'vite']);
 */
export async function installFromProject(appDir: string, tarball: string, packages: readonly string[]): Promise<void> {
  const nodeModules = path.join(appDir, 'node_modules');
  await mkdir(nodeModules, { recursive: true });

  // The tarball, unpacked as npm does (its files live under `package/`).
  const unpacked = await mkdtemp(path.join(appDir, '.unpack-'));
  await run('tar', ['-xzf', tarball, '-C', unpacked]);
  const own = await manifest(path.join(unpacked, 'package'));
  await mkdir(path.dirname(path.join(nodeModules, own.name)), { recursive: true });
  await rename(path.join(unpacked, 'package'), path.join(nodeModules, own.name));
  await rm(unpacked, { recursive: true, force: true });

  // The packed package's own dependencies must come from its manifest, not from the app's list:
  // a dependency missing there fails here as it would for a user.
  const dirs = await closure([...packages, ...Object.keys(own.dependencies ?? {})], ROOT);
  // Copying a package copies the packages nested in it: only the outermost directories are copied.
  const outermost = [...dirs].filter((dir) => ![...dirs].some((other) => other !== dir && dir.startsWith(other + path.sep)));
  for (const dir of outermost) await linkTree(dir, path.join(appDir, path.relative(ROOT, dir)));
  await linkBins(nodeModules);
}
