import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { ProgressBar } from './progress-bar.tsx';

afterEach(cleanup);

describe('ProgressBar', () => {
  it('clamps the value into [0, max]', () => {
    render(<ProgressBar label="Over" value={900} max={500} />);
    const bar = screen.getByRole('progressbar', { name: 'Over' });
    expect(bar.getAttribute('aria-valuenow')).toBe('500');
    expect((bar.firstElementChild as HTMLElement).style.width).toBe('100%');
  });

  it('a zero or non-finite max never divides by zero (no NaN / Infinity)', () => {
    const { container } = render(
      <>
        <ProgressBar label="Zero" value={5} max={0} />
        <ProgressBar label="Inf" value={5} max={Number.POSITIVE_INFINITY} />
      </>,
    );
    expect(container.innerHTML).not.toMatch(/NaN|Infinity/);
    expect(screen.getByRole('progressbar', { name: 'Zero' }).getAttribute('aria-valuenow')).toBe('0');
  });
});
