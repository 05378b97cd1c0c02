/**
 * Type tests of `useTokenGate` inference, checked by `tsc --noEmit`: a broken inference makes an
 * `expectTypeOf` fail or a `@ts-expect-error` unused.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { ChargeEvent } from '../core/charge-event.ts';
import { readGuardedStream, type GuardedStreamResult } from '../core/read-guarded-stream.ts';
import type { TokenGateError } from '../core/token-gate-error.ts';
import type { DeductResult } from '../core/types.ts';
import { useTokenGate, type TokenGateReason, type TokenGateStatus } from './use-token-gate.ts';

describe('useTokenGate types', () => {
  it('infers run arguments and result from the action', () => {
    const gate = useTokenGate('quest_generation', { action: async (_ctx, _goalId: string, _n: number) => ({ quests: [] as string[] }) });
    expectTypeOf(gate.run).parameters.toEqualTypeOf<[string, number]>();
    expectTypeOf(gate.run).returns.toEqualTypeOf<Promise<{ quests: string[] } | undefined>>();
    expectTypeOf(gate.data).toEqualTypeOf<{ quests: string[] } | undefined>();
    expectTypeOf(gate.reason).toEqualTypeOf<TokenGateReason | null>();
    expectTypeOf(gate.reason).toEqualTypeOf<'plan_blocked' | 'insufficient_tokens' | 'member_quota_exceeded' | 'not_a_member' | null>();
    expectTypeOf(gate.error).toEqualTypeOf<TokenGateError | null>();
    expectTypeOf(gate.status).toEqualTypeOf<TokenGateStatus>();
    // @ts-expect-error wrong argument type
    void gate.run(1, 2);
    // @ts-expect-error missing argument
    void gate.run('goal');
  });

  it('types the context and reserve-mode usage from the result', () => {
    useTokenGate('strategy_analysis', {
      mode: 'reserve',
      estimate: (text: string) => Math.ceil(text.length / 100),
      action: async (ctx, text: string) => {
        expectTypeOf(ctx.idempotencyKey).toEqualTypeOf<string>();
        expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
        expectTypeOf(ctx.fetch).returns.toEqualTypeOf<Promise<Response>>();
        return { tokens: text.length };
      },
      actualUsage: (result) => {
        expectTypeOf(result).toEqualTypeOf<{ tokens: number }>();
        return result.tokens;
      },
    });
  });

  it('a streamed action: ctx.onCharge fits readGuardedStream, and its result flows to data', () => {
    const gate = useTokenGate('strategy_analysis', {
      action: async (ctx, question: string) => {
        expectTypeOf(ctx.onCharge).toEqualTypeOf<(charge: ChargeEvent) => void>();
        const res = await ctx.fetch('/api/strategy', { method: 'POST', body: question });
        return readGuardedStream(res, { signal: ctx.signal, onCharge: ctx.onCharge, onText: (t) => void t });
      },
    });
    expectTypeOf(gate.data).toEqualTypeOf<GuardedStreamResult | undefined>();
    expectTypeOf(gate.run).parameters.toEqualTypeOf<[string]>();
    // @ts-expect-error onText receives text
    void readGuardedStream(new Response(), { onText: (n: number) => n });
  });

  it('without an action, run() deducts and resolves the DeductResult', () => {
    const gate = useTokenGate('goal_generation');
    expectTypeOf(gate.run).parameters.toEqualTypeOf<[]>();
    expectTypeOf(gate.data).toEqualTypeOf<DeductResult | undefined>();
  });
});
