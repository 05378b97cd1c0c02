/**
 * useTokenGate driving a streamed answer (readGuardedStream) against the real handler, streaming
 * guard and ledger (PGlite): every charge is read back from the database, not from the hook.
 */
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { tokenGateKeys } from '../../src/core/query-keys.ts';
import { readGuardedStream } from '../../src/core/read-guarded-stream.ts';
import type { Balances } from '../../src/core/types.ts';
import { useTokenGate, type TokenGateActionContext } from '../../src/react/use-token-gate.ts';
import type { SeededOrg } from '../ledger.ts';
import { createReactEnv, deferred, STREAM_URL, STREAM_WORDS, WORDS_PER_TOKEN, wrapperFor, type ReactEnv } from './fixture.tsx';

/** Waits for conditions only; this bounds how long a broken implementation may keep a test waiting. */
const WAIT = { timeout: 30_000 };
const TYPE = 'strategy_analysis';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(cleanup);
beforeEach(() => {
  Object.assign(env.control.stream, { sent: 0, pauseAfter: null, resume: null, failAfter: null, cancelled: false });
  env.control.stream.runs.length = 0;
  env.control.holdBalances = null;
  env.control.holdCommits = null;
});

/** The words of the answer up to `n`, as the route sends them. */
const textOf = (n: number) => STREAM_WORDS.slice(0, n).join(' ');

/** The hook for `org` with a streamed action that collects the text as it arrives. */
async function mount(org: SeededOrg, options: { onCharge?: boolean } = {}) {
  const { queryClient, wrapper } = wrapperFor(env.clientFor(org));
  const seen = { text: '' };
  const action = async (ctx: TokenGateActionContext) => {
    const response = await ctx.fetch(STREAM_URL, { method: 'POST', body: '{}' });
    const { text } = await readGuardedStream(response, {
      signal: ctx.signal,
      ...(options.onCharge === false ? {} : { onCharge: ctx.onCharge }),
      onText: (t) => (seen.text += t),
    });
    return text;
  };
  const hook = renderHook(() => useTokenGate(TYPE, { action }), { wrapper });
  await waitFor(() => expect(hook.result.current.balance).toBeDefined(), WAIT);
  const cached = () => queryClient.getQueryData<Balances>(tokenGateKeys.balances(org.orgId))?.tokenTypes.find((b) => b.tokenType === TYPE);
  /**
   * Start a run whose answer pauses after `words` words until `resume` settles; resolves once those
   * words arrived, with the run's promise in a box (an async function would flatten it and wait).
   */
  const runPaused = async (words: number, resume: Promise<unknown>): Promise<{ pending: Promise<unknown> }> => {
    Object.assign(env.control.stream, { pauseAfter: words, resume });
    let pending!: Promise<unknown>;
    act(() => {
      pending = hook.result.current.run();
    });
    await waitFor(() => expect(seen.text).toBe(textOf(words)), WAIT);
    return { pending };
  };
  return { ...hook, seen, cached, runPaused };
}

it('stays running while the answer streams, shows it as it arrives, and resolves with the whole text', async () => {
  const org = await env.org('pro');
  const { result, runPaused } = await mount(org);
  const resume = deferred();
  const { pending } = await runPaused(4, resume.promise);
  expect(result.current.status).toBe('running');
  expect(result.current.canRun).toBe(false);

  resume.resolve();
  let value: unknown;
  await act(async () => {
    value = await pending;
  });
  expect(value).toBe(textOf(STREAM_WORDS.length));
  expect(result.current).toMatchObject({ status: 'success', data: value, error: null });
  expect(env.control.stream.runs).toHaveLength(1);
});

