/**
 * The AI SDK's real `useChat` (@ai-sdk/react) with `DefaultChatTransport({ fetch: useGuardedFetch() })`
 * against a guarded chat route that answers an AI SDK UI message stream, on the real handler,
 * guard and ledger (PGlite): the charges are read back from the database.
 */
import { useChat } from '@ai-sdk/react';
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { DefaultChatTransport } from 'ai';
import { useState } from 'react';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { TokenGateError } from '../../src/core/token-gate-error.ts';
import { useGuardedFetch } from '../../src/react/use-guarded-fetch.ts';
import { useTokenBalance } from '../../src/react/use-token-balance.ts';
import type { SeededOrg } from '../ledger.ts';
import { CHAT_DELTAS, CHAT_URL, CHAT_USAGE, createReactEnv, deferred, wrapperFor, type ReactEnv } from './fixture.tsx';

const WAIT = { timeout: 30_000 };
const TYPE = 'lead_generation';
const ANSWER = CHAT_DELTAS.join('');

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(cleanup);
beforeEach(() => {
  env.control.stream.runs.length = 0;
  Object.assign(env.control.stream, { pauseAfter: null, resume: null });
});

/** The app's chat: useChat through the gate's fetch, and the lead-generation balance beside it. */
function Chat() {
  const fetch = useGuardedFetch({ tokenType: TYPE });
  const [transport] = useState(() => new DefaultChatTransport({ api: CHAT_URL, fetch }));
  const { messages, sendMessage, stop, status, error } = useChat({ transport });
  const { data: balance } = useTokenBalance(TYPE);
  return (
    <div>
      <ol aria-label="Messages">
        {messages.map((m) => (
          <li key={m.id} data-role={m.role}>
            {m.parts.map((p) => (p.type === 'text' ? p.text : '')).join('')}
          </li>
        ))}
      </ol>
      <p data-testid="status">{status}</p>
      {error && <p role="alert">{error instanceof TokenGateError ? `refused: ${error.code}` : `failed: ${error.message}`}</p>}
      <p data-testid="balance">{balance ? `${balance.available} left` : 'loading'}</p>
      <button type="button" onClick={() => void sendMessage({ text: 'Find three leads' })}>
        Send
      </button>
      <button type="button" onClick={() => void stop()}>
        Stop
      </button>
    </div>
  );
}

async function mount(org: SeededOrg) {
  const { wrapper } = wrapperFor(env.clientFor(org));
  render(<Chat />, { wrapper });
  await waitFor(() => expect(screen.getByTestId('balance').textContent).toBe('100 left'), WAIT);
}

const answers = () => screen.queryAllByRole('listitem').filter((li) => li.dataset.role === 'assistant').map((li) => li.textContent);

it('each message goes through the guard with a fresh Idempotency-Key, is charged its usage, and the balance follows', async () => {
  const org = await env.org('pro');
  await mount(org);
  const user = userEvent.setup();

  await user.click(screen.getByRole('button', { name: 'Send' }));
  await waitFor(() => expect(answers()).toEqual([ANSWER]), WAIT);
  await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), WAIT);
  expect(screen.queryByRole('alert')).toBeNull();
  expect(await env.stored(org.orgId, TYPE)).toEqual({ left: 100 - CHAT_USAGE, held: 0, used: CHAT_USAGE });
  await waitFor(() => expect(screen.getByTestId('balance').textContent).toBe(`${100 - CHAT_USAGE} left`), WAIT);

  await user.click(screen.getByRole('button', { name: 'Send' }));
  await waitFor(() => expect(answers()).toEqual([ANSWER, ANSWER]), WAIT);
  await waitFor(() => expect(screen.getByTestId('balance').textContent).toBe(`${100 - 2 * CHAT_USAGE} left`), WAIT);
  expect(await env.stored(org.orgId, TYPE)).toEqual({ left: 100 - 2 * CHAT_USAGE, held: 0, used: 2 * CHAT_USAGE });

  const runs = env.control.stream.runs;
  expect(runs).toHaveLength(2);
  const keys = runs.map((r) => r.headers.get('idempotency-key'));
  expect(new Set(keys).size).toBe(2);
  for (const run of runs) {
    expect(run.ctx).toMatchObject({ orgId: org.orgId, userId: org.members[0] });
    expect(run.headers.get('x-tokengate-org')).toBe(org.orgId);
    expect(run.headers.get('authorization')).toMatch(/^Bearer /);
  }
});

it("a refusal of the guard is useChat's error, as the TokenGateError, and the route never runs", async () => {
  const org = await env.org('pro');
  await mount(org);
  // The plan changes on the server after the balances were cached.
  const res = await env.app.request(`/orgs/${org.orgId}/admin/plan`, { server: true, json: { planId: 'starter' } });
  expect(res.status).toBe(200);
  await userEvent.setup().click(screen.getByRole('button', { name: 'Send' }));
  await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('refused: plan_blocked'), WAIT);
  expect(env.control.stream.runs).toHaveLength(0);
  expect(answers()).toEqual([]);
  // The refusal refetched the balances: the Starter plan shows.
  await waitFor(() => expect(screen.getByTestId('balance').textContent).not.toBe('100 left'), WAIT);
});

it("useChat's stop() mid-answer cancels the guard's stream: charged the deltas sent, and the balance follows", async () => {
  const org = await env.org('pro');
  await mount(org);
  const never = deferred();
  Object.assign(env.control.stream, { pauseAfter: 2, resume: never.promise });
  const user = userEvent.setup();
  await user.click(screen.getByRole('button', { name: 'Send' }));
  await waitFor(() => expect(answers()).toEqual([CHAT_DELTAS.slice(0, 2).join('')]), WAIT);
  await user.click(screen.getByRole('button', { name: 'Stop' }));
  await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('ready'), WAIT);
  // The in-process fetch ignores its signal: useChat's cancel of the stream reached the guard through useGuardedFetch's body.
  await waitFor(async () => expect(await env.stored(org.orgId, TYPE)).toEqual({ left: 98, held: 0, used: 2 }), WAIT);
  await waitFor(() => expect(screen.getByTestId('balance').textContent).toBe('98 left'), WAIT);
  expect(screen.queryByRole('alert')).toBeNull();
});
