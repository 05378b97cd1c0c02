/**
 * Vitest global setup of the browser projects (storybook, e2e): fails the project before any test
 * when no Chromium can be found. vite.config.ts leaves these projects out when there is none, except
 * under CI=true, where a browser suite that cannot run is a failure rather than a skip.
 */
import { requireBrowser } from './find-browser.ts';

export default function browserGlobalSetup(): void {
  requireBrowser();
}