it("charges the usage the route reported while streaming, and the guard's charge event sets the balance before the refetch", async () => {
  const org = await env.org('pro');
  const { result, cached, runPaused } = await mount(org);
  const usage = Math.ceil(STREAM_WORDS.length / WORDS_PER_TOKEN);
  const resume = deferred();
  const { pending } = await runPaused(4, resume.promise);
  // The guard holds the estimate (one use, 10) while the answer streams: nothing is charged yet.
  expect(await env.stored(org.orgId, TYPE)).toEqual({ left: 90, held: 10, used: 0 });
  const refetch = deferred();
  env.control.holdBalances = refetch.promise;
  resume.resolve();
  await act(async () => {
    await pending;
  });
  expect(result.current.status).toBe('success');
  expect(await env.stored(org.orgId, TYPE)).toEqual({ left: 100 - usage, held: 0, used: usage });
  // From the charge event (the refetch is still held back): the charged balance, not the optimistic one.
  expect(cached()?.available).toBe(100 - usage);
  refetch.resolve();
  await waitFor(() => expect(result.current.balance).toMatchObject({ available: 100 - usage, used: usage, held: 0 }), WAIT);
});

it('Stop mid-stream cancels the body: the run ends aborted and the route sees the disconnect', async () => {
  const org = await env.org('pro');
  const { result, runPaused } = await mount(org);
  const never = deferred();
  const { pending } = await runPaused(5, never.promise);
  act(() => result.current.abort());
  let value: unknown = 'not run';
  await act(async () => {
    value = await pending;
  });
  expect(value).toBeUndefined();
  expect(result.current).toMatchObject({ status: 'idle', error: { code: 'aborted' } });
  await waitFor(() => expect(env.control.stream.cancelled).toBe(true), WAIT);
});

it('Stop mid-stream: the guard charges the words sent so far, and the hook refetches until the commit shows', async () => {
  const org = await env.org('pro');
  const { result, runPaused } = await mount(org);
  const never = deferred();
  const { pending } = await runPaused(5, never.promise);
  // The server's commit comes after the client has stopped: hold it until the hook's first refetch has landed.
  const commit = deferred();
  env.control.holdCommits = commit.promise;
  act(() => result.current.abort());
  await act(async () => {
    await pending;
  });
  await waitFor(() => expect(result.current.balance).toMatchObject({ available: 90, held: 10, used: 0 }), WAIT);
  commit.resolve();
  const partial = Math.ceil(5 / WORDS_PER_TOKEN);
  await waitFor(async () => expect(await env.stored(org.orgId, TYPE)).toEqual({ left: 100 - partial, held: 0, used: partial }), WAIT);
  // No charge event on a cancelled stream: the hook's further refetches pick up the commit.
  await waitFor(() => expect(result.current.balance).toMatchObject({ available: 100 - partial, used: partial, held: 0 }), WAIT);
});

it('a stream that breaks off mid-answer: status error, charged what was reported so far, balance refetched', async () => {
  const org = await env.org('pro');
  const { result, seen } = await mount(org);
  env.control.stream.failAfter = 3;
  await act(async () => {
    expect(await result.current.run()).toBeUndefined();
  });
  expect(seen.text).toBe(textOf(3));
  // Charged (not refunded): the words sent were delivered.
  expect(result.current).toMatchObject({ status: 'error', error: { code: 'network' } });
  const partial = Math.ceil(3 / WORDS_PER_TOKEN);
  expect(await env.stored(org.orgId, TYPE)).toEqual({ left: 100 - partial, held: 0, used: partial });
  await waitFor(() => expect(result.current.balance).toMatchObject({ available: 100 - partial, held: 0 }), WAIT);
});

it('without onCharge the hook still ends with the charged balance (the refetch)', async () => {
  const org = await env.org('pro');
  const { result } = await mount(org, { onCharge: false });
  await act(async () => {
    await result.current.run();
  });
  const usage = Math.ceil(STREAM_WORDS.length / WORDS_PER_TOKEN);
  await waitFor(() => expect(result.current.balance).toMatchObject({ available: 100 - usage, used: usage, held: 0 }), WAIT);
});
