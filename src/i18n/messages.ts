/**
 * Every visible string of the kit's components. Strings with values are functions so a
 * translation can put the (already `Intl`-formatted) values anywhere in the sentence.
 */
export interface TokenGateMessages {
  /**
   * BCP 47 language these messages are written in. Phrases set inside them (the relative refresh
   * time) use it, so a sentence never mixes languages; numbers and dates follow the display locale.
   * Translations set it along with their strings.
   */
  language: string;
  /** Heading of the dashboard. */
  dashboardTitle: string;
  /** Plan badge, e.g. "Pro plan". */
  planBadge: (a: { plan: string }) => string;
  /** Announced (and shown to screen readers) while balances load. */
  loading: string;
  /** Error state heading. */
  errorTitle: string;
  /** Error state explanation. */
  errorBody: string;
  /** Retry button in the error state. */
  retry: string;
  /** The organization has no token types. */
  noTokenTypes: string;
  /** Enterprise: no limit. */
  unlimited: string;
  /** Starter: the feature is not in the plan. */
  notInPlan: string;
  /** Text and `aria-valuetext` of a progress bar. */
  usedOfAllowance: (a: { used: string; allowance: string }) => string;
  /** Tokens charged this period (shown for unlimited types). */
  usedThisPeriod: (a: { used: string }) => string;
  /** A metered token type whose plan grants no allowance (only purchased tokens). */
  noAllowance: string;
  /** Tokens left (allowance remaining plus purchased). */
  left: (a: { available: string }) => string;
  /** Purchased (top-up) tokens. */
  purchased: (a: { purchased: string }) => string;
  /** Tokens held by pending reservations. */
  held: (a: { held: string }) => string;
  /** Badge of a token type with ≤ 20 % left. */
  lowBadge: string;
  /** Badge of a token type that cannot pay for one more use. */
  exhaustedBadge: string;
  /** Refresh line; `relative` comes from `Intl.RelativeTimeFormat`, e.g. "in 12 days". */
  refreshes: (a: { relative: string; date: string }) => string;
  /** The member's own cap on a token type. */
  memberQuota: (a: { spent: string; quota: string }) => string;
  /** Heading of the usage chart. */
  usageTitle: string;
  /** Accessible summary of the usage chart. */
  usageSummary: (a: { total: string; from: string; to: string; days: string }) => string;
  /** No usage in the range. */
  usageEmpty: string;
  /** Column header of the chart's table fallback. */
  dayColumn: string;
  /** Column header of the chart's table fallback. */
  totalColumn: string;
  /** Heading of the usage-by-member table. */
  byMemberTitle: string;
  /** Column header. */
  memberColumn: string;
  /** Column header. */
  tokensColumn: string;
  /** Column header (number of charged uses). */
  usesColumn: string;
  /** Heading of the runway forecast. */
  forecastTitle: string;
  /** Forecast line when tokens run out at the recent pace. */
  runsOutOn: (a: { name: string; date: string; beforeRefresh: boolean }) => string;
  /** Forecast line when the tokens last until the refresh (or nothing is being spent). */
  lastsUntilRefresh: (a: { name: string }) => string;
  /** Export buttons. */
  exportCsv: string;
  /** Export buttons. */
  exportJson: string;
  /** Upgrade button when the app gives no label of its own. */
  upgrade: string;
  /** Top-up button when the app gives no label of its own. */
  topUp: string;
  /** Live-region announcement when a balance changes. */
  announceBalance: (a: { name: string; available: string }) => string;
  /** Name used in the upgrade prompt when neither a balance nor a token type is given. */
  fallbackName: string;
  /** Upgrade prompt headings, per reason. */
  promptTitle: Record<UpgradeReason, (a: PromptArgs) => string>;
  /** Upgrade prompt explanations (what happened and what the user can do), per reason. */
  promptBody: Record<UpgradeReason, (a: PromptArgs) => string>;
  /** Close button of the dialog. */
  close: string;
}

/** Why an upgrade prompt is shown: a server denial reason, or a low balance warning. */
export type UpgradeReason = 'plan_blocked' | 'insufficient_tokens' | 'member_quota_exceeded' | 'low';

/** Values the upgrade prompt's copy can use; all formatted, empty when unknown. */
export interface PromptArgs {
  /** Display name of the token type, or a generic "AI" when unknown. */
  name: string;
  /** Tokens left, formatted; '' when unknown or unlimited. */
  available: string;
  /** Tokens one use costs, formatted; '' when unknown. */
  cost: string;
  /** Refresh date, formatted; '' when unknown. */
  refreshDate: string;
}

const untilRefresh = (d: string) => (d ? ` or wait until your allowance refreshes on ${d}` : '');

