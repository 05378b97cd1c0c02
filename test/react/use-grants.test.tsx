/**
 * useGrants and the kit's optimistic grants against the real handler and ledger (PGlite): the
 * list comes from GET /orgs/:orgId/grants, and every figure is compared with what the ledger says.
 */
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { sortGrants } from '../../src/core/burn-order.ts';
import type { TokenClient } from '../../src/core/create-token-client.ts';
import { tokenGateKeys } from '../../src/core/query-keys.ts';
import type { Grant } from '../../src/core/types.ts';
import { useGrants } from '../../src/react/use-grants.ts';
import { useTokenGate, type TokenGateActionContext } from '../../src/react/use-token-gate.ts';
import { call, type SeededOrg } from '../ledger.ts';
import { createReactEnv, deferred, GENERATE_URL, wrapperFor, type ReactEnv } from './fixture.tsx';

let env: ReactEnv;
beforeAll(async () => {
  env = await createReactEnv();
});
afterEach(async () => {
  cleanup();
  vi.restoreAllMocks();
  await env.db.setNow(null);
});
beforeEach(() => {
  env.control.hold = null;
  env.control.fail = false;
});

const DAY = 86_400_000;
const generateQuests = async (ctx: TokenGateActionContext, goal: string) => {
  const response = await ctx.fetch(GENERATE_URL, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ goal }) });
  return (await response.json()) as { quests: string[] };
};

/** A grant from the server credential (actor null), as a webhook or the CLI makes it. */
async function grant(org: SeededOrg, o: { amount: number; source?: string; expiresAt?: Date | null; priority?: number; tokenType?: string }) {
  return call<{ grantId: string }>(env.db, 'grant_tokens', {
    p_org_id: org.orgId,
    p_actor_id: null,
    p_token_type: o.tokenType ?? 'quest_generation',
    p_amount: o.amount,
    p_idempotency_key: crypto.randomUUID(),
    p_metadata: {},
    p_source: o.source ?? 'purchase',
    p_expires_at: o.expiresAt?.toISOString() ?? null,
    p_priority: o.priority ?? 50,
  });
}

/** Spend the whole period's quest allowance (60 tokens), so the next charges come from grants. */
async function drainAllowance(org: SeededOrg) {
  await call(env.db, 'deduct', {
    p_org_id: org.orgId,
    p_user_id: org.members[0],
    p_token_type: 'quest_generation',
    p_idempotency_key: crypto.randomUUID(),
    p_metadata: {},
    p_units: 20,
  });
}

const left = (grants: Grant[] | undefined) => Object.fromEntries((grants ?? []).map((g) => [g.grantId, g.remaining]));

it('lists the grants of a type in the ledger burn order, which sortGrants reproduces (full ties kept in creation order)', async () => {
  const org = await env.org('pro');
  const at = new Date(Date.now() + 10 * DAY);
  // One clock for all: created_at ties, so the ledger falls back to the grant id.
  await env.db.setNow(new Date());
  const made = [
    await grant(org, { amount: 10, expiresAt: at, priority: 50 }),
    await grant(org, { amount: 10, expiresAt: at, priority: 10 }),
    await grant(org, { amount: 10, expiresAt: null, priority: 0, source: 'adjustment' }),
    await grant(org, { amount: 10, expiresAt: at, priority: 10, source: 'promo' }),
    await grant(org, { amount: 10, expiresAt: new Date(Date.now() + 5 * DAY) }),
    await grant(org, { amount: 10, expiresAt: at, priority: 10 }),
    await grant(org, { amount: 10, tokenType: 'lead_generation' }),
  ];
  await env.db.setNow(null);
  const client = env.clientFor(org);
  const { wrapper } = wrapperFor(client);
  const quests = renderHook(() => useGrants('quest_generation'), { wrapper });
  const all = renderHook(() => useGrants(), { wrapper });
  await waitFor(() => expect(quests.result.current.data).toHaveLength(6));
  await waitFor(() => expect(all.result.current.data).toHaveLength(7));
  const listed = quests.result.current.data!;
  expect(listed.every((g) => g.tokenType === 'quest_generation' && g.status === 'active')).toBe(true);
  expect(listed.map((g) => g.grantId).sort()).toEqual(made.slice(0, 6).map((g) => g.grantId).sort());
  // The server's list is the ledger's order: the kit's sort keeps it exactly, ties included.
  expect(sortGrants(listed).map((g) => g.grantId)).toEqual(listed.map((g) => g.grantId));
  // From any starting order, the kit finds the same order of (expiry, priority, creation time).
  const key = (g: Grant) => `${g.expiresAt}|${g.priority}|${g.createdAt}`;
  for (const shuffled of [[...listed].reverse(), [...listed].sort((a, b) => (a.grantId < b.grantId ? 1 : -1))]) {
    expect(sortGrants(shuffled).map(key)).toEqual(listed.map(key));
  }
  // The three priority-10 grants expiring together tie on creation time: the ledger lists (and
  // spends) them in creation order, which sortGrants keeps.
  const tied = listed.filter((g) => g.priority === 10).map((g) => g.grantId);
  expect(tied).toEqual([made[1]!.grantId, made[3]!.grantId, made[5]!.grantId]);
  expect(listed.at(-1)!.expiresAt).toBeNull();
});

