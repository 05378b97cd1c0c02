/**
 * The playground's stand-in for a language model: deterministic text after a delay, so the demo
 * needs no API key and tests see the same output every time.
 */
import type { AiFeature } from './directory.ts';

/** What every fake AI route answers. */
export interface AiResult {
  title: string;
  items: string[];
}

const QUEST_STEPS = [
  'List every recurring expense and cancel one you do not use',
  'Move {amount} to savings on payday, before anything else',
  'Cook at home five nights this week and log what you saved',
  'Sell one thing you no longer need and add it to the fund',
  'Review your progress toward "{goal}" and adjust the plan',
  'Negotiate one bill (phone, internet or insurance) down',
  'Set up an automatic weekly transfer toward "{goal}"',
  'Do a no-spend weekend and write down what it taught you',
];

function hash(text: string): number {
  let h = 2166136261;
  for (const ch of text) h = Math.imul(h ^ ch.codePointAt(0)!, 16777619);
  return h >>> 0;
}

/**
 * The fake model's answer for a feature and its input. Same input, same answer.
 *
 * @example
 * fakeAi('quest_generation', { goal: 'Save $10,000', n: 2 }) // { title: 'Quest 3: …', items: [...] }
 */
export function fakeAi(feature: AiFeature, input: { goal?: string; n?: number }): AiResult {
  const goal = (input.goal ?? 'your goal').slice(0, 120);
  const n = Math.max(0, Math.min(1000, Math.floor(input.n ?? 0)));
  const h = hash(`${feature}:${goal}:${n}`);
  switch (feature) {
    case 'quest_generation': {
      const step = QUEST_STEPS[(n + h) % QUEST_STEPS.length]!;
      return {
        title: `Quest ${n + 1}: ${step.replace('{amount}', `$${50 + (h % 10) * 25}`).replace('{goal}', goal)}`,
        items: [`Reward: ${10 + (h % 5) * 5} XP`, `Due in ${2 + (h % 6)} days`],
      };
    }
    case 'goal_generation':
      return {
        title: 'Suggested goals',
        items: ['Build a 3-month emergency fund', 'Pay off the credit card by June', `Invest ${5 + (h % 10)}% of income`],
      };
    case 'lead_generation':
      return {
        title: 'New leads',
        items: ['Fern & Co. (bakery, 12 staff)', 'Harbor Dental (3 clinics)', `Lumen Studio (design, ${10 + (h % 40)} staff)`],
      };
    case 'revenue_forecast':
      return {
        title: 'Revenue forecast',
        items: [`Next quarter: $${(120 + (h % 60)).toString()}k (±8%)`, 'Driver: repeat customers (+14%)'],
      };
    case 'strategy_analysis':
      return {
        title: 'Strategy analysis',
        items: ['Strength: loyal customer base', 'Risk: one supplier for 60% of stock', 'Next: pilot a subscription tier'],
      };
  }
}
