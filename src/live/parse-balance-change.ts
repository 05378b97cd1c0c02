import type { BalanceChange } from '../core/types.ts';

const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The `BalanceChange` in a decoded event payload, or null when it is not one (a malformed or
 * foreign payload is dropped, never patched into the cache).
 *
 * @example
 * const change = parseBalanceChange(JSON.parse(event.data));
 * if (change && change.orgId === orgId) onChange(change);
 */
export function parseBalanceChange(value: unknown): BalanceChange | null {
  if (typeof value !== 'object' || value === null) return null;
  const c = value as Record<string, unknown>;
  const ok =
    typeof c.orgId === 'string' &&
    typeof c.tokenType === 'string' &&
    typeof c.kind === 'string' &&
    count(c.ledgerId) &&
    (c.available === null || count(c.available)) &&
    count(c.allowanceRemaining) &&
    count(c.purchased) &&
    count(c.held);
  return ok ? (c as unknown as BalanceChange) : null;
}
