/** Finding a Chromium for the browser suites (test/find-browser.ts), on real files in a temp folder. */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_HINT, findBrowser, requireBrowser } from './find-browser.ts';

describe('findBrowser', () => {
  let dir: string;
  let chrome: string;
  let notExecutable: string;
  const missing = () => path.join(dir, 'missing');
  const noPlaywright = () => null;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tokengate-find-browser-'));
    chrome = path.join(dir, 'chrome');
    notExecutable = path.join(dir, 'chromium.txt');
    await writeFile(chrome, '#!/bin/sh\n');
    await chmod(chrome, 0o755);
    await writeFile(notExecutable, '');
    await chmod(notExecutable, 0o644);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the first executable candidate, skipping missing and non-executable files and folders', () => {
    expect(findBrowser({}, [missing(), notExecutable, dir, chrome], noPlaywright)).toEqual({ path: chrome, reason: null });
  });

  it("falls back to Playwright's browser only when its file exists", () => {
    expect(findBrowser({}, [missing()], () => chrome)).toEqual({ path: chrome, reason: null });
    expect(findBrowser({}, [missing()], () => missing())).toEqual({ path: null, reason: BROWSER_HINT });
  });

  it('CHROMIUM_PATH wins, and a wrong one is reported rather than passed over', () => {
    expect(findBrowser({ CHROMIUM_PATH: chrome }, [missing()], noPlaywright)).toEqual({ path: chrome, reason: null });
    const wrong = findBrowser({ CHROMIUM_PATH: notExecutable }, [chrome], noPlaywright);
    expect(wrong.path).toBeNull();
    expect(wrong.reason).toContain(`CHROMIUM_PATH=${notExecutable} is not an executable file`);
    expect(wrong.reason).toContain('apt-get install -y chromium');
  });

  it('without one, the hint says how to get one, and requireBrowser fails with it (naming CI under CI)', () => {
    expect(BROWSER_HINT).toMatch(/apt-get install -y chromium.*CHROMIUM_PATH/);
    expect(() => requireBrowser({ CHROMIUM_PATH: missing() })).toThrow(/not an executable file/);
    expect(() => requireBrowser({ CHROMIUM_PATH: missing(), CI: 'true' })).toThrow(/CI=true: the browser suites must run/);
    expect(requireBrowser({ CHROMIUM_PATH: chrome })).toBe(chrome);
  });
});
