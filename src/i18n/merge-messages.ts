import type { MessageOverrides, TokenGateMessages } from './messages.ts';

/**
 * Merges overrides over a base set of messages (later wins); the per-reason maps (`promptTitle`,
 * `promptBody`) merge reason by reason. The base may be a subset of the messages (the kit's
 * components merge over the strings they show) or overrides themselves (the provider's).
 *
 * @example
 * const m = mergeMessages(defaultMessages, { retry: 'Erneut versuchen' });
 */
export function mergeMessages<M extends MessageOverrides = TokenGateMessages>(base: M, ...overrides: (MessageOverrides | undefined)[]): M {
  let out = base;
  for (const o of overrides) {
    if (!o) continue;
    out = {
      ...out,
      ...o,
      promptTitle: { ...out.promptTitle, ...o.promptTitle },
      promptBody: { ...out.promptBody, ...o.promptBody },
    } as M;
  }
  return out;
}
