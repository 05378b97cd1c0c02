import axe from 'axe-core';
import { expect } from 'vitest';

/**
 * Test helper: runs axe-core on `container` and fails with a readable list of violations.
 * `color-contrast` is disabled because jsdom has no layout or computed colours to measure; every
 * other rule (WCAG 2.x A/AA and best practices) runs.
 *
 * @example
 * const { container } = render(<TokenDashboardView … />);
 * await expectNoAxeViolations(container);
 */
export async function expectNoAxeViolations(container: Element): Promise<void> {
  const results = await axe.run(container, { rules: { 'color-contrast': { enabled: false } } });
  const found = results.violations.map((v) => `${v.id}: ${v.help} — ${v.nodes.map((n) => n.html).join(' | ')}`);
  expect(found).toEqual([]);
}
