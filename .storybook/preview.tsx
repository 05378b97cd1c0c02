import type { Decorator, Preview } from '@storybook/react-vite';
import { useEffect } from 'react';
import { TokenGateI18nProvider } from '../src/i18n/index.ts';
import './storybook.css';

/** Locales of the toolbar switch: numbers and dates follow them (the copy is English). */
export const LOCALES = { en: 'en-US', de: 'de-DE', ja: 'ja-JP' } as const;

/** Adds `.dark` on <html> for the dark theme and provides the chosen locale to every kit component. */
const withThemeAndLocale: Decorator = (Story, context) => {
  const dark = context.globals.theme === 'dark';
  useEffect(() => {
    document.documentElement.classList.toggle('dark', dark);
  }, [dark]);
  const locale = LOCALES[(context.globals.locale as keyof typeof LOCALES) ?? 'en'] ?? LOCALES.en;
  return (
    // UTC: the fixtures' dates render the same on every machine.
    <TokenGateI18nProvider locale={locale} timeZone="UTC">
      <Story />
    </TokenGateI18nProvider>
  );
};

const preview: Preview = {
  decorators: [withThemeAndLocale],
  globalTypes: {
    theme: {
      description: 'Colour theme of the kit',
      toolbar: {
        title: 'Theme',
        icon: 'contrast',
        items: [
          { value: 'light', title: 'Light', icon: 'sun' },
          { value: 'dark', title: 'Dark', icon: 'moon' },
        ],
        dynamicTitle: true,
      },
    },
    locale: {
      description: 'Locale of numbers and dates',
      toolbar: {
        title: 'Locale',
        icon: 'globe',
        items: [
          { value: 'en', title: 'English (en-US)' },
          { value: 'de', title: 'Deutsch (de-DE)' },
          { value: 'ja', title: '日本語 (ja-JP)' },
        ],
        dynamicTitle: true,
      },
    },
  },
  initialGlobals: { theme: 'light', locale: 'en' },
  parameters: {
    layout: 'padded',
    controls: { matchers: { date: /^now$/ } },
    // An accessibility violation fails the story's test (in `npm test` and in the Storybook UI).
    a11y: { test: 'error' },
  },
};
export default preview;
