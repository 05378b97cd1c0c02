// @vitest-environment node
/**
 * The precompiled stylesheet: builds `src/styles/tokengate.css` with the Tailwind CLI exactly as
 * `npm run build:css` does (into a temp file, so a parallel run never races on `dist/`), then
 * checks it holds every utility the components use and the dark-mode variables. Also checks the
 * components use theme tokens only, never palette literals.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = process.cwd();
const componentsDir = join(root, 'src/components');
const sources = (readdirSync(componentsDir, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.tsx') && !f.endsWith('.test.tsx'))
  .map((f) => readFileSync(join(componentsDir, f), 'utf8'));
let css = '';

beforeAll(() => {
  const script = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts['build:css'] as string;
  const out = join(mkdtempSync(join(tmpdir(), 'tg-css-')), 'styles.css');
  const args = script.replace(/^tailwindcss /, '').replace('dist/styles.css', out).split(' ');
  execFileSync(join(root, 'node_modules/.bin/tailwindcss'), args, { cwd: root, stdio: 'pipe' });
  css = readFileSync(out, 'utf8');
}, 60_000);

/** The CSS selector of a utility class, as Tailwind escapes it. */
const selector = (cls: string) => '.' + cls.replace(/[:/.[\]()%]/g, (c) => `\\${c}`);

describe('dist/styles.css', () => {
  it('contains every theme-token utility the components use, and the motion-reduce variants', () => {
    const used = new Set(sources.flatMap((s) => s.match(/(?<![\w-])(?:[a-z-]+:)*[a-z]+-tg(?:-[a-z0-9]+)*(?:\/\d+)?(?![\w-])/g) ?? []));
    expect(used.size).toBeGreaterThan(20);
    const missing = [...used].filter((cls) => !css.includes(selector(cls)));
    expect(missing).toEqual([]);
    for (const cls of ['sr-only', 'animate-pulse', 'motion-reduce:animate-none', 'motion-reduce:transition-none', 'fill-tg-chart-1']) {
      expect(css, cls).toContain(selector(cls));
    }
    expect(css).toContain('prefers-reduced-motion');
  });

  it('defines the theme variables on :root and overrides them for .dark and [data-theme=dark]', () => {
    expect(css).toMatch(/:root\s*\{[^}]*--tg-color-primary:/);
    expect(css).toMatch(/\.dark,\s*\[data-theme="?dark"?\]\s*\{[^}]*--tg-color-primary:/);
    // Utilities read the variable (via @theme inline), so switching theme needs no rebuild.
    expect(css).toMatch(/\.bg-tg-primary\s*\{\s*background-color:\s*var\(--tg-color-primary\)/);
  });

  it('does not ship preflight (it would reset the host app)', () => {
    expect(css).not.toMatch(/(^|[}\s])html,\s*:host\s*\{/);
  });
});

describe('component sources', () => {
  it('use theme tokens, never palette literals or raw colours', () => {
    const palette =
      /(?<![\w-])(?:[a-z-]+:)*(?:bg|text|border|fill|stroke|ring|outline|from|to|via|divide|decoration|shadow|accent|caret)-(?:slate|gray|zinc|neutral|stone|red|orange|amber|yellow|lime|green|emerald|teal|cyan|sky|blue|indigo|violet|purple|fuchsia|pink|rose|black|white)(?:-\d+)?(?![\w-])/;
    for (const s of sources) {
      expect(s).not.toMatch(palette);
      expect(s).not.toMatch(/#[0-9a-f]{3,8}\b|rgba?\(|oklch\(|hsla?\(/i);
    }
  });
});
