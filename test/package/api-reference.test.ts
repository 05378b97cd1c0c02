/**
 * README's "API reference" against the built declarations: every name that an entry point exports
 * (values and types, following `export *` and `export type *` through the `.d.ts` files) is listed
 * in that entry point's subsection, and every listed name exists, so the reference stays complete.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './build.ts';

type Conditions = { types: string; import: string };
const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, Conditions | string> };
const entries = Object.entries(pkg.exports)
  .filter((e): e is [string, Conditions] => typeof e[1] === 'object')
  .map(([subpath, target]) => ({ specifier: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`, ...target }));

const stripComments = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');

/** Every name a declaration file exports, following re-exports of whole modules. */
async function declaredExports(file: string, seen = new Set<string>()): Promise<Set<string>> {
  const names = new Set<string>();
  if (seen.has(file)) return names;
  seen.add(file);
  const text = stripComments(await readFile(file, 'utf8'));
  const target = (specifier: string) => path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.d.ts'));
  for (const m of text.matchAll(/^export\s+(?:declare\s+)?(?:abstract\s+)?(?:function|const|let|var|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/gm)) names.add(m[1]!);
  for (const m of text.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}/gm)) {
    for (const part of m[1]!.split(',')) {
      const spec = part.trim().replace(/^type\s+/, '');
      if (spec) names.add(spec.split(/\s+as\s+/).pop()!.trim());
    }
  }
  for (const m of text.matchAll(/^export\s+(?:type\s+)?\*\s+as\s+([\w$]+)\s+from/gm)) names.add(m[1]!);
  for (const m of text.matchAll(/^export\s+(?:type\s+)?\*\s+from\s*['"]([^'"]+)['"]/gm)) {
    for (const name of await declaredExports(target(m[1]!), seen)) names.add(name);
  }
  if (/^export\s+default\b/m.test(text)) names.add('default');
  return names;
}

/** The README's API reference: entry point specifier → its subsection's text. */
async function readmeReference(): Promise<Map<string, string>> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## API reference\n');
  expect(start, 'README has an "## API reference" section').toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const parts = new Map<string, string>();
  const headings = [...section.matchAll(/^### `([^`]+)`.*$/gm)];
  headings.forEach((h, i) => parts.set(h[1]!, section.slice(h.index, headings[i + 1]?.index ?? section.length)));
  return parts;
}

const escape = (name: string) => name.replace(/[$]/g, '\\$&');

let exported: Map<string, Set<string>>;
let runtime: Record<string, string[]>;

beforeAll(async () => {
  await ensureBuilt();
  exported = new Map();
  for (const e of entries) exported.set(e.specifier, await declaredExports(path.join(ROOT, e.types)));
  const script = `const out = {}; for (const s of ${JSON.stringify(entries.map((e) => e.specifier))}) out[s] = Object.keys(await import(s)); console.log(JSON.stringify(out));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  runtime = JSON.parse(stdout) as Record<string, string[]>;
}, 180_000);

describe('README API reference', () => {
  it('the declaration scan finds every runtime export (so it misses nothing)', () => {
    for (const e of entries) {
      const names = exported.get(e.specifier)!;
      expect(runtime[e.specifier]!.filter((n) => !names.has(n)), e.specifier).toEqual([]);
      expect(names.size, e.specifier).toBeGreaterThan(0);
    }
  });

  it('has a subsection for every entry point, and no other', async () => {
    const reference = await readmeReference();
    expect([...reference.keys()].sort()).toEqual(entries.map((e) => e.specifier).sort());
  });

  it("lists every export of every entry point in that entry point's subsection", async () => {
    const reference = await readmeReference();
    const missing: string[] = [];
    for (const e of entries) {
      const text = reference.get(e.specifier) ?? '';
      for (const name of exported.get(e.specifier)!) {
        if (!new RegExp(`\`${escape(name)}[\`(<.]`).test(text)) missing.push(`${e.specifier}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('lists no name that its entry point does not export', async () => {
    const reference = await readmeReference();
    const stale: string[] = [];
    for (const [specifier, text] of reference) {
      const names = exported.get(specifier) ?? new Set();
      for (const m of text.matchAll(/^- `([A-Za-z_$][\w$]*)/gm)) if (!names.has(m[1]!)) stale.push(`${specifier}: ${m[1]}`);
    }
    expect(stale).toEqual([]);
  });
});
