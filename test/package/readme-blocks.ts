/**
 * The README's TypeScript code blocks as files, and a throwaway consumer project to compile or run
 * them in, where `tokengate` is the built package (resolved through its `exports` map, like an
 * installed dependency) and every other package is this repository's `node_modules`.
 *
 * Conventions in README.md:
 * - A block whose first line is a comment naming a file (`// lib/tokengate.ts`) is that file; a
 *   later line of that form starts another file (one block showing two files of a Next.js app).
 *   Other blocks become `block-<README line>.ts(x)`.
 * - `<!-- prelude: … -->` right before a block is TypeScript prepended to the block's first file
 *   (not rendered on GitHub): declarations of the app's own names a fragment uses.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './build.ts';

export interface ReadmeFile {
  /** Path inside the project, e.g. `lib/tokengate.ts`. */
  path: string;
  /** README line of the file's first line of code (1-based). */
  line: number;
  code: string;
  /** Lines prepended to `code` (they shift the file's line numbers). */
  preludeLines: number;
}

export interface ReadmeBlock {
  lang: 'ts' | 'tsx';
  /** README line of the block's first line of code (1-based). */
  line: number;
  code: string;
  files: ReadmeFile[];
}

const FILE_COMMENT = /^\/\/ ((?:[\w@.[\]-]+\/)*[\w@.[\]-]+\.tsx?)\s*$/;

/** Every ```ts / ```tsx block of a Markdown text. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    // Fences may be indented (a block inside a list item); the code loses that indentation.
    const fence = /^( *)```(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const indent = fence[1]!.length;
    const end = lines.findIndex((l, j) => j > i && /^ *```\s*$/.test(l));
    if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code block`);
    const lang = fence[2];
    if (lang === 'ts' || lang === 'tsx') {
      let before = i - 1;
      while (before >= 0 && lines[before]!.trim() === '') before--;
      const prelude = before >= 0 ? /^<!-- prelude: ([\s\S]*) -->$/.exec(lines[before]!.trim())?.[1] : undefined;
      const code = lines.slice(i + 1, end).map((l) => l.replace(new RegExp(`^ {0,${indent}}`), ''));
      const line = i + 2;
      const files: ReadmeFile[] = [];
      let start = 0;
      for (let j = 0; j <= code.length; j++) {
        if (j < code.length && !(j > 0 && FILE_COMMENT.test(code[j]!))) continue;
        const part = code.slice(start, j);
        const named = FILE_COMMENT.exec(part[0] ?? '')?.[1];
        files.push({ path: named ?? `block-${line}.${lang}`, line: line + start, code: part.join('\n') + '\n', preludeLines: 0 });
        start = j;
      }
      if (prelude) {
        files[0]!.code = `${prelude}\n${files[0]!.code}`;
        files[0]!.preludeLines = prelude.split('\n').length;
      }
      blocks.push({ lang, line, code: code.join('\n') + '\n', files });
    }
    i = end;
  }
  return blocks;
}

/** The README's blocks. */
export async function readReadmeBlocks(): Promise<ReadmeBlock[]> {
  return readmeBlocks(await readFile(path.join(ROOT, 'README.md'), 'utf8'));
}

/** The one block whose code contains every `needle` (fails loudly when there is not exactly one). */
export function findBlock(blocks: ReadmeBlock[], ...needles: string[]): ReadmeBlock {
  const found = blocks.filter((b) => needles.every((n) => b.code.includes(n)));
  if (found.length !== 1) throw new Error(`README.md: expected one ts/tsx block containing ${needles.map((n) => JSON.stringify(n)).join(' and ')}, found ${found.length}`);
  return found[0]!;
}

/** The `tsconfig.json` of the consumer project: a strict app on a bundler, as Next.js and Vite apps are. */
export const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2023', 'DOM', 'DOM.Iterable'],
    module: 'ESNext',
    moduleResolution: 'Bundler',
    jsx: 'react-jsx',
    strict: true,
    noEmit: true,
    isolatedModules: true,
    moduleDetection: 'force', // every block is a module of its own, never a global script
    esModuleInterop: true,
    skipLibCheck: true,
    types: ['node'],
    paths: { '@/*': ['./*'] },
  },
  include: ['**/*.ts', '**/*.tsx'],
  exclude: ['node_modules'],
};

/**
 * A new folder with `node_modules/tokengate` → this repository (so its `exports` map points at the
 * built `dist/`) and every package of this repository's `node_modules` linked beside it.
 */
export async function consumerProject(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const modules = path.join(dir, 'node_modules');
  await mkdir(modules);
  for (const entry of await readdir(path.join(ROOT, 'node_modules'))) {
    if (entry.startsWith('.') || entry === 'tokengate') continue;
    await symlink(path.join(ROOT, 'node_modules', entry), path.join(modules, entry));
  }
  await symlink(ROOT, path.join(modules, 'tokengate'), 'dir');
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'readme-consumer', private: true, type: 'module' }));
  await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
  return dir;
}

/** Writes files into the project, creating folders. */
export async function writeFiles(dir: string, files: { path: string; code: string }[]): Promise<void> {
  for (const file of files) {
    const target = path.join(dir, file.path);
    if (existsSync(target)) throw new Error(`two README blocks write ${file.path}`);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.code);
  }
}
