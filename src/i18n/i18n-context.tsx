'use client';
import { createContext, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import { createFormatter, type Formatter } from './create-formatter.ts';
import type { BaseMessages } from './base-messages.ts';
import { mergeMessages } from './merge-messages.ts';
import type { MessageOverrides } from './messages.ts';

interface I18nValue {
  locale?: string;
  timeZone?: string;
  messages?: MessageOverrides;
}

const I18nContext = createContext<I18nValue>({});

/** Props of {@link TokenGateI18nProvider}. */
export interface TokenGateI18nProviderProps {
  /** BCP 47 locale for numbers and dates, e.g. `de-DE`. Default: the browser's, `en` on the server. */
  locale?: string;
  /** IANA time zone for timestamps; pass the user's to make server and client render alike. */
  timeZone?: string;
  /** Message overrides for every kit component below. */
  messages?: MessageOverrides;
  children?: ReactNode;
}

/**
 * Sets the locale, time zone and message overrides for every Tokengate component below it.
 * A component's own `locale`/`messages` props win over these.
 *
 * @example
 * <TokenGateI18nProvider locale="de-DE" messages={{ retry: 'Erneut versuchen' }}>
 *   <TokenDashboard />
 * </TokenGateI18nProvider>
 */
export function TokenGateI18nProvider({ locale, timeZone, messages, children }: TokenGateI18nProviderProps) {
  const parent = useContext(I18nContext);
  const value = useMemo<I18nValue>(
    () => ({
      locale: locale ?? parent.locale,
      timeZone: timeZone ?? parent.timeZone,
      // Only the overrides: each component merges them over the defaults of the strings it shows.
      messages: parent.messages || messages ? mergeMessages<MessageOverrides>({}, parent.messages, messages) : undefined,
    }),
    [locale, timeZone, messages, parent],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

const subscribe = (onChange: () => void) => {
  window.addEventListener('languagechange', onChange);
  return () => window.removeEventListener('languagechange', onChange);
};
// The server (and hydration) render 'en'; the browser's language takes over right after, so the
// server HTML and the first client render always agree.
const browserLocale = () => navigator.language || 'en';
const serverLocale = () => 'en';

/**
 * Internal: the messages and formatters a component uses — its own props over the provider's,
 * over `base`, the defaults of the strings it shows (all of `defaultMessages`, or a subset such as
 * `baseMessages` for what loads up front, so the other strings need not). `useTokenGateI18n` is
 * this with `defaultMessages`.
 *
 * @example
 * const { messages, format } = useI18n({ locale: props.locale, messages: props.messages }, baseMessages);
 */
export function useI18n<M extends BaseMessages>(own: { locale?: string; messages?: MessageOverrides }, base: M): {
  messages: M;
  format: Formatter;
} {
  const ctx = useContext(I18nContext);
  const detected = useSyncExternalStore(subscribe, browserLocale, serverLocale);
  const locale = own.locale ?? ctx.locale ?? detected;
  const messages = useMemo(() => mergeMessages(base, ctx.messages, own.messages), [base, ctx.messages, own.messages]);
  const format = useMemo(
    () => createFormatter(locale, ctx.timeZone, messages.language),
    [locale, ctx.timeZone, messages.language],
  );
  return { messages, format };
}
