/**
 * `tokengate init --next | --vite` without builds (test/package/init-scaffold.test.ts builds and
 * drives the scaffolded apps): detection of the app's layout, the files planned for each layout,
 * the JavaScript variants (the tiny type-stripping rule against a real TypeScript transform), the
 * unified diff, and the write rules — new files created, identical ones left alone, differing ones
 * kept unless the user says yes (prompt or --yes), a second run writing nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { transformWithOxc } from 'vite';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectApp } from '../../cli/detect-app.ts';
import { CommandError, UsageError, type Io } from '../../cli/errors.ts';
import { init } from '../../cli/init.ts';
import { scaffoldFiles, templatesDir } from '../../cli/scaffold-files.ts';
import { stripTypes } from '../../cli/strip-types.ts';
import { unifiedDiff } from '../../cli/unified-diff.ts';
import { writeScaffold } from '../../cli/write-scaffold.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (line) => out.push(line), err: (line) => err.push(line) };
  return { io, out, err };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tokengate-init-app-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `files` (path → content) under `dir`. */
async function app(files: Record<string, string>): Promise<string> {
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return dir;
}
const pkg = (deps: Record<string, string>, extra: object = {}) => JSON.stringify({ name: 'x', private: true, ...extra, dependencies: deps });

/** Every file under `root` (relative, with `/`), sorted. */
async function tree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

