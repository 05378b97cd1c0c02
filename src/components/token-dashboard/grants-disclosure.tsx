'use client';
import { useState } from 'react';
import type { TokenTypeId } from '../../core/types.ts';
import { useGrants } from '../../react/use-grants.ts';
import { GrantsDisclosureView, type GrantsDisclosureViewProps } from './grants-disclosure-view.tsx';

/** Props of {@link GrantsDisclosure}. */
export interface GrantsDisclosureProps
  extends Omit<GrantsDisclosureViewProps, 'open' | 'onOpenChange' | 'status' | 'grants' | 'onRetry'> {
  tokenType: TokenTypeId;
}

/**
 * {@link GrantsDisclosureView} wired to `useGrants`: the grants are fetched on demand, the first
 * time the disclosure opens (and kept fresh by the kit's charges while it is cached).
 *
 * @example
 * <GrantsDisclosure tokenType="chat" name="Chat" messages={m} format={f} now={new Date()} />
 */
export function GrantsDisclosure({ tokenType, ...props }: GrantsDisclosureProps) {
  const [open, setOpen] = useState(false);
  const grants = useGrants(tokenType, { enabled: open });
  const status = !open && !grants.data ? 'idle' : grants.isError ? 'error' : grants.data ? 'success' : 'loading';
  return (
    <GrantsDisclosureView
      {...props}
      open={open}
      onOpenChange={setOpen}
      status={status}
      grants={grants.data}
      onRetry={() => void grants.refetch()}
    />
  );
}
