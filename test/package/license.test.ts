/**
 * The license: package.json says MIT, so the repository and the tarball npm would publish carry the
 * MIT text with its copyright line.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from './build.ts';

const run = promisify(execFile);

describe('LICENSE', () => {
  it('is the MIT license of "Tokengate contributors", as package.json declares', async () => {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { license: string };
    expect(pkg.license).toBe('MIT');
    const text = await readFile(path.join(ROOT, 'LICENSE'), 'utf8');
    const lines = text.split('\n');
    expect(lines[0]).toBe('MIT License');
    expect(text).toMatch(/^Copyright \(c\) 2026 Tokengate contributors$/m);
    expect(text).toContain('Permission is hereby granted, free of charge, to any person obtaining a copy');
    expect(text).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND');
  });

  it('is in the tarball npm would publish', async () => {
    // --ignore-scripts: list the files without running prepack's build.
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout) as { files: { path: string }[] }[];
    expect(packed!.files.map((f) => f.path)).toContain('LICENSE');
  });
});
