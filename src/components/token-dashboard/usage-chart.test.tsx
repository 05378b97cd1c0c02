import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { createFormatter } from '../../i18n/create-formatter.ts';
import { defaultMessages } from '../../i18n/messages.ts';
import { expectNoAxeViolations } from '../expect-no-axe-violations.ts';
import { emptyStats, proStats } from '../fixtures.ts';
import { UsageChart, daysBetween } from './usage-chart.tsx';

afterEach(cleanup);

const renderChart = (stats = proStats, locale = 'en-US') =>
  render(<UsageChart stats={stats} nameOf={(t) => t.toUpperCase()} messages={defaultMessages} format={createFormatter(locale)} />);
const texts = (els: Element[]) => els.map((e) => e.textContent);
const slots = (container: Element, slot: string) => [...container.querySelectorAll(`[data-slot=${slot}]`)];

describe('UsageChart', () => {
  it('fills days without usage, so gaps show', () => {
    expect(daysBetween('2026-11-24', '2026-11-26')).toEqual(['2026-11-24', '2026-11-25', '2026-11-26']);
    expect(daysBetween('2026-11-26', '2026-11-24')).toEqual([]);
  });

  it('draws at most the last 92 days of a long range, but summarises all of it', () => {
    const stats = {
      ...emptyStats,
      from: '2026-01-01',
      to: '2026-07-19',
      totals: { tokens: 12, events: 3 },
      byType: [{ tokenType: 'q', tokens: 12, events: 3 }],
      byDay: [
        { day: '2026-01-02', tokenType: 'q', tokens: 5, events: 1 },
        { day: '2026-07-18', tokenType: 'q', tokens: 7, events: 2 },
      ],
    };
    const { container } = renderChart(stats);
    const img = screen.getByRole('img', { name: '12 tokens used from Jan 1 to Jul 19, over 200 days.' });
    expect(img.querySelectorAll('rect')).toHaveLength(1);
    const table = screen.getByRole('table');
    expect(within(table).getAllByRole('row')).toHaveLength(1 + 92);
    expect(within(table).getByRole('columnheader', { name: 'Q' })).toBeTruthy();
    // Six date labels over 92 days, the last one the range's end.
    expect(texts(slots(container, 'usage-chart-x-tick'))).toEqual(['Apr 30', 'May 16', 'Jun 1', 'Jun 17', 'Jul 3', 'Jul 19']);
  });

  it('y axis: round token counts from 0 up to at least the busiest day, bars scaled to the top tick', () => {
    const { container } = renderChart();
    // proStats' busiest day is Nov 23 (40 tokens).
    expect(texts(slots(container, 'usage-chart-y-tick'))).toEqual(['0', '10', '20', '30', '40']);
    expect(container.querySelector('[data-slot=usage-chart-y-title]')!.textContent).toBe('Tokens');
    const heights = [...container.querySelectorAll('rect')].map((r) => Number(r.getAttribute('height')));
    // A 40-token day fills the 60-unit plot; nothing overflows it.
    expect(Math.max(...heights)).toBeLessThanOrEqual(60);
    const stacked = new Map<string, number>();
    for (const r of container.querySelectorAll('rect')) stacked.set(r.getAttribute('x')!, (stacked.get(r.getAttribute('x')!) ?? 0) + Number(r.getAttribute('height')));
    expect(Math.max(...stacked.values())).toBeCloseTo(60);
    // One grid line per tick.
    expect(container.querySelectorAll('svg line')).toHaveLength(5);
  });

  it('x axis: dates in the locale, the latest day always labelled', () => {
    const { container } = renderChart(proStats, 'de-DE');
    const labels = texts(slots(container, 'usage-chart-x-tick'));
    expect(labels).toEqual(['20. Nov.', '22. Nov.', '24. Nov.', '26. Nov.']);
  });

  it('y axis: large counts in compact notation in the locale; the table keeps the exact numbers', () => {
    const huge = {
      ...proStats,
      totals: { tokens: 3_500_000_000, events: 10 },
      byType: [{ tokenType: 'q', tokens: 3_500_000_000, events: 10 }],
      byDay: [{ day: proStats.to, tokenType: 'q', tokens: 3_500_000_000, events: 10 }],
    };
    const { container } = renderChart(huge);
    expect(texts(slots(container, 'usage-chart-y-tick'))).toEqual(['0', '1B', '2B', '3B', '4B']);
    expect(within(screen.getByRole('table')).getByText('3,500,000,000', { selector: 'td:last-child' })).toBeTruthy();
    cleanup();
    const de = renderChart(huge, 'de-DE').container;
    // Intl separates number and unit with a no-break space.
    expect(texts(slots(de, 'usage-chart-y-tick')).map((t) => t!.replace(/\u00a0/g, ' '))).toEqual(['0', '1 Mrd.', '2 Mrd.', '3 Mrd.', '4 Mrd.']);
  });

  it('one image named by its summary that points at the data table; axes are not read twice', async () => {
    const { container } = renderChart();
    const img = screen.getByRole('img', { name: /^150 tokens used from Nov 20 to Nov 26/ });
    const table = screen.getByRole('table', { name: /^150 tokens used/ });
    expect(document.getElementById(img.getAttribute('aria-details')!)!.contains(table)).toBe(true);
    // The axis labels live inside the image (presentational there), never as separate text.
    expect(img.contains(container.querySelector('[data-slot=usage-chart-x-axis]'))).toBe(true);
    expect(img.contains(container.querySelector('[data-slot=usage-chart-y-axis]'))).toBe(true);
    // Headers with scopes: a column per type plus Day and Total, a row header per day.
    expect(within(table).getAllByRole('columnheader').map((h) => [h.textContent, h.getAttribute('scope')])).toEqual([
      ['Day', 'col'],
      ['QUEST_GENERATION', 'col'],
      ['IMAGE_GENERATION', 'col'],
      ['Total', 'col'],
    ]);
    expect(within(table).getAllByRole('rowheader').map((h) => h.getAttribute('scope'))).toEqual(Array(7).fill('row'));
    await expectNoAxeViolations(container);
  });

  it('"Show as table" reveals the table visibly (aria-pressed) and hides it again', async () => {
    const { container } = renderChart();
    const toggle = screen.getByRole('button', { name: 'Show as table' });
    const wrapper = container.querySelector('[data-slot=usage-chart-table-wrapper]')!;
    expect(toggle.getAttribute('aria-pressed')).toBe('false');
    expect(toggle.getAttribute('aria-controls')).toBe(wrapper.id);
    expect(wrapper.className).toContain('sr-only');
    await userEvent.click(toggle);
    expect(toggle.getAttribute('aria-pressed')).toBe('true');
    expect(wrapper.className).not.toContain('sr-only');
    expect(wrapper.getAttribute('data-state')).toBe('shown');
    // It scrolls when long: reachable by keyboard, and named by the caption.
    expect(wrapper.getAttribute('tabindex')).toBe('0');
    expect(screen.getByRole('group', { name: /^150 tokens used/ })).toBe(wrapper);
    await expectNoAxeViolations(container);
    await userEvent.click(toggle);
    expect(wrapper.className).toContain('sr-only');
  });
});
