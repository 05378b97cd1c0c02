/**
 * The package's `exports` map against the built `dist/`: every subpath points at existing files,
 * resolves and imports in plain Node through the package name (self-reference, the way an app
 * resolves it), and exposes the same runtime exports as its source entry point.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './build.ts';

type Conditions = { types: string; import: string };
const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  types: string;
  files: string[];
  sideEffects: string[];
  exports: Record<string, Conditions | string>;
};

/** Subpath → its source entry point (every JS subpath must be listed here). */
const SOURCES: Record<string, string> = {
  '.': 'src/core/index.ts',
  './stream': 'src/core/stream.ts',
  './react': 'src/react/index.ts',
  './react/stream': 'src/react/stream.ts',
  './react/live': 'src/react/live.ts',
  './react/suspense': 'src/react/suspense.ts',
  './operator': 'src/operator/index.ts',
  './live': 'src/live/index.ts',
  './live/supabase': 'src/live/supabase.ts',
  './components': 'src/components/index.ts',
  './server': 'server/index.ts',
  './server/adapters/next': 'server/adapters/next.ts',
  './server/adapters/hono': 'server/adapters/hono.ts',
  './server/adapters/node': 'server/adapters/node.ts',
  './server/adapters/supabase-edge': 'server/adapters/supabase-edge.ts',
  './server/stripe': 'server/stripe/index.ts',
  './ai': 'server/ai/index.ts',
};
const CLIENT = ['./react', './react/stream', './react/live', './react/suspense', './components', './operator'];
const jsSubpaths = Object.keys(pkg.exports).filter((k) => typeof pkg.exports[k] === 'object');
const specifier = (subpath: string) => (subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`);

/** What plain Node sees: each subpath's resolved URL and export names, and a few identities. */
interface NodeView {
  resolved: Record<string, string>;
  keys: Record<string, string[]>;
  sameErrorClass: boolean;
  migrationsDir: string;
}

let view: NodeView;

beforeAll(async () => {
  await ensureBuilt();
  const script = `
    const subpaths = ${JSON.stringify(Object.keys(pkg.exports).filter((k) => k !== './package.json').map(specifier))};
    const js = ${JSON.stringify(jsSubpaths.map(specifier))};
    const resolved = {}, keys = {}, mods = {};
    for (const s of subpaths) resolved[s] = import.meta.resolve(s);
    for (const s of js) { mods[s] = await import(s); keys[s] = Object.keys(mods[s]).sort(); }
    console.log(JSON.stringify({
      resolved, keys,
      sameErrorClass: mods['tokengate'].TokenGateError === mods['tokengate/server'].TokenGateError,
      migrationsDir: mods['tokengate/server'].MIGRATIONS_DIR,
    }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  view = JSON.parse(stdout) as NodeView;
}, 120_000);

describe('package exports', () => {
  it('maps every JS subpath to types + import files that exist, and ships them', () => {
    expect(jsSubpaths.sort()).toEqual(Object.keys(SOURCES).sort());
    for (const subpath of jsSubpaths) {
      const target = pkg.exports[subpath] as Conditions;
      expect(Object.keys(target), subpath).toEqual(['types', 'import']); // types first
      for (const file of [target.types, target.import]) {
        expect(existsSync(path.join(ROOT, file)), file).toBe(true);
        expect(pkg.files.some((f) => file.startsWith(`./${f}/`)), file).toBe(true);
      }
    }
    expect(pkg.exports['./styles.css']).toBe('./dist/styles.css');
    expect(existsSync(path.join(ROOT, 'dist', 'styles.css'))).toBe(true);
    expect(pkg.main).toBe((pkg.exports['.'] as Conditions).import);
    expect(pkg.types).toBe((pkg.exports['.'] as Conditions).types);
    expect(pkg.sideEffects).toEqual(['*.css']);
  });

  it('resolves every subpath through the package name in Node', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (subpath === './package.json') continue;
      const file = typeof target === 'string' ? target : target.import;
      expect(fileURLToPath(view.resolved[specifier(subpath)]!)).toBe(path.join(ROOT, file));
    }
  });

  it('each built entry point imports in Node and has the runtime exports of its source', async () => {
    for (const [subpath, source] of Object.entries(SOURCES)) {
      const expected = Object.keys((await import(path.join(ROOT, source))) as object).sort();
      expect(view.keys[specifier(subpath)], subpath).toEqual(expected);
      expect(expected.length, subpath).toBeGreaterThan(0);
    }
  });

  it('shares one TokenGateError class between tokengate and tokengate/server', () => {
    expect(view.sameErrorClass).toBe(true);
  });

  it('finds the shipped migrations from the built server module', () => {
    expect(view.migrationsDir).toBe(path.join(ROOT, 'migrations'));
  });

  it("marks the React entry points 'use client', and only those", async () => {
    for (const subpath of jsSubpaths) {
      const code = await readFile(path.join(ROOT, (pkg.exports[subpath] as Conditions).import), 'utf8');
      expect(code.startsWith("'use client';\n"), subpath).toBe(CLIENT.includes(subpath));
    }
  });

  it('keeps peers and dependencies external (nothing heavy bundled)', async () => {
    const server = await readFile(path.join(ROOT, 'dist', 'server', 'index.js'), 'utf8');
    expect(server).toMatch(/from "zod"/);
    expect(server).toMatch(/from "jose"/);
    const components = await readFile(path.join(ROOT, 'dist', 'components.js'), 'utf8');
    expect(components).toMatch(/from "react"/);
    expect(components).not.toContain('__SECRET_INTERNALS');
  });

  it('has declarations whose relative imports point at .js files', async () => {
    const files = (await readdir(path.join(ROOT, 'dist', 'types'), { recursive: true })).filter((f) => f.endsWith('.d.ts'));
    expect(files.length).toBeGreaterThan(jsSubpaths.length);
    for (const file of files) {
      const dts = await readFile(path.join(ROOT, 'dist', 'types', file), 'utf8');
      expect(dts, file).not.toMatch(/(from\s+|import\s*\(\s*)'\.{1,2}\/[^']*\.tsx?'/);
    }
    const react = await readFile(path.join(ROOT, (pkg.exports['./react'] as Conditions).types), 'utf8');
    expect(react).toContain("from './token-gate-provider.js'");
  });

  it('type-checks in a TypeScript app (module nodenext, skipLibCheck off) through the package name', async () => {
    const app = await mkdtemp(path.join(tmpdir(), 'tokengate-types-'));
    try {
      await mkdir(path.join(app, 'node_modules', '@types'), { recursive: true });
      await symlink(ROOT, path.join(app, 'node_modules', pkg.name), 'dir');
      const deps = ['react', 'react-dom', '@tanstack', 'pg', 'zod', 'jose', 'hono', '@supabase', '@electric-sql', 'stripe'];
      for (const dep of deps) await symlink(path.join(ROOT, 'node_modules', dep), path.join(app, 'node_modules', dep), 'dir');
      for (const dep of await readdir(path.join(ROOT, 'node_modules', '@types'))) {
        await symlink(path.join(ROOT, 'node_modules', '@types', dep), path.join(app, 'node_modules', '@types', dep), 'dir');
      }
      const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, jsx: 'react-jsx', types: ['node'], lib: ['es2023', 'dom'] };
      await writeFile(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['app.mts'] }));
      await writeFile(
        path.join(app, 'app.mts'),
        [
          ...jsSubpaths.map((subpath, i) => `import * as m${i} from '${specifier(subpath)}';`),
          `import { createTokenGate, postgresStore, createHandler } from 'tokengate/server';`,
          `import { toNextRouteHandlers } from 'tokengate/server/adapters/next';`,
          `const gate = createTokenGate({ store: postgresStore({ connectionString: 'postgres://x' }) });`,
          `export const { GET, POST } = toNextRouteHandlers(createHandler({ gate, authenticate: async () => { throw new Error('unauthenticated'); } }));`,
          `export const all = [${jsSubpaths.map((_, i) => `m${i}`).join(', ')}];`,
          `// @ts-expect-error: a misspelt export must not type-check`,
          `export { TokenGateEror } from 'tokengate';`,
        ].join('\n'),
      );
      const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
      const result = await promisify(execFile)(tsc, ['-p', app]).then(
        () => '',
        (err: { stdout?: string; message: string }) => err.stdout || err.message,
      );
      expect(result).toBe('');
    } finally {
      await rm(app, { recursive: true, force: true });
    }
  });
});
