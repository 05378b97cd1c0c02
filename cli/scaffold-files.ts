/**
 * The files `tokengate init --next | --vite` writes for a detected app: the templates of
 * `cli/templates/` (shipped as `dist/templates/`), with their import paths filled in, as
 * TypeScript or (types stripped) JavaScript.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppLayout } from './detect-app.ts';
import { stripTypes } from './strip-types.ts';

/** One file to write: its path relative to the app (with `/`), and its content. */
export interface ScaffoldFile {
  path: string;
  content: string;
}

/**
 * The templates folder: `cli/templates/` next to this module in the repository, `dist/templates/`
 * in the package (the build copies it; this code may sit in `dist/` or in `dist/chunks/`).
 *
 * @example
 * await readFile(path.join(templatesDir(), 'server-module.ts'), 'utf8');
 */
export function templatesDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 3; up++, dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'templates');
    if (existsSync(path.join(candidate, 'server-module.ts'))) return candidate;
  }
  throw new Error(`tokengate init: the templates are missing (looked above ${fileURLToPath(import.meta.url)})`);
}

/** A relative import specifier from the folder of `fromFile` to `toModule` (both relative to the app). */
function specifier(fromFile: string, toModule: string): string {
  const relative = path.posix.relative(path.posix.dirname(fromFile), toModule);
  return relative.startsWith('.') ? relative : `./${relative}`;
}

/**
 * The files for `layout`, in the order they are reported.
 *
 * @example
 * const files = await scaffoldFiles(await detectApp(root, 'next'));
 * files.map((f) => f.path); // ['app/api/tokengate/[...path]/route.ts', 'lib/tokengate.ts', …]
 */
export async function scaffoldFiles(layout: AppLayout, dir = templatesDir()): Promise<ScaffoldFile[]> {
  const ts = layout.typescript;
  const code = ts ? 'ts' : 'js';
  const jsx = ts ? 'tsx' : 'jsx';
  const template = async (name: string, fill: Record<string, string> = {}) => {
    let text = await readFile(path.join(dir, name), 'utf8');
    for (const [key, value] of Object.entries(fill)) text = text.replaceAll(`{{${key}}}`, value);
    if (layout.framework === 'vite') text = text.replace(/^'use client';\n/, ''); // no server components in a Vite app
    return ts ? text : stripTypes(text);
  };
  const join = (...parts: string[]) => path.posix.join(...parts);

  if (layout.framework === 'next') {
    const app = layout.sourceDir;
    // lib/ beside app/ (src/lib with src/app), where create-next-app users keep server code.
    const server = join(path.posix.dirname(app), 'lib', 'tokengate');
    const apiRoute = join(app, 'api', 'tokengate', '[...path]', `route.${code}`);
    const guardedRoute = join(app, 'api', 'generate-quest', `route.${code}`);
    return [
      { path: `${server}.${code}`, content: await template('server-module.ts') },
      { path: apiRoute, content: await template('next-api-route.ts', { serverModule: specifier(apiRoute, server) }) },
      { path: guardedRoute, content: await template('next-guarded-route.ts', { serverModule: specifier(guardedRoute, server) }) },
      { path: join(app, 'tokengate', `providers.${jsx}`), content: await template('providers.tsx') },
      { path: join(app, 'tokengate', `example.${jsx}`), content: await template('example.tsx') },
      { path: join(app, 'tokengate', `page.${jsx}`), content: await template('next-page.tsx') },
    ];
  }

  // Vite: the API server beside the app (plain .js is an ES module only in a "type": "module" package).
  const serverCode = ts || layout.esm ? code : 'mjs';
  const client = join(layout.sourceDir, 'tokengate');
  return [
    { path: `server/tokengate.${serverCode}`, content: await template('server-module.ts') },
    // './tokengate.js' also names tokengate.ts for tsx and TypeScript.
    { path: `server/index.${serverCode}`, content: await template('hono-server.ts', { serverModule: `./tokengate.${ts ? 'js' : serverCode}` }) },
    { path: join(client, `providers.${jsx}`), content: await template('providers.tsx') },
    { path: join(client, `example.${jsx}`), content: await template('example.tsx') },
    { path: join(client, `page.${jsx}`), content: await template('vite-page.tsx') },
  ];
}
