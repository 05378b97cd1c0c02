/**
 * The prompt fed by `useTokenGate` against the real handler and ledger on PGlite
 * (test/react/fixture.tsx): a blocked org sees why, before and after a click.
 */
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { createReactEnv, wrapperFor, type ReactEnv } from '../../../test/react/fixture.tsx';
import { useTokenGate } from '../../react/index.ts';
import { UpgradePrompt } from './upgrade-prompt.tsx';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(cleanup);

function GatedButton() {
  const gate = useTokenGate('quest_generation');
  return (
    <>
      <button type="button" disabled={!gate.canRun} onClick={() => void gate.run()}>
        Generate quests
      </button>
      {gate.reason && (
        <UpgradePrompt reason={gate.reason} balance={gate.balance} locale="en-US" onUpgrade={() => {}} upgradeLabel="Upgrade to Pro — $20/month" />
      )}
    </>
  );
}

it('a Starter org gets the plan_blocked prompt with the upgrade action', async () => {
  const org = await env.org('starter');
  const { wrapper: Wrapper } = wrapperFor(env.clientFor(org));
  render(
    <Wrapper>
      <GatedButton />
    </Wrapper>,
  );
  const prompt = await screen.findByRole('region', { name: 'Quest generation isn’t included in your plan' });
  expect(prompt.textContent).toContain('Upgrade your plan to use it.');
  expect(screen.getByRole('button', { name: 'Upgrade to Pro — $20/month' })).toBeTruthy();
  expect((screen.getByRole('button', { name: 'Generate quests' }) as HTMLButtonElement).disabled).toBe(true);
});

it('a Pro org that spends its allowance gets the insufficient_tokens prompt', async () => {
  const org = await env.org('pro');
  const { wrapper: Wrapper } = wrapperFor(env.clientFor(org));
  render(
    <Wrapper>
      <GatedButton />
    </Wrapper>,
  );
  const button = (await screen.findByRole('button', { name: 'Generate quests' })) as HTMLButtonElement;
  // 60 tokens at 3 a use: twenty runs empty the allowance (each click waits for the previous run).
  for (let i = 0; i < 20; i++) {
    await waitFor(() => expect(button.disabled).toBe(false));
    await userEvent.click(button);
  }
  const prompt = await screen.findByRole('region', { name: 'You’re out of Quest generation tokens' });
  expect(prompt.textContent).toMatch(/This needs 3 tokens and you have 0 left\./);
  expect(await env.stored(org.orgId)).toMatchObject({ left: 0, used: 60 });
});
