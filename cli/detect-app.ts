/**
 * What `tokengate init --next | --vite` needs to know about the app it scaffolds into, read from
 * its files: the dependencies in package.json, Next's App Router folder (`app/` or `src/app/`),
 * TypeScript (a tsconfig.json) or JavaScript, and whether sources live under `src/`.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CommandError } from './errors.ts';

/** The app frameworks `tokengate init` scaffolds for. */
export type Framework = 'next' | 'vite';

/** The layout of the app, as detected. Paths are relative to `root`, with `/` separators. */
export interface AppLayout {
  framework: Framework;
  /** The app's folder (absolute). */
  root: string;
  /** A tsconfig.json is there: write `.ts`/`.tsx` files, else `.js`/`.jsx`. */
  typescript: boolean;
  /** Next: the App Router folder (`app` or `src/app`). Vite: the sources folder (`src`, or `.` without one). */
  sourceDir: string;
  /** package.json has `"type": "module"` (plain `.js` server files are ES modules there). */
  esm: boolean;
  /** The package manager the lockfile names (for the install hint). */
  packageManager: 'npm' | 'pnpm' | 'yarn' | 'bun';
  /** Packages the written files import that package.json does not list yet. */
  missing: { dependencies: string[]; devDependencies: string[] };
}

interface PackageJson {
  type?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const isDir = (file: string) => existsSync(file) && statSync(file).isDirectory();

/**
 * Reads the app at `root` and checks it is a `framework` app tokengate init can scaffold into.
 * Throws `CommandError` (one line saying what is missing) when it is not.
 *
 * @example
 * const layout = await detectApp(process.cwd(), 'next');
 * layout.sourceDir; // 'src/app'
 */
export async function detectApp(root: string, framework: Framework): Promise<AppLayout> {
  const flag = `tokengate init --${framework}`;
  const manifestFile = path.join(root, 'package.json');
  if (!existsSync(manifestFile)) throw new CommandError(`${flag}: no package.json in ${root}; run it in your app's folder (or pass --dir)`);
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(await readFile(manifestFile, 'utf8')) as PackageJson;
  } catch (error) {
    throw new CommandError(`${flag}: cannot read ${manifestFile}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const deps = { ...pkg.devDependencies, ...pkg.dependencies };
  const has = (name: string) => typeof deps[name] === 'string';

  let sourceDir: string;
  if (framework === 'next') {
    if (!has('next')) throw new CommandError(`${flag}: package.json lists no "next" dependency; is this a Next.js app? (--vite scaffolds a Vite app)`);
    // Next.js uses app/ when both exist, and ignores src/app/ then.
    if (isDir(path.join(root, 'app'))) sourceDir = 'app';
    else if (isDir(path.join(root, 'src', 'app'))) sourceDir = 'src/app';
    else if (isDir(path.join(root, 'pages')) || isDir(path.join(root, 'src', 'pages'))) {
      throw new CommandError(`${flag}: this app uses the Pages Router (pages/); init writes App Router files (app/). See the README's manual steps.`);
    } else throw new CommandError(`${flag}: no app/ or src/app/ folder (the App Router) in ${root}`);
  } else {
    if (!has('vite')) throw new CommandError(`${flag}: package.json lists no "vite" dependency; is this a Vite app? (--next scaffolds a Next.js app)`);
    if (!has('react')) throw new CommandError(`${flag}: package.json lists no "react" dependency; the kit's components need React 19`);
    sourceDir = isDir(path.join(root, 'src')) ? 'src' : '.';
  }

  const typescript = existsSync(path.join(root, 'tsconfig.json'));
  const wanted = ['tokengate', '@tanstack/react-query', 'pg', ...(framework === 'vite' ? ['hono', '@hono/node-server'] : [])];
  // The Vite app's TypeScript API server runs with tsx (Node 20 cannot run .ts files itself).
  const wantedDev = framework === 'vite' && typescript ? ['tsx'] : [];
  return {
    framework,
    root,
    typescript,
    sourceDir,
    esm: pkg.type === 'module',
    packageManager: existsSync(path.join(root, 'pnpm-lock.yaml'))
      ? 'pnpm'
      : existsSync(path.join(root, 'yarn.lock'))
        ? 'yarn'
        : existsSync(path.join(root, 'bun.lock')) || existsSync(path.join(root, 'bun.lockb'))
          ? 'bun'
          : 'npm',
    missing: { dependencies: wanted.filter((name) => !has(name)), devDependencies: wantedDev.filter((name) => !has(name)) },
  };
}
