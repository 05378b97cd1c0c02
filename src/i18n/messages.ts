import type { GrantSource } from '../core/types.ts';
import { baseMessages } from './base-messages.ts';

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
  /** Heading of the dashboard (and the name of its region, unless the app passes `title` or `aria-label`). */
  dashboardTitle: string;
  /**
   * Appended, for screen readers only, to the name of the second, third, … dashboard with the same
   * title on a page, so each region has a unique name, e.g. " (2)".
   */
  dashboardNumber: (a: { n: string }) => string;
  /** Plan badge, e.g. "Pro plan". */
  planBadge: (a: { plan: string }) => string;
  /** Announced (and shown to screen readers) while balances load. */
  loading: string;
  /** Error state heading. */
  errorTitle: string;
  /** Error state explanation. */
  errorBody: string;
  /** Error state heading when the caller is not a member of the organization (403 `not_a_member`). */
  notAMemberTitle: string;
  /** Error state explanation when the caller is not a member of the organization. */
  notAMemberBody: string;
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
  /** The member's own cap on a token type, while some of it is left (`spent` < `quota`). */
  memberQuota: (a: { spent: string; quota: string }) => string;
  /**
   * The member's own cap once it is used up. `over`: more was spent than the cap allows (the cap was
   * set below what had been spent), so `spent` is larger than `quota`.
   */
  memberQuotaReached: (a: { spent: string; quota: string; over: boolean }) => string;
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
  /** Toggle button (pressed: shown) that shows the chart's numbers as a visible table. */
  showTable: string;
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
  /**
   * Forecast line when grants expire before the pace at which they would be spent reaches them:
   * those tokens do not extend the runway (the forecast date already leaves them out).
   */
  expiringUnused: (a: { name: string; amount: string }) => string;
  /** Text of a balance's grants disclosure button (its name adds the type, see `grantsLabel`). */
  grantsButton: string;
  /** Accessible name of a balance's grants disclosure button; it must contain `grantsButton`. */
  grantsLabel: (a: { name: string }) => string;
  /** While a balance's grants load. */
  grantsLoading: string;
  /** A balance's grants failed to load. */
  grantsError: string;
  /** A balance has no grants (only the plan's allowance). */
  grantsEmpty: string;
  /** Caption of a balance's grants table. */
  grantsCaption: (a: { name: string }) => string;
  /** Column header of the grants table. */
  grantSourceColumn: string;
  /** After a grant's source when it pays for every token type (an any-type grant, `tokenType: '*'`). */
  grantAnyType: string;
  /** Column header of the grants table. */
  grantLeftColumn: string;
  /** Column header of the grants table. */
  grantExpiresColumn: string;
  /** Where a grant came from. */
  grantSource: (a: { source: GrantSource }) => string;
  /** What is left of a grant. */
  grantLeft: (a: { remaining: string; amount: string }) => string;
  /** When a grant expires; `relative` from `Intl.RelativeTimeFormat` ("in 12 days"), `date` the absolute date. */
  grantExpires: (a: { relative: string; date: string }) => string;
  /** A grant that never expires. */
  grantNeverExpires: string;
  /** A scheduled grant: when its tokens become spendable. */
  grantStarts: (a: { date: string }) => string;
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
  /** `TokenGateButton`: the cost after the label, e.g. "(3 tokens)"; `count` is the raw number for plurals. */
  buttonCost: (a: { cost: string; count: number }) => string;
  /** `TokenGateButton`: the cost while the balances load. */
  buttonCostPending: string;
  /** `TokenGateButton`: the cost when it is unknown (the balances failed to load, or no such token type). */
  buttonCostUnknown: string;
  /** `TokenGateButton`: its label while a run is in flight (and what its live region announces). */
  buttonRunning: string;
}

/**
 * Why an upgrade prompt is shown: a server denial reason (any `TokenGateReason`, `not_a_member`
 * included), or a low balance warning.
 */
export type UpgradeReason = 'plan_blocked' | 'insufficient_tokens' | 'member_quota_exceeded' | 'not_a_member' | 'low';

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

/**
 * English defaults for every string. Override any subset with the `messages` prop of a component
 * or of `TokenGateI18nProvider`.
 *
 * @example
 * const de: Partial<TokenGateMessages> = { retry: 'Erneut versuchen', unlimited: 'Unbegrenzt' };
 * <TokenDashboardView locale="de-DE" messages={de} … />
 */
export const defaultMessages: TokenGateMessages = {
  ...baseMessages,
  dashboardNumber: ({ n }) => ` (${n})`,
  planBadge: ({ plan }) => `${plan} plan`,
  errorTitle: 'Couldn’t load your token balance',
  errorBody: 'Something went wrong while loading your balance. Check your connection and try again.',
  notAMemberTitle: 'You’re not a member of this organization',
  notAMemberBody: 'Ask an owner or admin of the organization to invite you, or switch to an organization you belong to.',
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
  memberQuotaReached: ({ spent, quota, over }) =>
    over ? `Personal limit reached: ${spent} used, limit ${quota}` : `Personal limit reached: ${quota} of ${quota} used`,
  usageTitle: 'Usage over time',
  usageSummary: ({ total, from, to, days }) =>
    `${total} tokens used from ${from} to ${to}, over ${days} days.`,
  usageEmpty: 'No usage in this period yet.',
  dayColumn: 'Day',
  totalColumn: 'Total',
  showTable: 'Show as table',
  byMemberTitle: 'Usage by member',
  memberColumn: 'Member',
  tokensColumn: 'Tokens',
  usesColumn: 'Uses',
  forecastTitle: 'Forecast',
  runsOutOn: ({ name, date, beforeRefresh }) =>
    `At this pace you run out of ${name} on ${date}${beforeRefresh ? ', before your allowance refreshes' : ''}.`,
  lastsUntilRefresh: ({ name }) => `At this pace your ${name} tokens last until the refresh.`,
  expiringUnused: ({ name, amount }) => `${amount} ${name} tokens expire before you would use them at this pace.`,
  grantsButton: 'Grants',
  grantsLabel: ({ name }) => `Grants of ${name}`,
  grantsLoading: 'Loading grants…',
  grantsError: 'Couldn’t load the grants.',
  grantsEmpty: 'No grants: only your plan’s allowance.',
  grantAnyType: 'any type',
  grantsCaption: ({ name }) => `${name} grants, in the order they are spent`,
  grantSourceColumn: 'Source',
  grantLeftColumn: 'Left',
  grantExpiresColumn: 'Expires',
  grantSource: ({ source }) => ({ plan: 'Plan', purchase: 'Purchase', promo: 'Promotion', adjustment: 'Adjustment' })[source],
  grantLeft: ({ remaining, amount }) => `${remaining} of ${amount}`,
  grantExpires: ({ relative, date }) => `${relative} (${date})`,
  grantNeverExpires: 'Never',
  grantStarts: ({ date }) => `starts ${date}`,
  exportCsv: 'Export CSV',
  exportJson: 'Export JSON',
  announceBalance: ({ name, available }) => `${name}: ${available} left`,
  buttonCost: ({ cost, count }) => `(${cost} ${count === 1 ? 'token' : 'tokens'})`,
  buttonCostPending: '(… tokens)',
  buttonCostUnknown: '(— tokens)',
  buttonRunning: 'Working…',
};

/** A partial override of the messages; nested per-reason maps may be partial too. */
export type MessageOverrides = Partial<Omit<TokenGateMessages, 'promptTitle' | 'promptBody'>> & {
  promptTitle?: Partial<TokenGateMessages['promptTitle']>;
  promptBody?: Partial<TokenGateMessages['promptBody']>;
};
