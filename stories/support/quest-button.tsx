/**
 * A story-only "Generate quest" button over `useTokenGate` (guarded mode): it calls the app's
 * guarded route, shows the cost, the running / refunded / error states, and the UpgradePrompt when
 * the gate refuses. Apps build their own; this is what a designer sees the kit do.
 */
import { useId, useState } from 'react';
import { TokenGateButton, UpgradePrompt } from '../../src/components/index.ts';
import { useTokenGate } from '../../src/react/index.ts';

/** The app's guarded AI route the stories answer in-process. */
export const GENERATE_URL = '/api/generate-quest';

/** What the guarded route answers. */
export interface QuestResult {
  quest: string;
}

/** Props of {@link QuestButton}. */
export interface QuestButtonProps {
  /** Called by the prompt's upgrade / top-up buttons. */
  onUpgrade?: () => void;
  onTopUp?: () => void;
  /** The prompt's upgrade button text, with the price (the app knows the next plan). */
  upgradeLabel?: string;
}

/** The gated button: cost, status line, last quest, and the upgrade prompt when refused. */
export function QuestButton({ onUpgrade, onTopUp, upgradeLabel = 'Upgrade your plan' }: QuestButtonProps) {
  const [goal] = useState('Save for a bike');
  const costId = useId();
  const gate = useTokenGate('quest_generation', {
    action: async ({ fetch }, g: string) => {
      const response = await fetch(GENERATE_URL, { method: 'POST', body: JSON.stringify({ goal: g }) });
      const body = (await response.json()) as Partial<QuestResult>;
      if (typeof body.quest !== 'string') throw new Error('The generator answered without a quest.');
      return body as QuestResult;
    },
  });
  const left = gate.balance?.unlimited ? 'Unlimited' : gate.balance ? `${gate.balance.available ?? 0} tokens left` : '';
  const statusText = {
    idle: gate.blocked || gate.error ? '' : 'Ready.',
    running: 'Generating…',
    success: 'Done.',
    refunded: 'The generation failed — your tokens were refunded.',
    error: 'Something went wrong after the charge.',
  }[gate.status];

  return (
    <div className="flex max-w-md flex-col gap-3 text-tg-foreground">
      <div className="flex items-center gap-3">
        {/* aria-disabled, never disabled: a keyboard user keeps focus on it through the run. */}
        <TokenGateButton gate={gate} onClick={() => void gate.run(goal)} runningLabel="Generating…" aria-describedby={costId}>
          Generate quest
        </TokenGateButton>
        <span id={costId} className="text-sm text-tg-muted-foreground">
          {left}
        </span>
      </div>
      <p role="status" data-slot="quest-status" data-status={gate.status} className="text-sm">
        {statusText}
      </p>
      {gate.data && gate.status === 'success' && <p className="text-sm">Quest: {gate.data.quest}</p>}
      {gate.reason && (
        <UpgradePrompt
          reason={gate.reason}
          balance={gate.balance}
          variant="inline"
          onUpgrade={onUpgrade}
          onTopUp={onTopUp}
          upgradeLabel={upgradeLabel}
          topUpLabel="Buy 60 tokens — $5"
        />
      )}
    </div>
  );
}