describe('detectApp', () => {
  it('reads a Next.js app: app/ or src/app/ (app/ wins, as in Next.js), TypeScript from tsconfig.json, the lockfile, missing packages', async () => {
    await app({ 'package.json': pkg({ next: '16.0.0', react: '19.0.0', pg: '8.0.0' }), 'app/page.js': '', 'pnpm-lock.yaml': '' });
    expect(await detectApp(dir, 'next')).toEqual({
      framework: 'next',
      root: dir,
      typescript: false,
      sourceDir: 'app',
      esm: false,
      packageManager: 'pnpm',
      missing: { dependencies: ['tokengate', '@tanstack/react-query'], devDependencies: [] },
    });
    await rm(path.join(dir, 'app'), { recursive: true });
    await app({ 'src/app/page.tsx': '', 'tsconfig.json': '{}' });
    expect(await detectApp(dir, 'next')).toMatchObject({ sourceDir: 'src/app', typescript: true });
    await app({ 'app/page.tsx': '' });
    expect((await detectApp(dir, 'next')).sourceDir).toBe('app');
  });

  it('reads a Vite app: src/ or not, "type": "module", hono and tsx among the missing packages', async () => {
    await app({ 'package.json': pkg({ vite: '8.0.0', react: '19.0.0', tokengate: '1.0.0' }, { type: 'module' }), 'src/main.tsx': '', 'tsconfig.json': '{}' });
    expect(await detectApp(dir, 'vite')).toMatchObject({
      sourceDir: 'src',
      typescript: true,
      esm: true,
      packageManager: 'npm',
      missing: { dependencies: ['@tanstack/react-query', 'pg', 'hono', '@hono/node-server'], devDependencies: ['tsx'] },
    });
    await rm(path.join(dir, 'src'), { recursive: true });
    await rm(path.join(dir, 'tsconfig.json'));
    expect(await detectApp(dir, 'vite')).toMatchObject({ sourceDir: '.', typescript: false, missing: { devDependencies: [] } });
  });

  it('refuses what it cannot scaffold, in one line that says why', async () => {
    await expect(detectApp(dir, 'next')).rejects.toThrow(/no package\.json in /);
    await app({ 'package.json': '{ nope' });
    await expect(detectApp(dir, 'next')).rejects.toThrow(CommandError);
    await app({ 'package.json': pkg({ vite: '8.0.0', react: '19.0.0' }) });
    await expect(detectApp(dir, 'next')).rejects.toThrow(/no "next" dependency; is this a Next\.js app\?/);
    await app({ 'package.json': pkg({ next: '16.0.0' }), 'pages/index.js': '' });
    await expect(detectApp(dir, 'next')).rejects.toThrow(/Pages Router/);
    await rm(path.join(dir, 'pages'), { recursive: true });
    await expect(detectApp(dir, 'next')).rejects.toThrow(/no app\/ or src\/app\//);
    await expect(detectApp(dir, 'vite')).rejects.toThrow(/no "vite" dependency/);
    await app({ 'package.json': pkg({ vite: '8.0.0' }) });
    await expect(detectApp(dir, 'vite')).rejects.toThrow(/no "react" dependency/);
  });
});

describe('scaffoldFiles', () => {
  const layout = { root: '/x', esm: true, packageManager: 'npm' as const, missing: { dependencies: [], devDependencies: [] } };

  it('plans the Next.js files beside app/ (or src/app/), with relative imports of the server module', async () => {
    const files = await scaffoldFiles({ ...layout, framework: 'next', typescript: true, sourceDir: 'src/app' });
    expect(files.map((f) => f.path)).toEqual([
      'src/lib/tokengate.ts',
      'src/app/api/tokengate/[...path]/route.ts',
      'src/app/api/generate-quest/route.ts',
      'src/app/tokengate/providers.tsx',
      'src/app/tokengate/example.tsx',
      'src/app/tokengate/page.tsx',
    ]);
    expect(files[1]!.content).toContain("import { tokengate } from '../../../../lib/tokengate';");
    expect(files[2]!.content).toContain("import { generateQuest } from '../../../lib/tokengate';");
    expect(files[3]!.content.startsWith("'use client';\n")).toBe(true);
    for (const file of files) expect(file.content, file.path).not.toContain('{{');

    const js = await scaffoldFiles({ ...layout, framework: 'next', typescript: false, sourceDir: 'app' });
    expect(js.map((f) => f.path)).toEqual([
      'lib/tokengate.js',
      'app/api/tokengate/[...path]/route.js',
      'app/api/generate-quest/route.js',
      'app/tokengate/providers.jsx',
      'app/tokengate/example.jsx',
      'app/tokengate/page.jsx',
    ]);
    expect(js[3]!.content).toContain('export function TokenGateProviders({ children }) {');
    expect(js[3]!.content).toContain("import { useState } from 'react';");
  });

  it('plans the Vite files: the Hono server (.mjs for JavaScript outside a "type": "module" package) and the client under src/tokengate/, without "use client"', async () => {
    const files = await scaffoldFiles({ ...layout, framework: 'vite', typescript: true, sourceDir: 'src' });
    expect(files.map((f) => f.path)).toEqual(['server/tokengate.ts', 'server/index.ts', 'src/tokengate/providers.tsx', 'src/tokengate/example.tsx', 'src/tokengate/page.tsx']);
    expect(files[1]!.content).toContain("from './tokengate.js';");
    for (const file of files) expect(file.content, file.path).not.toContain("'use client'");

    const cjs = await scaffoldFiles({ ...layout, esm: false, framework: 'vite', typescript: false, sourceDir: '.' });
    expect(cjs.map((f) => f.path)).toEqual(['server/tokengate.mjs', 'server/index.mjs', 'tokengate/providers.jsx', 'tokengate/example.jsx', 'tokengate/page.jsx']);
    expect(cjs[1]!.content).toContain("from './tokengate.mjs';");
  });
});

describe('stripTypes', () => {
  it('removes type specifiers, import type lines and destructured parameter types', () => {
    expect(stripTypes("import { useState, type ReactNode } from 'react';\n")).toBe("import { useState } from 'react';\n");
    expect(stripTypes("import { type A, b } from 'x';\nimport type { C } from 'y';\n")).toBe("import { b } from 'x';\n");
    expect(stripTypes('export function P({ children }: { children: ReactNode }) {')).toBe('export function P({ children }) {');
  });

  it('turns every template into JavaScript that compiles to exactly what the TypeScript template compiles to', async () => {
    const dir = templatesDir();
    const names = (await readdir(dir)).filter((f) => /\.tsx?$/.test(f));
    expect(names.length).toBeGreaterThanOrEqual(8);
    for (const name of names) {
      const ts = await readFile(path.join(dir, name), 'utf8');
      const js = stripTypes(ts);
      const tsx = name.endsWith('.tsx');
      // The same output from both: the rule removed the types and nothing else. Parsing the
      // stripped text as JavaScript also proves no TypeScript syntax is left in it.
      const fromTs = await transformWithOxc(ts, name, { lang: tsx ? 'tsx' : 'ts', jsx: 'preserve' });
      const fromJs = await transformWithOxc(js, name.replace(/\.ts(x?)$/, '.js$1'), { lang: tsx ? 'jsx' : 'js', jsx: 'preserve' });
      expect(fromJs.code, name).toBe(fromTs.code);
    }
  });
});

describe('unifiedDiff', () => {
  it('prints hunks with context like diff -u, and nothing for equal texts', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].join('\n') + '\n';
    const after = ['a', 'B', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k'].join('\n') + '\n';
    expect(unifiedDiff(before, after, 'x (yours)', 'x (new)')).toBe(
      ['--- x (yours)', '+++ x (new)', '@@ -1,5 +1,5 @@', ' a', '-b', '+B', ' c', ' d', ' e', '@@ -8,3 +8,4 @@', ' h', ' i', ' j', '+k'].join('\n'),
    );
    expect(unifiedDiff(before, before, 'a', 'b')).toBe('');
    expect(unifiedDiff('', 'x\n', 'a', 'b')).toBe(['--- a', '+++ b', '@@ -0,0 +1,1 @@', '+x'].join('\n'));
  });
});