/**
 * English defaults for every string. Override any subset with the `messages` prop of a component
 * or of `TokenGateI18nProvider`.
 *
 * @example
 * const de: Partial<TokenGateMessages> = { retry: 'Erneut versuchen', unlimited: 'Unbegrenzt' };
 * <TokenDashboardView locale="de-DE" messages={de} … />
 */
export const defaultMessages: TokenGateMessages = {
  language: 'en',
  dashboardTitle: 'AI token balance',
  planBadge: ({ plan }) => `${plan} plan`,
  loading: 'Loading token balances…',
  errorTitle: 'Couldn’t load your token balance',
  errorBody: 'Something went wrong while loading your balance. Check your connection and try again.',
  retry: 'Retry',
  noTokenTypes: 'No AI features are set up for this organization yet.',
  unlimited: 'Unlimited',
  notInPlan: 'Not in your plan',
  usedOfAllowance: ({ used, allowance }) => `${used} of ${allowance} used`,
  usedThisPeriod: ({ used }) => `${used} used this period`,
  noAllowance: 'No included allowance this period',
  left: ({ available }) => `${available} left`,
  purchased: ({ purchased }) => `${purchased} purchased tokens`,
  held: ({ held }) => `${held} held by running actions`,
  lowBadge: 'Running low',
  exhaustedBadge: 'Used up',
  refreshes: ({ relative }) => `Refreshes ${relative}`,
  memberQuota: ({ spent, quota }) => `Your personal limit: ${spent} of ${quota} used`,
  usageTitle: 'Usage over time',
  usageSummary: ({ total, from, to, days }) =>
    `${total} tokens used from ${from} to ${to}, over ${days} days.`,
  usageEmpty: 'No usage in this period yet.',
  dayColumn: 'Day',
  totalColumn: 'Total',
  byMemberTitle: 'Usage by member',
  memberColumn: 'Member',
  tokensColumn: 'Tokens',
  usesColumn: 'Uses',
  forecastTitle: 'Forecast',
  runsOutOn: ({ name, date, beforeRefresh }) =>
    `At this pace you run out of ${name} on ${date}${beforeRefresh ? ', before your allowance refreshes' : ''}.`,
  lastsUntilRefresh: ({ name }) => `At this pace your ${name} tokens last until the refresh.`,
  exportCsv: 'Export CSV',
  exportJson: 'Export JSON',
  upgrade: 'Upgrade plan',
  topUp: 'Buy tokens',
  announceBalance: ({ name, available }) => `${name}: ${available} left`,
  fallbackName: 'AI',
  promptTitle: {
    plan_blocked: ({ name }) => `${name} isn’t included in your plan`,
    insufficient_tokens: ({ name }) => `You’re out of ${name} tokens`,
    member_quota_exceeded: () => 'You’ve reached your personal limit',
    low: ({ name }) => `You’re running low on ${name} tokens`,
  },
  promptBody: {
    plan_blocked: ({ name }) => `Your current plan doesn’t include ${name}. Upgrade your plan to use it.`,
    insufficient_tokens: ({ available, cost, refreshDate }) =>
      `${cost ? `This needs ${cost} tokens` : 'This needs more tokens'}${available ? ` and you have ${available} left` : ''}. Buy more tokens${untilRefresh(refreshDate)}.`,
    member_quota_exceeded: ({ name, refreshDate }) =>
      `Your organization caps how many ${name} tokens each member can use. Ask an admin to raise your limit${untilRefresh(refreshDate)}.`,
    low: ({ available }) =>
      `${available ? `Only ${available} tokens are left. ` : ''}Buy more tokens or upgrade your plan so your work isn’t interrupted.`,
  },
  close: 'Close',
};

/** A partial override of the messages; nested per-reason maps may be partial too. */
export type MessageOverrides = Partial<Omit<TokenGateMessages, 'promptTitle' | 'promptBody'>> & {
  promptTitle?: Partial<TokenGateMessages['promptTitle']>;
  promptBody?: Partial<TokenGateMessages['promptBody']>;
};

/**
 * Merges overrides over a base set of messages (later wins).
 *
 * @example
 * const m = mergeMessages(defaultMessages, { retry: 'Erneut versuchen' });
 */
export function mergeMessages(base: TokenGateMessages, ...overrides: (MessageOverrides | undefined)[]): TokenGateMessages {
  let out = base;
  for (const o of overrides) {
    if (!o) continue;
    out = {
      ...out,
      ...(o as Partial<TokenGateMessages>),
      promptTitle: { ...out.promptTitle, ...o.promptTitle },
      promptBody: { ...out.promptBody, ...o.promptBody },
    };
  }
  return out;
}
