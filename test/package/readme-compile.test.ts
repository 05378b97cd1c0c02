/**
 * Every ```ts / ```tsx block of README.md type-checks against the built package: the blocks are
 * written into a throwaway app (`readme-blocks.ts`) whose `tokengate` is `dist/` through the
 * package's `exports` map, and TypeScript's `tsc` (7, native; no JS API) runs on it as a process.
 * An API misspelled in the README fails here with the README line.
 *
 * Fragments may use the app's own names (its Supabase client, router, model call…), declared in
 * `APP_GLOBALS` below, or declare what else they need in a `<!-- prelude: … -->` comment before
 * the block; Tokengate's own names are never declared here, only imported from the package.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './build.ts';
import { CONSUMER_TSCONFIG, consumerProject, readmeBlocks, readReadmeBlocks, writeFiles, type ReadmeBlock, type ReadmeFile } from './readme-blocks.ts';

const TSC = path.join(ROOT, 'node_modules', '.bin', 'tsc');

/** The app around the README's fragments: its own code, not Tokengate's. */
const APP_GLOBALS = `// Names the README's fragments use from the app around them.
declare function callYourModel(input: unknown): Promise<string[]>;
declare function yourSession(request: Request): Promise<string | null>;
declare const supabase: { auth: { getSession(): Promise<{ data: { session: { access_token: string } | null } }> } };
declare let currentOrgId: string;
declare const router: { push(href: string): void };
declare function openBilling(): void;
// Stylesheet imports, as a Vite (vite/client) or Next.js (next-env.d.ts) app declares them; that
// the package's ones exist is checked against its exports map below.
declare module '*.css';
`;

interface Diagnostic {
  file: string;
  line: number;
  column: number;
  text: string;
}

/** Runs tsc on a project; its diagnostics (`file(line,col): error TS…`), parsed. */
function tsc(project: string, config = 'tsconfig.json'): Promise<{ code: number | null; output: string; diagnostics: Diagnostic[] }> {
  return new Promise((resolve) => {
    execFile(TSC, ['-p', path.join(project, config), '--pretty', 'false'], { cwd: project, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const output = stdout + stderr;
      const diagnostics = [...output.matchAll(/^(.+?)\((\d+),(\d+)\): (error TS\d+: .*)$/gm)].map((m) => ({
        file: path.relative(project, path.resolve(project, m[1]!)),
        line: Number(m[2]),
        column: Number(m[3]),
        text: m[4]!,
      }));
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, output, diagnostics });
    });
  });
}

/** A diagnostic as `README.md:<line>:<col> <message>` when it is in a README block's file. */
function locate(d: Diagnostic, files: ReadmeFile[]): string {
  const file = files.find((f) => f.path === d.file);
  if (!file || d.line <= file.preludeLines) return `${d.file}:${d.line}:${d.column} ${d.text}`;
  return `README.md:${file.line + d.line - 1 - file.preludeLines}:${d.column} ${d.text} (${d.file})`;
}

let blocks: ReadmeBlock[];
let project: string;

beforeAll(async () => {
  await ensureBuilt();
  blocks = await readReadmeBlocks();
  project = await consumerProject('tokengate-readme-');
  await writeFile(path.join(project, 'app-globals.d.ts'), APP_GLOBALS);
}, 120_000);

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

describe('readmeBlocks (the extraction)', () => {
  it('names files by a leading path comment, splits multi-file blocks, applies preludes and list indentation', () => {
    const markdown = [
      '# Title', //                                          1
      '```ts', //                                            2
      '// lib/a.ts', //                                      3
      "export const a = 1;", //                              4
      '', //                                                 5
      '// app/b/route.ts', //                                6
      "import { a } from '@/lib/a';", //                     7
      '```', //                                              8
      '1. Step', //                                          9
      '   <!-- prelude: declare const x: number; -->', //   10
      '', //                                                11
      '   ```tsx', //                                       12
      '   export const y = <b>{x}</b>;', //                 13
      '   ```', //                                          14
      '```sh', //                                           15
      'npm test', //                                        16
      '```', //                                             17
    ].join('\n');
    const [first, second, ...rest] = readmeBlocks(markdown);
    expect(rest).toEqual([]);
    expect(first!.files).toEqual([
      { path: 'lib/a.ts', line: 3, code: '// lib/a.ts\nexport const a = 1;\n\n', preludeLines: 0 },
      { path: 'app/b/route.ts', line: 6, code: "// app/b/route.ts\nimport { a } from '@/lib/a';\n", preludeLines: 0 },
    ]);
    expect(second!.files).toEqual([{ path: 'block-13.tsx', line: 13, code: 'declare const x: number;\nexport const y = <b>{x}</b>;\n', preludeLines: 1 }]);
  });
});

describe('README.md code blocks', () => {
  it('type-check against the built package', async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const files = blocks.flatMap((b) => b.files);
    await writeFiles(project, files);
    const result = await tsc(project);
    const problems = result.diagnostics.map((d) => locate(d, files));
    expect(problems, result.output).toEqual([]);
    expect(result.code, result.output).toBe(0);
  });

  it("import only stylesheets the package's exports map ships", async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const sheets = blocks.flatMap((b) => [...b.code.matchAll(/^import '(tokengate\/[^']+\.css)';/gm)].map((m) => m[1]!));
    expect(sheets.length).toBeGreaterThan(0);
    for (const sheet of sheets) {
      const target = pkg.exports[`./${sheet.slice('tokengate/'.length)}`];
      expect(typeof target, sheet).toBe('string');
      expect(existsSync(path.join(ROOT, target as string)), sheet).toBe(true);
    }
  });

  it('fail to type-check when an API is misspelled (the check is not vacuous)', async () => {
    const cases: [string, RegExp][] = [
      ["import { createTokenGat } from 'tokengate/server';\nexport { createTokenGat };\n", /has no exported member named 'createTokenGat'/],
      ["import type { TokenGate } from 'tokengate/server';\ndeclare const gate: TokenGate;\nvoid gate.grnt({ orgId: '', actorId: null }, 'x', { amount: 1, idempotencyKey: 'k' });\n", /Property 'grnt' does not exist/],
      ["import { createHandler, type TokenGate } from 'tokengate/server';\ndeclare const gate: TokenGate;\nexport const h = createHandler({ gate, authenticate: async () => ({ userId: '' }), basepath: '/x' });\n", /'basepath' does not exist/],
      ["import { TokenDashboard } from 'tokengate/components';\nexport const d = <TokenDashboard getMemberNames={(id: string) => id} />;\n", /Property 'getMemberNames' does not exist/],
    ];
    for (const [index, [code, expected]] of cases.entries()) {
      const name = `misspelled-${index}.tsx`;
      await writeFile(path.join(project, name), code);
      const config = `tsconfig.misspelled-${index}.json`;
      await writeFile(path.join(project, config), JSON.stringify({ ...CONSUMER_TSCONFIG, include: [name, 'app-globals.d.ts'] }));
      const result = await tsc(project, config);
      expect(result.code, code).not.toBe(0);
      expect(result.output, code).toMatch(expected);
    }
  });
});