describe('writeScaffold', () => {
  const files = [
    { path: 'lib/a.ts', content: 'export const a = 1;\n' },
    { path: 'app/x/[...path]/b.ts', content: 'export const b = 2;\n' },
  ];

  it('creates missing files, then a second run writes nothing and says so', async () => {
    const first = capture();
    expect((await writeScaffold(dir, files, {}, first.io)).map((r) => r.outcome)).toEqual(['created', 'created']);
    expect(first.out).toEqual(['created   lib/a.ts', 'created   app/x/[...path]/b.ts', '2 file(s) written, 0 already in place.']);
    expect(await readFile(path.join(dir, 'app/x/[...path]/b.ts'), 'utf8')).toBe(files[1]!.content);

    const second = capture();
    expect((await writeScaffold(dir, files, { yes: true }, second.io)).map((r) => r.outcome)).toEqual(['unchanged', 'unchanged']);
    expect(second.out.at(-1)).toBe('Nothing to write: all 2 files are already in place.');
    expect(await tree(dir)).toEqual(['app/x/[...path]/b.ts', 'lib/a.ts']);
  });

  it('keeps a file that differs when nobody can be asked, and lists it', async () => {
    await app({ 'lib/a.ts': 'export const a = 42; // mine\n' });
    const run = capture();
    expect((await writeScaffold(dir, files, {}, run.io)).map((r) => r.outcome)).toEqual(['kept', 'created']);
    expect(await readFile(path.join(dir, 'lib/a.ts'), 'utf8')).toBe('export const a = 42; // mine\n');
    expect(run.out).toContain('kept      lib/a.ts (differs from the template; left as it is)');
    expect(run.out).toContain('1 file(s) written, 0 already in place, 1 kept as they are.');
    expect(run.out.at(-1)).toMatch(/--yes to overwrite them/);
  });

  it('in a terminal shows the diff and overwrites only on yes', async () => {
    await app({ 'lib/a.ts': 'export const a = 42;\n', 'app/x/[...path]/b.ts': 'mine\n' });
    const questions: string[] = [];
    const answers = [false, true];
    const run = capture();
    const outcomes = await writeScaffold(dir, files, { ask: async (q) => (questions.push(q), answers.shift()!) }, run.io);
    expect(outcomes.map((r) => r.outcome)).toEqual(['kept', 'overwritten']);
    expect(questions).toEqual(['Overwrite lib/a.ts? [y/N] ', 'Overwrite app/x/[...path]/b.ts? [y/N] ']);
    expect(run.out[0]).toBe(['--- lib/a.ts (yours)', '+++ lib/a.ts (tokengate init)', '@@ -1,1 +1,1 @@', '-export const a = 42;', '+export const a = 1;'].join('\n'));
    expect(await readFile(path.join(dir, 'lib/a.ts'), 'utf8')).toBe('export const a = 42;\n');
    expect(await readFile(path.join(dir, 'app/x/[...path]/b.ts'), 'utf8')).toBe(files[1]!.content);
  });

  it('--yes overwrites differing files without asking', async () => {
    await app({ 'lib/a.ts': 'export const a = 42;\n' });
    const run = capture();
    const outcomes = await writeScaffold(dir, files, { yes: true, ask: async () => expect.fail('asked despite --yes') }, run.io);
    expect(outcomes.map((r) => r.outcome)).toEqual(['overwritten', 'created']);
    expect(await readFile(path.join(dir, 'lib/a.ts'), 'utf8')).toBe(files[0]!.content);
  });
});

