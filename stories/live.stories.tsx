import type { Meta, StoryObj } from '@storybook/react-vite';
import { QueryClient } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { expect, userEvent, waitFor, within } from 'storybook/test';
import { TokenDashboard } from '../src/components/index.ts';
import { Button } from '../src/components/ui/button.tsx';
import { tokenGateKeys } from '../src/core/query-keys.ts';
import { TokenGateProvider } from '../src/react/index.ts';
import { createLiveBackend, type LiveBackend } from './support/live-backend.ts';
import { QuestButton } from './support/quest-button.tsx';

/** The live playground: the kit over the real handler + guard + ledger on PGlite in this tab. */
function LiveDemo({ backend }: { backend: LiveBackend }) {
  const [queryClient] = useState(() => new QueryClient({ defaultOptions: { queries: { retry: false } } }));
  const [failNext, setFailNext] = useState(false);
  const failId = useId();
  const refresh = () => queryClient.invalidateQueries({ queryKey: tokenGateKeys.all });
  const topUp = async () => {
    await backend.topUp(60);
    await refresh();
  };
  const upgrade = async () => {
    await backend.setPlan('enterprise');
    await refresh();
  };
  const useUp = async () => {
    await backend.leaveOnly(3);
    await refresh();
  };
  const toggleFailure = (on: boolean) => {
    backend.control.failNext = on;
    setFailNext(on);
  };
  // The guarded route fails once when the switch is on, then the switch turns itself off.
  backend.control.onFailConsumed = () => setFailNext(false);

  return (
    <TokenGateProvider client={backend.client} queryClient={queryClient}>
      <div className="grid max-w-4xl gap-6 text-tg-foreground md:grid-cols-2">
        <section aria-label="Quests" className="flex flex-col gap-4 rounded-tg border border-tg-border p-4">
          <h2 className="text-lg font-semibold">Financial Goals → Quests</h2>
          <QuestButton onUpgrade={() => void upgrade()} onTopUp={() => void topUp()} upgradeLabel="Upgrade to Enterprise — $99/month" />
          <div className="flex flex-col gap-2 border-t border-tg-border pt-4 text-sm">
            <label htmlFor={failId} className="flex items-center gap-2">
              <input id={failId} type="checkbox" checked={failNext} onChange={(e) => toggleFailure(e.target.checked)} />
              Make the next call fail (the guard refunds)
            </label>
            <div className="flex flex-wrap gap-2">
              <Button onClick={() => void useUp()}>Use up all but 3 tokens</Button>
              <Button onClick={() => void topUp()}>Grant 60 tokens (admin)</Button>
            </div>
          </div>
        </section>
        <TokenDashboard variant="compact" />
      </div>
    </TokenGateProvider>
  );
}

const meta = {
  title: 'Live/Generate quest on PGlite',
  parameters: { layout: 'padded' },
  // A fresh database per story render: the migrations run in the browser (a second or two; under
  // npm test it loads the run's migrated dump instead, see support/live-backend.ts).
  loaders: [async () => ({ backend: await createLiveBackend() })],
  render: (_args, { loaded }) => <LiveDemo backend={(loaded as { backend: LiveBackend }).backend} />,
} satisfies Meta;
export default meta;
type Story = StoryObj;

/**
 * How long to wait for the page to show what a step expects: the handler, guard and ledger run on
 * PGlite (WebAssembly) in this tab, which takes seconds on a loaded machine. Every check waits for
 * its condition (findBy…, waitFor) with this budget; none sleeps or asserts on speed.
 */
const LOAD = { timeout: 45_000 };

/** Click "Generate quest" and watch the balance fall; fail one call and watch the refund; run out. */
export const Live: Story = {
  play: async ({ canvasElement, loaded, step }) => {
    const backend = (loaded as { backend: LiveBackend }).backend;
    const canvas = within(canvasElement);
    const generate = () => canvas.findByRole('button', { name: /^Generate quest/ }, LOAD);

    await step('a generation charges 3 tokens', async () => {
      await canvas.findByText(/60 tokens left/, undefined, LOAD);
      await userEvent.click(await generate());
      await expect(await canvas.findByText(/57 tokens left/, undefined, LOAD)).toBeInTheDocument();
      await expect(await canvas.findByText(/^Quest:/, undefined, LOAD)).toBeInTheDocument();
      await expect(await backend.available()).toBe(57);
    });

    await step('a failed generation is refunded', async () => {
      await userEvent.click(canvas.getByLabelText(/make the next call fail/i));
      await userEvent.click(await generate());
      await expect(await canvas.findByText(/refunded/, undefined, LOAD)).toBeInTheDocument();
      await expect(await canvas.findByText(/57 tokens left/, undefined, LOAD)).toBeInTheDocument();
      await expect(await backend.available()).toBe(57);
      await waitFor(() => expect(canvas.getByLabelText(/make the next call fail/i)).not.toBeChecked(), LOAD);
    });

    await step('running out shows the upgrade prompt; a top-up continues', async () => {
      await userEvent.click(canvas.getByRole('button', { name: /use up all but 3/i }));
      await canvas.findByText(/^3 tokens left$/, undefined, LOAD);
      await userEvent.click(await generate());
      await expect(await canvas.findByText(/^0 tokens left$/, undefined, LOAD)).toBeInTheDocument();
      await waitFor(() => expect(canvasElement.querySelector('[data-slot="upgrade-prompt"]')).not.toBeNull(), LOAD);
      await waitFor(async () => expect(await generate()).toHaveAttribute('aria-disabled', 'true'), LOAD);
      await userEvent.click(canvas.getByRole('button', { name: /buy 60 tokens/i }));
      await expect(await canvas.findByText(/^60 tokens left$/, undefined, LOAD)).toBeInTheDocument();
      await waitFor(async () => expect(await generate()).not.toHaveAttribute('aria-disabled'), LOAD);
      await expect(await backend.available()).toBe(60);
    });

    await step('upgrading to Enterprise makes it unlimited', async () => {
      await userEvent.click(canvas.getByRole('button', { name: /use up all but 3/i }));
      await canvas.findByText(/^3 tokens left$/, undefined, LOAD);
      await waitFor(async () => expect(await generate()).not.toHaveAttribute('aria-disabled'), LOAD);
      await userEvent.click(await generate());
      await userEvent.click(await canvas.findByRole('button', { name: /upgrade to enterprise/i }, LOAD));
      await expect(await canvas.findByText('Unlimited', { selector: 'span:not([data-slot])' }, LOAD)).toBeInTheDocument();
      await expect(await canvas.findByRole('button', { name: 'Generate quest (3 tokens)' }, LOAD)).toBeInTheDocument();
      await userEvent.click(await generate());
      await expect(await canvas.findByText(/^Quest:/, undefined, LOAD)).toBeInTheDocument();
    });
  },
};