it('fetches only while enabled', async () => {
  const org = await env.org('pro');
  await grant(org, { amount: 5 });
  const client = env.clientFor(org);
  const spy = vi.spyOn(client, 'grants');
  const { wrapper } = wrapperFor(client);
  const hook = renderHook(({ open }) => useGrants('quest_generation', { enabled: open }), { wrapper, initialProps: { open: false } });
  await new Promise((r) => setTimeout(r, 100));
  expect(spy).not.toHaveBeenCalled();
  expect(hook.result.current.data).toBeUndefined();
  hook.rerender({ open: true });
  await waitFor(() => expect(hook.result.current.data).toHaveLength(1));
  expect(spy).toHaveBeenCalledOnce();
  expect(spy.mock.calls[0]![0]).toMatchObject({ tokenType: 'quest_generation', orgId: org.orgId });
});

/** useGrants and useTokenGate side by side, under one QueryClient. */
async function mount(org: SeededOrg, client: TokenClient = env.clientFor(org)) {
  const { wrapper, queryClient } = wrapperFor(client);
  const hook = renderHook(
    () => ({ grants: useGrants('quest_generation'), all: useGrants(), gate: useTokenGate('quest_generation', { action: generateQuests }) }),
    { wrapper },
  );
  await waitFor(() => expect(hook.result.current.grants.data).toBeDefined());
  await waitFor(() => expect(hook.result.current.all.data).toBeDefined());
  await waitFor(() => expect(hook.result.current.gate.balance).toBeDefined());
  return { ...hook, queryClient, client };
}

it('a charge beyond the allowance spends the cached grants in burn order at once, then shows what the ledger did', async () => {
  const org = await env.org('pro');
  await drainAllowance(org);
  const soon = await grant(org, { amount: 2, source: 'promo', expiresAt: new Date(Date.now() + 2 * DAY) });
  const never = await grant(org, { amount: 10 });
  const { result, client } = await mount(org);
  const spy = vi.spyOn(client, 'grants');
  expect(left(result.current.grants.data)).toEqual({ [soon.grantId]: 2, [never.grantId]: 10 });

  const hold = deferred();
  env.control.hold = hold.promise;
  let run!: Promise<unknown>;
  act(() => {
    run = result.current.gate.run('grants');
  });
  // 3 tokens, none left in the allowance: 2 from the promotion (it expires first), 1 from the top-up.
  await waitFor(() => expect(left(result.current.grants.data)).toEqual({ [soon.grantId]: 0, [never.grantId]: 9 }));
  expect(left(result.current.all.data)).toEqual({ [soon.grantId]: 0, [never.grantId]: 9 });
  hold.resolve();
  await act(() => run);
  // Settled: both lists were fetched again, and match the ledger.
  await waitFor(() => expect(spy.mock.calls.length).toBeGreaterThanOrEqual(2));
  const stored = await client.grants({ tokenType: 'quest_generation' });
  expect(left(stored)).toEqual({ [soon.grantId]: 0, [never.grantId]: 9 });
  await waitFor(() => expect(result.current.grants.data).toEqual(stored));
});

it('a charge within the allowance leaves the grants alone', async () => {
  const org = await env.org('pro');
  const g = await grant(org, { amount: 10, expiresAt: new Date(Date.now() + DAY) });
  const { result, queryClient } = await mount(org);
  const hold = deferred();
  env.control.hold = hold.promise;
  let run!: Promise<unknown>;
  act(() => {
    run = result.current.gate.run('allowance');
  });
  await waitFor(() => expect(result.current.gate.balance?.allowanceRemaining).toBe(57));
  expect(left(queryClient.getQueryData(tokenGateKeys.grants(org.orgId, { tokenType: 'quest_generation' })))).toEqual({ [g.grantId]: 10 });
  hold.resolve();
  await act(() => run);
  expect(left(await env.clientFor(org).grants())).toEqual({ [g.grantId]: 10 });
});

it('a run that fails (refunded) gives the grants back at once, before any refetch', async () => {
  const org = await env.org('pro');
  await drainAllowance(org);
  const g = await grant(org, { amount: 10 });
  const { result, client } = await mount(org);
  // Refetches of the grants wait, so only the kit's own undo can restore the list.
  const refetches = deferred();
  const original = client.grants.bind(client);
  vi.spyOn(client, 'grants').mockImplementation(async (o) => {
    await refetches.promise;
    return original(o);
  });
  const hold = deferred();
  env.control.hold = hold.promise;
  env.control.fail = true;
  let run!: Promise<unknown>;
  act(() => {
    run = result.current.gate.run('fails');
  });
  await waitFor(() => expect(left(result.current.grants.data)).toEqual({ [g.grantId]: 7 }));
  hold.resolve();
  await act(() => run);
  expect(result.current.gate.status).toBe('refunded');
  expect(left(result.current.grants.data)).toEqual({ [g.grantId]: 10 });
  expect(left(result.current.all.data)).toEqual({ [g.grantId]: 10 });
  refetches.resolve();
  expect(left(await original({ tokenType: 'quest_generation' }))).toEqual({ [g.grantId]: 10 });
});
