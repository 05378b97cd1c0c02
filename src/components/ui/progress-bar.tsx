import type { ComponentProps } from 'react';
import { cn } from '../cn.ts';

/** Props of {@link ProgressBar}. */
export interface ProgressBarProps extends Omit<ComponentProps<'div'>, 'children'> {
  /** Current value; clamped to [0, max]. */
  value: number;
  /** Upper bound; must be > 0 (callers render no bar for a zero allowance). */
  max: number;
  /** Accessible name (or pass `aria-labelledby`). */
  label?: string;
  /** Human text of the value, e.g. "120 of 500 used". */
  valueText?: string;
  /** Visual state: colours the indicator. */
  state?: 'ok' | 'low' | 'exhausted';
}

/**
 * A determinate `role="progressbar"` (internal primitive) with `aria-valuenow/min/max`. Never
 * divides by zero: a non-positive `max` shows an empty bar at 0 %.
 *
 * @example
 * <ProgressBar value={120} max={500} label="Quest generation" valueText="120 of 500 used" />
 */
export function ProgressBar({ value, max, label, valueText, state = 'ok', className, ...props }: ProgressBarProps) {
  const safeMax = max > 0 && Number.isFinite(max) ? max : 0;
  const now = safeMax === 0 ? 0 : Math.min(Math.max(value, 0), safeMax);
  const pct = safeMax === 0 ? 0 : (now / safeMax) * 100;
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={safeMax}
      aria-valuenow={now}
      aria-valuetext={valueText}
      data-slot="progress"
      data-state={state}
      className={cn('h-2 w-full overflow-hidden rounded-full bg-tg-muted', className)}
      {...props}
    >
      <div
        data-slot="progress-indicator"
        data-state={state}
        className={cn(
          'h-full rounded-full transition-[width] duration-500 motion-reduce:transition-none',
          state === 'ok' && 'bg-tg-primary',
          state === 'low' && 'bg-tg-warning',
          state === 'exhausted' && 'bg-tg-danger',
        )}
        style={{ width: `${pct}%` }}
      />
    </div>
  );
}
