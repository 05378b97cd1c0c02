import type { TokenGateMessages } from './messages.ts';

/**
 * The strings of what the kit renders before anything loads on demand: the upgrade prompt and the
 * dashboard's loading state (its heading and what screen readers hear). A subset of
 * {@link TokenGateMessages}.
 */
export type BaseMessages = Pick<
  TokenGateMessages,
  'language' | 'dashboardTitle' | 'loading' | 'upgrade' | 'topUp' | 'fallbackName' | 'promptTitle' | 'promptBody' | 'close'
>;

const untilRefresh = (d: string) => (d ? ` or wait until your allowance refreshes on ${d}` : '');

/**
 * Internal: the English {@link BaseMessages}, part of `defaultMessages`. Apart from the rest so the
 * dashboard's other strings (balances, grants, usage) travel with its view, which loads on demand,
 * instead of with the upgrade prompt and the connected dashboard, which load up front.
 *
 * @example
 * const { messages } = useI18n({ locale, messages: overrides }, baseMessages);
 */
export const baseMessages: BaseMessages = {
  language: 'en',
  dashboardTitle: 'AI token balance',
  loading: 'Loading token balances…',
  upgrade: 'Upgrade plan',
  topUp: 'Buy tokens',
  fallbackName: 'AI',
  promptTitle: {
    plan_blocked: ({ name }) => `${name} isn’t included in your plan`,
    insufficient_tokens: ({ name }) => `You’re out of ${name} tokens`,
    member_quota_exceeded: () => 'You’ve reached your personal limit',
    not_a_member: () => 'You’re not a member of this organization',
    low: ({ name }) => `You’re running low on ${name} tokens`,
  },
  promptBody: {
    plan_blocked: ({ name }) => `Your current plan doesn’t include ${name}. Upgrade your plan to use it.`,
    insufficient_tokens: ({ available, cost, refreshDate }) =>
      `${cost ? `This needs ${cost} tokens` : 'This needs more tokens'}${available ? ` and you have ${available} left` : ''}. Buy more tokens${untilRefresh(refreshDate)}.`,
    member_quota_exceeded: ({ name, refreshDate }) =>
      `Your organization caps how many ${name} tokens each member can use. Ask an admin to raise your limit${untilRefresh(refreshDate)}.`,
    not_a_member: () => 'Ask an owner or admin of the organization to invite you, or switch to an organization you belong to.',
    low: ({ available }) =>
      `${available ? `Only ${available} tokens are left. ` : ''}Buy more tokens or upgrade your plan so your work isn’t interrupted.`,
  },
  close: 'Close',
};
