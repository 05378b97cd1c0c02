export { defaultMessages, mergeMessages } from './messages.ts';
export type { TokenGateMessages, MessageOverrides, UpgradeReason, PromptArgs } from './messages.ts';
export { createFormatter } from './create-formatter.ts';
export type { Formatter } from './create-formatter.ts';
export { TokenGateI18nProvider, useTokenGateI18n } from './i18n-context.tsx';
export type { TokenGateI18nProviderProps } from './i18n-context.tsx';