describe('tokengate init (arguments)', () => {
  it('documents --next, --vite and --yes, and refuses combinations that make no sense', async () => {
    const help = capture();
    expect(await init(['--help'], help.io)).toBe(0);
    for (const flag of ['--next', '--vite', '--yes']) expect(help.out.join('\n')).toContain(flag);
    await expect(init(['--next', '--vite', '--dir', dir], capture().io)).rejects.toThrow(UsageError);
    await expect(init(['--yes', '--dir', dir], capture().io)).rejects.toThrow(/--yes applies only with --next or --vite/);
  });

  it('--next writes the Next.js files into a fresh app, and a second run writes nothing', async () => {
    await app({ 'package.json': pkg({ next: '16.0.0', react: '19.0.0', tokengate: '1.0.0', pg: '8.0.0', '@tanstack/react-query': '5.0.0' }), 'tsconfig.json': '{}', 'app/page.tsx': '' });
    const first = capture();
    expect(await init(['--next', '--dir', dir], first.io)).toBe(0);
    expect(first.out.filter((l) => l.startsWith('created'))).toHaveLength(6);
    const text = first.out.join('\n');
    expect(text).not.toContain('Install what the files import'); // all there already
    expect(text).toContain('DATABASE_URL');
    expect(text).toContain('npx tokengate migrate');
    const written = await tree(dir);
    const second = capture();
    expect(await init(['--next', '--dir', dir], second.io)).toBe(0);
    expect(second.out).toContain('Nothing to write: all 6 files are already in place.');
    expect(await tree(dir)).toEqual(written);
  });
});

/**
 * util-linux `script` runs a command on a pseudo-terminal, so its stdin is a TTY (Debian ships it in
 * bsdutils, an essential package). Without it the test is skipped locally; under CI it runs and fails.
 */
const hasScript = spawnSync('script', ['--version']).status === 0;

describe.skipIf(!hasScript && process.env.CI !== 'true')('tokengate init --next on a terminal', () => {
  it('shows the diff of a differing file and keeps it on "n", creating the rest', async () => {
    await app({ 'package.json': pkg({ next: '16.0.0', react: '19.0.0' }), 'app/page.js': '', 'lib/tokengate.js': 'export const mine = 1;\n' });
    const cli = fileURLToPath(new URL('../../cli/tokengate.ts', import.meta.url));
    const command = [process.execPath, '--import', import.meta.resolve('tsx/esm'), cli, 'init', '--next'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      // Answer once the question is on the terminal.
      if (output.includes('Overwrite lib/tokengate.js? [y/N]') && !child.stdin.writableEnded) child.stdin.end('n\n');
    });
    expect(await exit, output).toBe(0);
    const text = output.replace(/\r\n/g, '\n');
    expect(text).toContain('--- lib/tokengate.js (yours)\n+++ lib/tokengate.js (tokengate init)\n@@ -1,1 +1,');
    expect(text).toContain('-export const mine = 1;');
    expect(text).toMatch(/^kept {6}lib\/tokengate\.js/m);
    expect(text).toContain('5 file(s) written, 0 already in place, 1 kept as they are.');
    expect(text).not.toContain('run init in a terminal'); // it was one
    expect(await readFile(path.join(dir, 'lib/tokengate.js'), 'utf8')).toBe('export const mine = 1;\n');
    expect(await readFile(path.join(dir, 'app/tokengate/page.jsx'), 'utf8')).toContain('TokenGatePage');
  });
});
