'use client';
import type { Formatter } from './create-formatter.ts';
import { useI18n } from './i18n-context.tsx';
import { defaultMessages, type MessageOverrides, type TokenGateMessages } from './messages.ts';

/**
 * The messages and formatters a component uses: its own props over the provider's, over the
 * defaults.
 *
 * @example
 * const { messages, format } = useTokenGateI18n({ locale: props.locale, messages: props.messages });
 */
export function useTokenGateI18n(own: { locale?: string; messages?: MessageOverrides }): {
  messages: TokenGateMessages;
  format: Formatter;
} {
  return useI18n(own, defaultMessages);
}
