import type { ComponentProps } from 'react';
import { cn } from '../cn.ts';

/**
 * A placeholder block shown while data loads (internal primitive); pulses unless the user prefers
 * reduced motion. Hidden from assistive technology: the container's `aria-busy` and a text say it.
 *
 * @example
 * <Skeleton className="h-4 w-32" />
 */
export function Skeleton({ className, ...props }: ComponentProps<'div'>) {
  return (
    <div
      aria-hidden="true"
      data-slot="skeleton"
      className={cn('animate-pulse rounded-tg bg-tg-muted motion-reduce:animate-none', className)}
      {...props}
    />
  );
}
