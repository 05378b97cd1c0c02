import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFormatter } from './create-formatter.ts';
import { TokenGateI18nProvider } from './i18n-context.tsx';
import { useTokenGateI18n } from './use-token-gate-i18n.ts';
import { mergeMessages } from './merge-messages.ts';
import { defaultMessages, type MessageOverrides } from './messages.ts';
import { baseMessages } from './base-messages.ts';
import { UpgradePrompt } from '../components/upgrade-prompt/upgrade-prompt.tsx';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe('createFormatter', () => {
  it('formats numbers, days, timestamps and relative days with Intl in the locale', () => {
    const de = createFormatter('de-DE', 'UTC');
    expect(de.number(1234567)).toBe('1.234.567');
    expect(de.date('2027-05-12')).toBe('12. Mai');
    expect(de.date('2027-05-12', 'long')).toBe('12. Mai 2027');
    expect(de.relativeDays('2026-12-08T00:00:00Z', new Date('2026-11-26T12:00:00Z'))).toBe('in 12 Tagen');
    expect(de.relativeDays('2026-11-27T00:00:00Z', new Date('2026-11-26T12:00:00Z'))).toBe('morgen');
    const en = createFormatter('en-US', 'UTC');
    expect(en.number(1234567)).toBe('1,234,567');
    expect(en.date('2027-05-12')).toBe('May 12');
    expect(en.relativeDays('2026-12-08', new Date('2026-11-26T12:00:00Z'))).toBe('in 12 days');
    // A refresh in the past (a stale balance) reads "today", never "12 days ago".
    expect(en.relativeDays('2026-11-20', new Date('2026-11-26T12:00:00Z'))).toBe('today');
  });

  it('formats a YYYY-MM-DD day in UTC, so it never shifts by a day in a western time zone', () => {
    expect(createFormatter('en-US', 'America/Los_Angeles').date('2027-05-12')).toBe('May 12');
  });

  it('returns an unparsable date as it is instead of "Invalid Date"', () => {
    expect(createFormatter('en').date('soon')).toBe('soon');
  });
});

describe('messages', () => {
  it('mergeMessages overrides strings and single reasons, keeping the other defaults', () => {
    const m = mergeMessages(defaultMessages, { retry: 'Erneut versuchen', promptTitle: { low: () => 'Knapp' } });
    expect(m.retry).toBe('Erneut versuchen');
    expect(m.promptTitle.low({ name: 'x', available: '', cost: '', refreshDate: '' })).toBe('Knapp');
    expect(m.promptTitle.plan_blocked({ name: 'Quests', available: '', cost: '', refreshDate: '' })).toBe('Quests isn’t included in your plan');
    expect(m.unlimited).toBe('Unlimited');
  });

  it('mergeMessages merges over a subset of the messages, or over overrides alone, reason by reason', () => {
    const args = { name: 'Quests', available: '', cost: '', refreshDate: '' };
    const prompt = mergeMessages(baseMessages, { close: 'Schließen', promptBody: { low: () => 'Knapp' } });
    expect(prompt.close).toBe('Schließen');
    expect(prompt.promptBody.low(args)).toBe('Knapp');
    expect(prompt.promptBody.plan_blocked(args)).toBe(defaultMessages.promptBody.plan_blocked(args));
    const overrides = mergeMessages<MessageOverrides>({}, { promptTitle: { low: () => 'A' } }, { promptTitle: { plan_blocked: () => 'B' } });
    expect(Object.keys(overrides.promptTitle!).sort()).toEqual(['low', 'plan_blocked']);
    // The English defaults are one set: what loads up front is part of them, with the same strings.
    for (const [key, value] of Object.entries(baseMessages)) expect(defaultMessages[key as keyof typeof baseMessages]).toBe(value);
  });
});

function Probe({ locale, messages }: { locale?: string; messages?: MessageOverrides }) {
  const { messages: m, format } = useTokenGateI18n({ locale, messages });
  return (
    <p>
      {format.locale}|{m.retry}|{m.unlimited}|{format.number(1000)}
    </p>
  );
}

describe('TokenGateI18nProvider and useTokenGateI18n', () => {
  it("defaults to the browser's language", () => {
    vi.spyOn(navigator, 'language', 'get').mockReturnValue('de-DE');
    render(<Probe />);
    expect(screen.getByText('de-DE|Retry|Unlimited|1.000')).toBeTruthy();
  });

  it("applies the provider's locale and messages; a component's own props win", () => {
    render(
      <TokenGateI18nProvider locale="fr-FR" messages={{ retry: 'Réessayer', unlimited: 'Illimité' }}>
        <Probe />
        <TokenGateI18nProvider messages={{ unlimited: 'Sans limite' }}>
          <Probe locale="en-US" messages={{ retry: 'Try again' }} />
        </TokenGateI18nProvider>
      </TokenGateI18nProvider>,
    );
    expect(screen.getByText(/^fr-FR\|Réessayer\|Illimité\|1\s000$/)).toBeTruthy();
    expect(screen.getByText('en-US|Try again|Sans limite|1,000')).toBeTruthy();
  });
});

describe('TokenGateI18nProvider and the components that show only some strings (UpgradePrompt)', () => {
  it("applies the nested providers' overrides, then its own, over its defaults", () => {
    render(
      <TokenGateI18nProvider messages={{ promptTitle: { plan_blocked: ({ name }) => `${name}: nicht im Tarif` }, upgrade: 'Upgrade' }}>
        <TokenGateI18nProvider messages={{ upgrade: 'Tarif wechseln' }}>
          <UpgradePrompt reason="plan_blocked" tokenType="image_generation" locale="en-US" onUpgrade={() => {}} messages={{ close: 'unused' }} />
        </TokenGateI18nProvider>
      </TokenGateI18nProvider>,
    );
    const prompt = screen.getByRole('region', { name: 'Image generation: nicht im Tarif' });
    expect(prompt.textContent).toContain('doesn’t include Image generation');
    expect(screen.getByRole('button').textContent).toBe('Tarif wechseln');
  });
});
