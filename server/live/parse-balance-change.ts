import { z } from 'zod';
import type { BalanceChange } from '../../src/core/types.ts';

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The payload of a `tokengate_changes` notification, as the migration builds it. */
const balanceChangeSchema = z.object({
  orgId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
  tokenType: z.string().min(1).max(63),
  ledgerId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  kind: z.enum(['refresh', 'grant', 'deduct', 'reserve', 'commit', 'release', 'expire', 'adjust']),
  available: count.nullable(),
  allowanceRemaining: count,
  purchased: count,
  held: count,
});

/**
 * A `tokengate_changes` notification payload as a `BalanceChange`, or null when it is not one
 * (malformed JSON, a missing or mistyped field, an unknown kind): such a payload is dropped, never
 * forwarded. Fields the database may add later are left out, so clients only ever see the contract.
 *
 * @example
 * parseBalanceChange('{"orgId":"…","tokenType":"chat","ledgerId":7,"kind":"deduct","available":3,"allowanceRemaining":3,"purchased":0,"held":0}');
 */
export function parseBalanceChange(payload: string): BalanceChange | null {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return null;
  }
  const parsed = balanceChangeSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}
