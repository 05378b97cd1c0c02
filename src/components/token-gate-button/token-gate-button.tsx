'use client';
import type { MouseEvent } from 'react';
import type { TokenGateStatus } from '../../react/use-token-gate.ts';
import { useTokenGateI18n } from '../../i18n/use-token-gate-i18n.ts';
import type { MessageOverrides } from '../../i18n/messages.ts';
import { Button, type ButtonProps } from '../ui/button.tsx';

/**
 * What {@link TokenGateButton} reads of a gate: any `useTokenGate(...)` result fits.
 *
 * @example
 * const state: TokenGateButtonState = useTokenGate('quest_generation', { action });
 */
export interface TokenGateButtonState {
  canRun: boolean;
  status: TokenGateStatus;
  cost: number | null;
  isLoading: boolean;
  blocked: boolean;
}

/** Props of {@link TokenGateButton}. */
export interface TokenGateButtonProps extends Omit<ButtonProps, 'disabled' | 'onClick'> {
  /** The gate this button runs: the result of `useTokenGate(...)`. */
  gate: TokenGateButtonState;
  /** Called when pressed while the gate can run: start the run here, e.g. `() => gate.run(goalId)`. */
  onClick?: (event: MouseEvent<HTMLButtonElement>) => void;
  /** Called when pressed while the gate is blocked, e.g. to open the `UpgradePrompt` dialog. */
  onBlockedClick?: (event: MouseEvent<HTMLButtonElement>) => void;
  /** Label while a run is in flight (also announced). Default: `messages.buttonRunning` ("Working…"). */
  runningLabel?: string;
  /** Hide the cost after the label. Default false. */
  hideCost?: boolean;
  /** BCP 47 locale of the cost (default: the provider's, else the browser's). */
  locale?: string;
  /** Text overrides (`buttonCost`, `buttonCostPending`, `buttonCostUnknown`, `buttonRunning`). */
  messages?: MessageOverrides;
}

/**
 * The button of a gated AI action: its label, then the cost — "(… tokens)" while the balances load,
 * "(— tokens)" when they could not be loaded, never "( tokens)". It is never `disabled`: while it
 * cannot run it is `aria-disabled` (presses are ignored, or go to `onBlockedClick`) and while a run
 * is in flight `aria-busy`, with the running label announced in a polite live region, so a keyboard
 * user who pressed it keeps focus on it through the run. `data-state`: `loading`, `ready`,
 * `running`, `blocked` or `unavailable`.
 *
 * @example
 * const quest = useTokenGate('quest_generation', { action });
 * <TokenGateButton gate={quest} onClick={() => void quest.run(goalId)} runningLabel="Generating…">
 *   Generate New Quest
 * </TokenGateButton>
 */
export function TokenGateButton({
  gate,
  onClick,
  onBlockedClick,
  runningLabel,
  hideCost = false,
  locale,
  messages: overrides,
  variant = 'primary',
  children,
  ...props
}: TokenGateButtonProps) {
  const { messages: m, format: f } = useTokenGateI18n({ locale, messages: overrides });
  const running = gate.status === 'running';
  const state = running ? 'running' : gate.blocked ? 'blocked' : gate.isLoading ? 'loading' : gate.canRun ? 'ready' : 'unavailable';
  const cost =
    gate.cost !== null ? m.buttonCost({ cost: f.number(gate.cost), count: gate.cost })
    : gate.isLoading ? m.buttonCostPending
    : m.buttonCostUnknown;
  const busyText = runningLabel ?? m.buttonRunning;

  return (
    <>
      <Button
        variant={variant}
        aria-disabled={gate.canRun ? undefined : true}
        aria-busy={running || undefined}
        data-slot="token-gate-button"
        data-state={state}
        onClick={(event) => {
          if (gate.canRun) onClick?.(event);
          else if (gate.blocked && !running) onBlockedClick?.(event);
        }}
        {...props}
      >
        {/* Spans: the button's flex gap spaces them; the ' ' between is for the accessible name only. */}
        <span data-slot="token-gate-button-label">{running ? busyText : children}</span>
        {!hideCost && !running && (
          <>
            {' '}
            <span data-slot="token-gate-button-cost">{cost}</span>
          </>
        )}
      </Button>
      {/* Outside the button, so its name stays the label; present before a run so the change is announced. */}
      <span role="status" data-slot="token-gate-button-status" className="sr-only">
        {running ? busyText : ''}
      </span>
    </>
  );
}
