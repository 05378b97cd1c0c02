import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { createFormatter } from '../../i18n/create-formatter.ts';
import { defaultMessages } from '../../i18n/messages.ts';
import { emptyStats } from '../fixtures.ts';
import { UsageChart, daysBetween } from './usage-chart.tsx';

afterEach(cleanup);

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
    render(<UsageChart stats={stats} nameOf={(t) => t.toUpperCase()} messages={defaultMessages} format={createFormatter('en-US')} />);
    const img = screen.getByRole('img', { name: '12 tokens used from Jan 1 to Jul 19, over 200 days.' });
    expect(img.querySelectorAll('rect')).toHaveLength(1);
    const table = screen.getByRole('table');
    expect(within(table).getAllByRole('row')).toHaveLength(1 + 92);
    expect(within(table).getByRole('columnheader', { name: 'Q' })).toBeTruthy();
  });
});
