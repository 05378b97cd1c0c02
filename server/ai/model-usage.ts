import type { LanguageModelMiddleware, LanguageModelUsage } from 'ai';

/** The call options a language model receives (the provider spec's, as the middleware sees them). */
export type ModelCallOptions = Parameters<NonNullable<LanguageModelMiddleware['wrapGenerate']>>[0]['params'];
/** The usage a model reports at the end of a call (the provider spec's nested shape). */
export type ModelUsage = Awaited<ReturnType<NonNullable<LanguageModelMiddleware['wrapGenerate']>>>['usage'];

/** Characters per token for the estimates made before a model has answered (a common rule of thumb). */
export const CHARS_PER_TOKEN = 4;

/**
 * The model's usage in the AI SDK's user-facing shape (`result.usage` of `generateText`), so
 * `price` is written once for both.
 */
export function toLanguageModelUsage(usage: ModelUsage): LanguageModelUsage {
  const input = usage.inputTokens.total;
  const output = usage.outputTokens.total;
  return {
    inputTokens: input,
    inputTokenDetails: {
      noCacheTokens: usage.inputTokens.noCache,
      cacheReadTokens: usage.inputTokens.cacheRead,
      cacheWriteTokens: usage.inputTokens.cacheWrite,
    },
    outputTokens: output,
    outputTokenDetails: { textTokens: usage.outputTokens.text, reasoningTokens: usage.outputTokens.reasoning },
    totalTokens: input === undefined && output === undefined ? undefined : (input ?? 0) + (output ?? 0),
    ...(usage.raw === undefined ? {} : { raw: usage.raw }),
  };
}

/** A usage of `input` prompt tokens and `output` output tokens, nothing cached, nothing reasoned. */
export function plainUsage(input: number, output: number): LanguageModelUsage {
  return {
    inputTokens: input,
    inputTokenDetails: { noCacheTokens: input, cacheReadTokens: 0, cacheWriteTokens: 0 },
    outputTokens: output,
    outputTokenDetails: { textTokens: output, reasoningTokens: 0 },
    totalTokens: input + output,
  };
}

/**
 * Model tokens of a prompt, estimated before the call: its text (messages, tool calls and results,
 * and the tool definitions sent with it) at `CHARS_PER_TOKEN` characters a token, rounded up.
 * Files and images count by the length of their JSON, which is a rough guess: pass `estimate` when
 * prompts carry media.
 */
export function promptTokens(params: ModelCallOptions): number {
  let chars = 0;
  for (const message of params.prompt) {
    chars += typeof message.content === 'string' ? message.content.length : JSON.stringify(message.content).length;
  }
  if (params.tools) chars += JSON.stringify(params.tools).length;
  return Math.ceil(chars / CHARS_PER_TOKEN);
}
