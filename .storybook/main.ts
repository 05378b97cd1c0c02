import tailwindcss from '@tailwindcss/vite';
import type { StorybookConfig } from '@storybook/react-vite';

/** Storybook for the React kit: every state from fixtures, plus a live story on PGlite in the browser. */
const config: StorybookConfig = {
  stories: ['../stories/**/*.stories.@(ts|tsx)'],
  addons: ['@storybook/addon-a11y', '@storybook/addon-vitest'],
  framework: { name: '@storybook/react-vite', options: {} },
  // There is no network here (and no reason to phone home).
  core: { disableTelemetry: true },
  async viteFinal(config) {
    const { mergeConfig } = await import('vite');
    return mergeConfig(config, {
      // The kit's theme and utilities, compiled from src/styles/tokengate.css (+ the stories' own classes).
      plugins: [tailwindcss()],
      // PGlite loads its WebAssembly and data files relative to its own module: keep it out of the prebundle.
      optimizeDeps: { exclude: ['@electric-sql/pglite'] },
    });
  },
};
export default config;
