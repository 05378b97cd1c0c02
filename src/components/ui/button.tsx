import type { ComponentProps } from 'react';
import { cn } from '../cn.ts';

/** Props of {@link Button}: a native button plus a visual variant. */
export interface ButtonProps extends ComponentProps<'button'> {
  /** `primary` for the main action, `secondary` for the rest. */
  variant?: 'primary' | 'secondary' | 'ghost';
}

/**
 * The kit's button (internal primitive): a native `<button type="button">` styled with theme tokens.
 *
 * @example
 * <Button variant="primary" onClick={onRetry}>Retry</Button>
 */
export function Button({ variant = 'secondary', className, type = 'button', ...props }: ButtonProps) {
  return (
    <button
      type={type}
      data-slot="button"
      data-variant={variant}
      className={cn(
        'inline-flex items-center justify-center gap-2 rounded-tg px-3 py-1.5 text-sm font-medium',
        'transition-colors motion-reduce:transition-none',
        'focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-tg-ring',
        // aria-disabled: still focusable (a pressed button must keep focus), but looks unavailable.
        'disabled:cursor-not-allowed disabled:opacity-50 aria-disabled:cursor-not-allowed aria-disabled:opacity-50',
        variant === 'primary' && 'bg-tg-primary text-tg-primary-foreground hover:bg-tg-primary/90',
        variant === 'secondary' && 'border border-tg-border bg-tg-surface text-tg-foreground hover:bg-tg-muted',
        variant === 'ghost' && 'text-tg-foreground hover:bg-tg-muted',
        className,
      )}
      {...props}
    />
  );
}
