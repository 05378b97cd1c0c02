import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'db',
          environment: 'node',
          include: ['test/**/*.test.ts', 'server/**/*.test.ts'],
          exclude: ['test/react/**'],
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
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // End-to-end: the demo (`npm start`) driven in Debian's Chromium with playwright-core.
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
