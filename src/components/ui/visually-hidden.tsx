import type { ComponentProps } from 'react';
import { cn } from '../cn.ts';

/**
 * Content for screen readers only (internal primitive), e.g. a chart's table fallback.
 *
 * @example
 * <VisuallyHidden>Loading token balances…</VisuallyHidden>
 */
export function VisuallyHidden({ className, ...props }: ComponentProps<'span'>) {
  return <span data-slot="visually-hidden" className={cn('sr-only', className)} {...props} />;
}
