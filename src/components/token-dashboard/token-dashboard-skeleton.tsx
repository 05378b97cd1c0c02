'use client';
import { Skeleton } from '../ui/skeleton.tsx';
import { VisuallyHidden } from '../ui/visually-hidden.tsx';

/**
 * Internal: the dashboard's body while its balances load — two placeholder rows, and `label` for
 * screen readers (the region is `aria-busy` meanwhile).
 *
 * @example
 * <TokenDashboardSkeleton label={messages.loading} />
 */
export function TokenDashboardSkeleton({ label }: { label: string }) {
  return (
    <div data-slot="token-dashboard-skeleton" className="flex flex-col gap-4">
      <VisuallyHidden>{label}</VisuallyHidden>
      {[0, 1].map((i) => (
        <div key={i} data-slot="token-dashboard-skeleton-row" className="flex flex-col gap-2">
          <Skeleton className="h-4 w-32" />
          <Skeleton className="h-2 w-full" />
        </div>
      ))}
    </div>
  );
}
