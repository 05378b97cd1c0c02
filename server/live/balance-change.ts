// TEMPORARY: the contract's type until the lead's `BalanceChange` lands in src/core/types.ts.
export interface BalanceChange {
  orgId: string;
  tokenType: string;
  ledgerId: number;
  kind: 'refresh' | 'grant' | 'deduct' | 'reserve' | 'commit' | 'release' | 'expire' | 'adjust';
  available: number | null;
  allowanceRemaining: number;
  purchased: number;
  held: number;
}
