export { defaultMessages } from './messages.ts';
export { mergeMessages } from './merge-messages.ts';
export type { TokenGateMessages, MessageOverrides, UpgradeReason, PromptArgs } from './messages.ts';
export { createFormatter } from './create-formatter.ts';
export type { Formatter } from './create-formatter.ts';
export { TokenGateI18nProvider } from './i18n-context.tsx';
export { useTokenGateI18n } from './use-token-gate-i18n.ts';
export type { TokenGateI18nProviderProps } from './i18n-context.tsx';
