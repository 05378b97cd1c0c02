/**
 * Tokengate for the Vercel AI SDK (`ai` 7, an optional peer dependency): a language-model
 * middleware that refuses a model call the organization cannot pay for, before it runs, and charges
 * the model's own reported usage after it — on its own or inside a `guard`ed route.
 *
 * @example
 * import { wrapLanguageModel, streamText } from 'ai';
 * import { tokengateMiddleware } from 'tokengate/ai';
 * const model = wrapLanguageModel({ model: baseModel, middleware: tokengateMiddleware({ gate, context: ctx, tokenType: 'strategy_analysis', price }) });
 */
export { tokengateMiddleware, type AiErrorInfo, type ModelCall, type TokengateMiddlewareOptions } from './tokengate-middleware.ts';
export { promptTokens, toLanguageModelUsage, type ModelCallOptions, type ModelUsage } from './model-usage.ts';
