'use client';
import { createContext, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import { createFormatter, type Formatter } from './create-formatter.ts';
import { defaultMessages, mergeMessages, type MessageOverrides, type TokenGateMessages } from './messages.ts';

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
      messages: parent.messages || messages ? mergeMessages(defaultMessages, parent.messages, messages) : undefined,
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
  const ctx = useContext(I18nContext);
  const detected = useSyncExternalStore(subscribe, browserLocale, serverLocale);
  const locale = own.locale ?? ctx.locale ?? detected;
  const messages = useMemo(
    () => mergeMessages(defaultMessages, ctx.messages, own.messages),
    [ctx.messages, own.messages],
  );
  const format = useMemo(
    () => createFormatter(locale, ctx.timeZone, messages.language),
    [locale, ctx.timeZone, messages.language],
  );
  return { messages, format };
}
