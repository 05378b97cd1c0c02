/** Locale-aware formatting of the numbers and dates the components show, all through `Intl`. */
export interface Formatter {
  /** The BCP 47 locale in use. */
  locale: string;
  /** A token count, e.g. `1,234` (en) or `1.234` (de). */
  number: (n: number) => string;
  /** A date (`YYYY-MM-DD` day or ISO timestamp), e.g. `May 12` or `12. Mai`. */
  date: (iso: string, style?: 'short' | 'long') => string;
  /** Whole days from `now` to `iso`, e.g. `in 12 days`, `tomorrow`, `in 12 Tagen` (in the phrase locale). */
  relativeDays: (iso: string, now: Date) => string;
}

const DAY_MS = 86_400_000;
const isDay = (iso: string) => /^\d{4}-\d{2}-\d{2}$/.test(iso);

/**
 * Builds the formatters for a locale. `YYYY-MM-DD` days are calendar days in UTC (as the server
 * stores them), so they are formatted in UTC to never shift by one; timestamps use `timeZone`
 * (default: the runtime's).
 *
 * @example
 * const f = createFormatter('de-DE');
 * f.number(1234) // '1.234'
 * f.relativeDays('2026-12-08T00:00:00Z', new Date('2026-11-26T00:00:00Z')) // 'in 12 Tagen'
 */
export function createFormatter(locale: string, timeZone?: string, phraseLocale: string = locale): Formatter {
  const num = new Intl.NumberFormat(locale);
  const dateFmt = (style: 'short' | 'long', tz: string | undefined) =>
    new Intl.DateTimeFormat(locale, {
      month: style === 'long' ? 'long' : 'short',
      day: 'numeric',
      ...(style === 'long' ? { year: 'numeric' } : {}),
      ...(tz ? { timeZone: tz } : {}),
    });
  // Relative times are words inside a sentence: they follow the sentence's language.
  const rel = new Intl.RelativeTimeFormat(phraseLocale, { numeric: 'auto' });
  return {
    locale,
    number: (n) => num.format(n),
    date: (iso, style = 'short') => {
      const d = isDay(iso) ? new Date(`${iso}T00:00:00Z`) : new Date(iso);
      if (Number.isNaN(d.getTime())) return iso;
      return dateFmt(style, isDay(iso) ? 'UTC' : timeZone).format(d);
    },
    relativeDays: (iso, now) => {
      const t = new Date(isDay(iso) ? `${iso}T00:00:00Z` : iso).getTime();
      if (Number.isNaN(t)) return iso;
      // Ceil: a refresh 11.2 days away is "in 12 days", never "in 11" while 11 full days remain.
      return rel.format(Math.max(0, Math.ceil((t - now.getTime()) / DAY_MS)), 'day');
    },
  };
}
