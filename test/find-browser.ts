/**
 * Where the browser suites (Storybook stories in Vitest browser mode, the playground e2e, the
 * consumer app) find a Chromium to drive. Never downloads one: the machines here cannot.
 *
 * Looked for in this order:
 * 1. `CHROMIUM_PATH` (when set it is the only candidate: a wrong value is reported, not skipped over);
 * 2. the system browsers: Debian's `/usr/bin/chromium`, `chromium-browser`, the snap, Google Chrome
 *    (stable) on Linux, Chromium and Google Chrome on macOS;
 * 3. a browser Playwright already installed (`playwright-core`'s `chromium.executablePath()`),
 *    used only when that file exists.
 *
 * Run as a script (`tsx test/find-browser.ts`) it prints the path, or the hint and exits 1: that is
 * how `.ci/run` decides whether to install Debian's Chromium.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** System locations of Chromium-family browsers, most likely first. */
export const SYSTEM_BROWSER_PATHS: readonly string[] = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/snap/bin/chromium',
  '/usr/bin/google-chrome-stable',
  '/usr/bin/google-chrome',
  '/opt/google/chrome/chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

/** What to do when there is none: printed once when the browser suites are skipped, or thrown under CI. */
export const BROWSER_HINT =
  'no Chromium found: install one (Debian/Ubuntu: `apt-get install -y chromium`) or set CHROMIUM_PATH=/path/to/chromium-or-chrome';

/** The outcome of a search: a path, or why there is none. */
export type BrowserSearch = { path: string; reason: null } | { path: null; reason: string };

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The executable playwright-core would launch by default, or null when it cannot say. */
function playwrightBrowserPath(): string | null {
  try {
    const { chromium } = createRequire(import.meta.url)('playwright-core') as { chromium: { executablePath(): string } };
    return chromium.executablePath() || null;
  } catch {
    return null; // playwright-core not installed, or no build known for this platform
  }
}

/**
 * Find a Chromium to drive.
 *
 * @example
 * const found = findBrowser();
 * if (found.path) await chromium.launch({ executablePath: found.path });
 */
export function findBrowser(
  env: NodeJS.ProcessEnv = process.env,
  candidates: readonly string[] = SYSTEM_BROWSER_PATHS,
  playwrightPath: () => string | null = playwrightBrowserPath,
): BrowserSearch {
  const override = env.CHROMIUM_PATH;
  if (override) {
    return isExecutableFile(override) ? { path: override, reason: null } : { path: null, reason: `CHROMIUM_PATH=${override} is not an executable file (fix or unset it; ${BROWSER_HINT})` };
  }
  const fromPlaywright = playwrightPath();
  for (const file of [...candidates, ...(fromPlaywright ? [fromPlaywright] : [])]) {
    if (isExecutableFile(file)) return { path: file, reason: null };
  }
  return { path: null, reason: BROWSER_HINT };
}

/**
 * The browser's path, or an Error naming what to install. For suites that must not run without one
 * (they are only collected when a browser was found, or under CI where a missing one fails).
 */
export function requireBrowser(env: NodeJS.ProcessEnv = process.env): string {
  const found = findBrowser(env);
  if (found.path) return found.path;
  throw new Error(`[tokengate] ${found.reason}${env.CI === 'true' ? ' (CI=true: the browser suites must run)' : ''}`);
}

/** Flags for headless runs in containers and CI (no sandbox as root, no GPU, no background traffic). */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const found = findBrowser();
  if (found.path) console.log(found.path);
  else {
    console.error(found.reason);
    process.exitCode = 1;
  }
}
