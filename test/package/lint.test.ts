/**
 * Package linters on the packed tarball (what npm would publish), after the shared build:
 * - `publint --strict`: no messages at all (errors, warnings or suggestions).
 * - `@arethetypeswrong/cli` with `--profile esm-only` (the package is ESM only): no problems. attw
 *   depends on its own TypeScript 5 (nested under `@arethetypeswrong/core/node_modules`), since the
 *   project's TypeScript 7 has no JS API; it reads the local tarball and needs no network.
 *   `./styles.css` is excluded: a stylesheet is not a module that TypeScript resolves types for.
 * A scratch copy of the tarball with a broken `types` entry proves the attw check can fail.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './build.ts';

const run = promisify(execFile);
const ATTW = path.join(ROOT, 'node_modules', '.bin', 'attw');
/** Resolution modes `--profile esm-only` ignores (CommonJS consumers can't `require` an ESM-only package). */
const IGNORED_RESOLUTIONS = ['node10', 'node16-cjs'];

let scratch: string;
let tarball: string;

interface AttwProblem {
  kind: string;
  entrypoint?: string;
  resolutionKind?: string;
}

/** Runs attw on a tarball; returns its exit code and the problems that the esm-only profile counts. */
async function attw(file: string): Promise<{ code: number; problems: AttwProblem[]; text: string }> {
  const args = [file, '--profile', 'esm-only', '--exclude-entrypoints', './styles.css', '--format', 'json'];
  // attw exits with the code right after printing: into a pipe, a large report can be cut short
  // (Node writes to pipes asynchronously), so the report goes to a file (written synchronously).
  const out = path.join(scratch, `attw-${path.basename(file)}.json`);
  const code = await run('sh', ['-c', '"$0" "$@" > "$OUT"', ATTW, ...args], { cwd: ROOT, env: { ...process.env, OUT: out } }).then(
    () => 0,
    (err: { code?: number }) => (typeof err.code === 'number' ? err.code : -1),
  );
  const stdout = await readFile(out, 'utf8');
  const report = JSON.parse(stdout) as { problems?: Record<string, AttwProblem[]> | AttwProblem[] };
  const all = Array.isArray(report.problems) ? report.problems : Object.values(report.problems ?? {}).flat();
  const problems = all.filter((p) => !IGNORED_RESOLUTIONS.includes(p.resolutionKind ?? ''));
  return { code, problems, text: problems.map((p) => `${p.kind} ${p.entrypoint ?? ''} (${p.resolutionKind ?? ''})`).join('\n') };
}

beforeAll(async () => {
  await ensureBuilt();
  scratch = await mkdtemp(path.join(tmpdir(), 'tokengate-lint-'));
  // --ignore-scripts: dist/ is already built (prepack would rebuild it).
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: ROOT });
  tarball = path.join(scratch, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
}, 180_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('package linters', () => {
  it('publint --strict reports nothing', async () => {
    // Lint the unpacked tarball: exactly the files npm would publish (so `pack: false`).
    const unpacked = path.join(scratch, 'unpacked');
    await mkdir(unpacked);
    await run('tar', ['-xzf', tarball, '-C', unpacked]);
    const { messages, pkg } = await publint({ pkgDir: path.join(unpacked, 'package'), strict: true, level: 'suggestion', pack: false });
    const text = messages.map((m) => `${m.type}: ${formatMessage(m, pkg, { color: false }) ?? m.code}`);
    expect(text).toEqual([]);
  }, 60_000);

  it('are the types wrong (esm-only profile) reports no problems', async () => {
    const result = await attw(tarball);
    expect(result.text).toBe('');
    expect(result.code).toBe(0);
  }, 60_000);

  it('the attw check fails when a types entry is broken (scratch copy)', async () => {
    const copy = path.join(scratch, 'broken');
    await mkdir(copy);
    await run('tar', ['-xzf', tarball, '-C', copy]);
    const manifest = path.join(copy, 'package', 'package.json');
    const pkg = JSON.parse(await readFile(manifest, 'utf8')) as { exports: Record<string, { types: string }> };
    pkg.exports['./react']!.types = './dist/types/src/react/missing.d.ts';
    await writeFile(manifest, JSON.stringify(pkg, null, 2));
    const broken = path.join(scratch, 'broken.tgz');
    await run('tar', ['-czf', broken, '-C', copy, 'package']);
    const result = await attw(broken);
    expect(result.code).not.toBe(0);
    expect(result.problems.some((p) => p.entrypoint === './react')).toBe(true);
  }, 60_000);
});
