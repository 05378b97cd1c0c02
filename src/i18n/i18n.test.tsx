import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFormatter } from './create-formatter.ts';
import { TokenGateI18nProvider, useTokenGateI18n } from './i18n-context.tsx';
import { defaultMessages, mergeMessages, type MessageOverrides } from './messages.ts';

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
