'use client';
import { useId, type ComponentProps } from 'react';
import { sortGrants } from '../../core/burn-order.ts';
import { ANY_TOKEN_TYPE, type Grant } from '../../core/types.ts';
import type { Formatter } from '../../i18n/create-formatter.ts';
import type { TokenGateMessages } from '../../i18n/messages.ts';
import { cn } from '../cn.ts';
import { Button } from '../ui/button.tsx';

const STATUS_RANK: Record<Grant['status'], number> = { active: 0, scheduled: 1, expired: 2, revoked: 2 };

/** As the server lists them: active grants in burn order, then scheduled ones, then ended ones (a stable sort keeps burn order within each). */
function inDisplayOrder(grants: readonly Grant[]): Grant[] {
  return sortGrants(grants).sort((a, b) => STATUS_RANK[a.status] - STATUS_RANK[b.status]);
}

/** Props of {@link GrantsDisclosureView}. */
export interface GrantsDisclosureViewProps extends Omit<ComponentProps<'div'>, 'children'> {
  /** Display name of the token type. */
  name: string;
  /** Whether the grants are shown. */
  open: boolean;
  onOpenChange: (open: boolean) => void;
  /** Load status of `grants` (`idle`: not asked for yet). */
  status: 'idle' | 'loading' | 'error' | 'success';
  /** The token type's grants (any order: they are shown in burn order). */
  grants: readonly Grant[] | undefined;
  /** Retry button of the error state. */
  onRetry?: () => void;
  messages: TokenGateMessages;
  format: Formatter;
  /** Reference time for "expires in N days". */
  now: Date;
}

/**
 * A balance's grants behind a disclosure button (`aria-expanded`, `aria-controls`): a table of
 * each grant's source, what is left of it, and its expiry (relative and absolute, in the locale),
 * in the order the ledger spends them (scheduled grants after the active ones); loading, error
 * (with Retry) and empty states.
 *
 * @example
 * <GrantsDisclosureView name="Chat" open={open} onOpenChange={setOpen} status="success" grants={grants} messages={m} format={f} now={new Date()} />
 */
export function GrantsDisclosureView({
  name,
  open,
  onOpenChange,
  status,
  grants,
  onRetry,
  messages: m,
  format: f,
  now,
  className,
  ...props
}: GrantsDisclosureViewProps) {
  const panelId = useId();
  const captionId = useId();
  const n = f.number;
  let panel;
  if (status === 'error' && !grants) {
    panel = (
      <div role="alert" data-slot="grants-error" className="flex items-center gap-2">
        <span className="text-tg-danger-foreground">{m.grantsError}</span>
        {onRetry && <Button onClick={onRetry}>{m.retry}</Button>}
      </div>
    );
  } else if (!grants) {
    panel = <p data-slot="grants-loading">{m.grantsLoading}</p>;
  } else if (grants.length === 0) {
    panel = <p data-slot="grants-empty">{m.grantsEmpty}</p>;
  } else {
    panel = (
      <table data-slot="grants-table" aria-labelledby={captionId} className="w-full text-left tabular-nums">
        <caption id={captionId} className="sr-only">
          {m.grantsCaption({ name })}
        </caption>
        <thead>
          <tr>
            <th scope="col" className="font-medium">{m.grantSourceColumn}</th>
            <th scope="col" className="text-right font-medium">{m.grantLeftColumn}</th>
            <th scope="col" className="text-right font-medium">{m.grantExpiresColumn}</th>
          </tr>
        </thead>
        <tbody>
          {inDisplayOrder(grants).map((g) => (
            <tr key={g.grantId} data-slot="grant" data-state={g.status} data-source={g.source} className="border-t border-tg-border">
              <th scope="row" className="py-1 font-normal">
                {m.grantSource({ source: g.source })}
                {g.tokenType === ANY_TOKEN_TYPE && <> · {m.grantAnyType}</>}
                {g.status === 'scheduled' && <> · {m.grantStarts({ date: f.date(g.effectiveAt, 'long') })}</>}
              </th>
              <td className="py-1 text-right">{m.grantLeft({ remaining: n(g.remaining), amount: n(g.amount) })}</td>
              <td className="py-1 text-right">
                {g.expiresAt === null ? (
                  m.grantNeverExpires
                ) : (
                  <time dateTime={g.expiresAt}>{m.grantExpires({ relative: f.relativeDays(g.expiresAt, now), date: f.date(g.expiresAt, 'long') })}</time>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    );
  }

  return (
    <div data-slot="grants" data-state={open ? 'open' : 'closed'} className={cn('flex flex-col gap-1 text-xs text-tg-muted-foreground', className)} {...props}>
      <Button
        variant="ghost"
        aria-expanded={open}
        aria-controls={panelId}
        aria-label={m.grantsLabel({ name })}
        data-slot="grants-toggle"
        className="self-start px-0 py-0 text-xs"
        onClick={() => onOpenChange(!open)}
      >
        {m.grantsButton}
        <span aria-hidden="true">{open ? '▴' : '▾'}</span>
      </Button>
      <div id={panelId} data-slot="grants-panel" hidden={!open} aria-busy={status === 'loading' ? true : undefined}>
        {open && panel}
      </div>
    </div>
  );
}
