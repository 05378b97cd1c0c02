import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { storybookTest } from '@storybook/addon-vitest/vitest-plugin';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { fileParallelism } from './test/connection-budget.ts';
import { CHROMIUM_FLAGS, findBrowser } from './test/find-browser.ts';
import { pgliteDumpRoute } from './test/pglite-dump-route.ts';

const dirname = path.dirname(fileURLToPath(import.meta.url));

// The browser projects need a Chromium (never a downloaded one). Without one they are left out
// locally with one line saying how to get one; under CI=true they stay in and fail in their global
// setup, so CI cannot pass without them.
const browser = findBrowser();
const runBrowserSuites = browser.path !== null || process.env.CI === 'true';
if (!runBrowserSuites && process.env.VITEST) {
  console.log(`[tokengate] Storybook and e2e suites skipped: ${browser.reason}`);
}

export default defineConfig({
  test: {
    // Test files at once, across the node projects: bounded by the Postgres connection budget
    // (TOKENGATE_TEST_MAX_CONNECTIONS; test/connection-budget.ts). The storybook project's browser
    // runs beside them.
    maxWorkers: fileParallelism(),
    projects: [
      {
        test: {
          name: 'db',
          environment: 'node',
          include: ['test/**/*.test.ts', 'server/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['test/react/**', 'test/e2e/**'],
          // Builds the migrated Postgres template database and PGlite data dir once per run.
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The React kit: components and hooks in jsdom, hooks against the real handler on PGlite.
        test: {
          name: 'dom',
          environment: 'jsdom',
          include: ['src/**/*.test.{ts,tsx}', 'test/react/**/*.test.{ts,tsx}'],
          globalSetup: ['test/global-setup.ts'],
          setupFiles: ['test/testing-library-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      ...(runBrowserSuites ? browserProjects(browser.path) : []),
    ],
  },
});

/** The projects that drive Chromium: the playground end to end, and every Storybook story. */
function browserProjects(executablePath: string | null): TestProjectInlineConfiguration[] {
  return [
    {
      // End-to-end: the demo (`npm start`) driven in Chromium with playwright-core (test/find-browser.ts).
      test: {
        name: 'e2e',
        environment: 'node',
        include: ['test/e2e/**/*.test.ts'],
        globalSetup: ['test/browser-global-setup.ts'],
        // One file; it runs beside the other projects' files (its demo server and browser are its own).
        testTimeout: 180_000,
        hookTimeout: 180_000,
      },
    },
    {
      // Every Storybook story as a test (render, play function, a11y with `a11y.test: 'error'`),
      // headless in Chromium through Vitest browser mode.
      plugins: [storybookTest({ configDir: path.join(dirname, '.storybook') }), pgliteDumpRoute()],
      test: {
        name: 'storybook',
        // The run's migrated PGlite dump, for the Live story (test/pglite-dump-route.ts).
        globalSetup: ['test/browser-global-setup.ts', 'test/global-setup.ts'],
        // The Live story runs the real handler, guard and ledger on PGlite in the browser: a
        // realistic budget on a loaded 2-core machine. Its steps wait for conditions, not durations.
        testTimeout: 180_000,
        browser: {
          enabled: true,
          headless: true,
          provider: playwright({
            // No executablePath only under CI without a browser, where the global setup fails first.
            launchOptions: { ...(executablePath ? { executablePath } : {}), args: [...CHROMIUM_FLAGS] },
          }),
          instances: [{ browser: 'chromium' }],
        },
      },
    },
  ];
}
