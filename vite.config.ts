import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'db',
          environment: 'node',
          include: ['test/**/*.test.ts', 'server/**/*.test.ts'],
          // Builds the migrated Postgres template database and PGlite data dir once per run.
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
