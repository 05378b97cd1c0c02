'use client';
import type { ComponentProps, ReactNode } from 'react';
import { cn } from '../cn.ts';

/** Props of {@link TokenDashboardFrame}. */
export interface TokenDashboardFrameProps extends Omit<ComponentProps<'section'>, 'children' | 'title'> {
  /** Id of the heading, which names the region unless the app passes `aria-label`. */
  titleId: string;
  /** The heading's content. */
  heading: ReactNode;
  status: 'loading' | 'error' | 'success';
  variant: 'full' | 'compact';
  /** Beside the heading (the plan badge). */
  badge?: ReactNode;
  /** At the end of the header (the upgrade and top-up buttons). */
  actions?: ReactNode;
  /** Text of the polite live region. */
  announcement?: string;
  children: ReactNode;
}

/**
 * Internal: the dashboard's region — heading, header, body and polite live region. The view renders
 * it in every state; the connected dashboard renders it, with the view's loading skeleton, while the
 * view itself loads on demand, so nothing moves when the view takes over.
 *
 * @example
 * <TokenDashboardFrame titleId={id} heading="AI token balance" status="loading" variant="full">
 *   <TokenDashboardSkeleton label="Loading token balances…" />
 * </TokenDashboardFrame>
 */
export function TokenDashboardFrame({
  titleId,
  heading,
  status,
  variant,
  badge,
  actions,
  announcement,
  children,
  className,
  ...props
}: TokenDashboardFrameProps) {
  return (
    <section
      // An app's aria-label must win, and aria-labelledby would beat it.
      aria-labelledby={props['aria-label'] === undefined ? titleId : undefined}
      aria-busy={status === 'loading' ? true : undefined}
      data-slot="token-dashboard"
      data-state={status}
      data-variant={variant}
      className={cn(
        'flex flex-col gap-4 rounded-tg border border-tg-border bg-tg-surface p-4 text-tg-foreground',
        className,
      )}
      {...props}
    >
      <header data-slot="token-dashboard-header" className="flex flex-wrap items-center justify-between gap-2">
        <div data-slot="token-dashboard-heading" className="flex items-center gap-2">
          <h2 id={titleId} className={cn('text-base font-semibold', variant === 'compact' && 'sr-only')}>
            {heading}
          </h2>
          {badge}
        </div>
        {actions}
      </header>
      {children}
      <div aria-live="polite" aria-atomic="true" data-slot="token-dashboard-live" className="sr-only">
        {announcement}
      </div>
    </section>
  );
}
