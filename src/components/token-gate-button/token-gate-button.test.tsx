import { QueryClient } from '@tanstack/react-query';
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTokenClient } from '../../core/create-token-client.ts';
import type { Balances } from '../../core/types.ts';
import { TokenGateProvider } from '../../react/token-gate-provider.tsx';
import { useTokenGate } from '../../react/use-token-gate.ts';
import { expectNoAxeViolations } from '../expect-no-axe-violations.ts';
import { balance, proBalances, starterBalances } from '../fixtures.ts';
import { TokenGateButton, type TokenGateButtonState } from './token-gate-button.tsx';

afterEach(cleanup);

const GENERATE = '/api/generate';

/** A provider over a fake API: balances from `data` (or never / a 500), the guarded route held until `release()`. */
function setup(data: Balances | 'pending' | 'error' = proBalances) {
  let release!: () => void;
  const fetch = vi.fn(async (url: string) => {
    if (url.endsWith('/balances')) {
      if (data === 'pending') return new Promise<Response>(() => {});
      if (data === 'error') return new Response('down', { status: 503 });
      return Response.json(data);
    }
    await new Promise<void>((resolve) => (release = resolve));
    return Response.json({ ok: true }, { headers: { 'x-tokengate-charged': '5', 'x-tokengate-available': '375' } });
  });
  const client = createTokenClient({ baseUrl: '/api/tokengate', getAccessToken: () => 't', orgId: proBalances.orgId, fetch });
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const onBlocked = vi.fn();
  function Quest() {
    const gate = useTokenGate('quest_generation', { action: async (ctx) => (await ctx.fetch(GENERATE, { method: 'POST' })).json() });
    return (
      <>
        <button type="button">Before</button>
        <TokenGateButton gate={gate} onClick={() => void gate.run()} onBlockedClick={onBlocked} runningLabel="Generating…" locale="en-US">
          Generate quest
        </TokenGateButton>
      </>
    );
  }
  const view = render(
    // live off: the fake API below answers balances and holds everything else (the feed's
    // /events request would take the generate call's place).
    <TokenGateProvider client={client} queryClient={queryClient} live={false}>
      <Quest />
    </TokenGateProvider>,
  );
  return { ...view, fetch, onBlocked, release: () => release() };
}

const gateButton = () => document.querySelector<HTMLButtonElement>('[data-slot="token-gate-button"]')!;

describe('TokenGateButton', () => {
  it('keyboard: Tab, Enter, and focus stays on the button through the run (aria-disabled + aria-busy, never disabled)', async () => {
    const user = userEvent.setup();
    const { release, fetch } = setup();
    await screen.findByRole('button', { name: 'Generate quest (5 tokens)' });
    await user.tab();
    await user.tab();
    expect(document.activeElement).toBe(gateButton());

    await user.keyboard('{Enter}');
    await waitFor(() => expect(gateButton().getAttribute('aria-busy')).toBe('true'));
    const button = gateButton();
    expect(button.hasAttribute('disabled')).toBe(false);
    expect(button.getAttribute('aria-disabled')).toBe('true');
    expect(button.getAttribute('data-state')).toBe('running');
    expect(button.textContent).toBe('Generating…');
    expect(document.activeElement).toBe(button);
    // The busy state is announced in a live region outside the button.
    expect(screen.getByRole('status').textContent).toBe('Generating…');

    // A second press while running is ignored (no second request).
    await user.keyboard('{Enter}');
    await act(async () => release());
    await waitFor(() => expect(gateButton().getAttribute('data-state')).toBe('ready'));
    expect(gateButton()).toBe(button);
    expect(document.activeElement).toBe(button);
    expect(button.hasAttribute('aria-busy')).toBe(false);
    expect(button.hasAttribute('aria-disabled')).toBe(false);
    expect(screen.getByRole('status').textContent).toBe('');
    expect(fetch.mock.calls.filter(([url]) => url === GENERATE)).toHaveLength(1);
  });

  it('shows a placeholder for the cost while the balances load, and when they failed — never "( tokens)"', async () => {
    setup('pending');
    expect(gateButton().textContent).toBe('Generate quest (… tokens)');
    expect(gateButton().getAttribute('data-state')).toBe('loading');
    expect(gateButton().getAttribute('aria-disabled')).toBe('true');
    cleanup();
    setup('error');
    await waitFor(() => expect(gateButton().textContent).toBe('Generate quest (— tokens)'));
    expect(gateButton().getAttribute('data-state')).toBe('unavailable');
  });

  it('a blocked press goes to onBlockedClick, not to the action; singular cost and Intl numbers', async () => {
    const user = userEvent.setup();
    const { onBlocked, fetch, container } = setup(starterBalances);
    await waitFor(() => expect(gateButton().getAttribute('data-state')).toBe('blocked'));
    await user.click(gateButton());
    expect(onBlocked).toHaveBeenCalledOnce();
    expect(fetch.mock.calls.filter(([url]) => url === GENERATE)).toHaveLength(0);
    await expectNoAxeViolations(container);

    cleanup();
    const state = (cost: number | null): TokenGateButtonState => ({ canRun: true, status: 'idle', cost, isLoading: false, blocked: false });
    const { rerender } = render(<TokenGateButton gate={state(1)} locale="de-DE">Go</TokenGateButton>);
    expect(gateButton().textContent).toBe('Go (1 token)');
    rerender(<TokenGateButton gate={state(1500)} locale="de-DE" messages={{ buttonCost: ({ cost }) => `(${cost} Token)` }}>Go</TokenGateButton>);
    expect(gateButton().textContent).toBe('Go (1.500 Token)');
    rerender(<TokenGateButton gate={state(3)} hideCost className="w-full">Go</TokenGateButton>);
    expect(gateButton().textContent).toBe('Go');
    expect(gateButton().className).toContain('w-full');
  });

  it('an exhausted balance: aria-disabled with the reason for onBlockedClick', async () => {
    const exhausted = { ...proBalances, tokenTypes: [balance({ allowanceRemaining: 0, used: 500 })] };
    const user = userEvent.setup();
    const { onBlocked } = setup(exhausted);
    await waitFor(() => expect(gateButton().getAttribute('data-state')).toBe('blocked'));
    expect(gateButton().textContent).toBe('Generate quest (5 tokens)');
    gateButton().focus();
    await user.keyboard('{Enter}');
    expect(onBlocked).toHaveBeenCalledOnce();
    expect(document.activeElement).toBe(gateButton());
  });
});
