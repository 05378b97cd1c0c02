'use client';
import { useEffect, useRef, useState } from 'react';
import type { Balances } from '../../core/types.ts';
import type { Formatter } from '../../i18n/create-formatter.ts';
import type { TokenGateMessages } from '../../i18n/messages.ts';

/**
 * The text for the dashboard's polite live region: empty at first (nothing to announce on load),
 * then "Quest generation: 375 left" whenever a metered balance changes.
 *
 * @example
 * const announcement = useBalanceAnnouncement(balances, messages, format);
 * <div aria-live="polite">{announcement}</div>
 */
export function useBalanceAnnouncement(balances: Balances | undefined, m: TokenGateMessages, f: Formatter): string {
  const previous = useRef<Map<string, number | null> | null>(null);
  const [text, setText] = useState('');
  useEffect(() => {
    if (!balances) return;
    const current = new Map(balances.tokenTypes.map((b) => [b.tokenType, b.available]));
    const before = previous.current;
    previous.current = current;
    if (!before) return;
    const changed = balances.tokenTypes.filter(
      (b) => !b.unlimited && before.has(b.tokenType) && before.get(b.tokenType) !== b.available,
    );
    if (changed.length > 0) {
      setText(changed.map((b) => m.announceBalance({ name: b.name, available: f.number(b.available ?? 0) })).join(' '));
    }
  }, [balances, m, f]);
  return text;
}
