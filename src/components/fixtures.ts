import type { Balances, Grant, Stats, TokenBalance } from '../core/types.ts';

/**
 * Fixture data matching `src/core/types.ts`, for component tests and Storybook stories. Dates sit
 * around {@link FIXTURE_NOW} so "refreshes in N days" is deterministic.
 */

/** The "current time" the fixtures are built around: 12 days before the period refreshes. */
export const FIXTURE_NOW = new Date('2026-11-26T12:00:00Z');

const period = { periodStart: '2026-11-08T00:00:00Z', refreshesAt: '2026-12-08T00:00:00Z' };

/** A metered balance; override any field. `available` is derived unless given. */
export function balance(overrides: Partial<TokenBalance> = {}): TokenBalance {
  const b: TokenBalance = {
    tokenType: 'quest_generation',
    name: 'Quest generation',
    cost: 5,
    access: 'metered',
    unlimited: false,
    blocked: false,
    allowance: 500,
    allowanceRemaining: 380,
    purchased: 0,
    held: 0,
    used: 120,
    available: 380,
    ...period,
    ...overrides,
  };
  if (!('available' in overrides)) b.available = b.unlimited ? null : b.allowanceRemaining + b.purchased;
  return b;
}

function balances(plan: Balances['plan'], tokenTypes: TokenBalance[], quotas: Balances['member']['quotas'] = []): Balances {
  return {
    orgId: 'org_fixture',
    plan,
    periodAnchor: '2026-01-08',
    tokenTypes,
    member: { userId: 'user_ada', role: 'owner', quotas },
  };
}

const pro = { id: 'pro', name: 'Pro', access: 'metered' } as const;

/** Pro, partly used: 120 of 500 quest tokens, 30 of 200 image tokens, a member quota. */
export const proBalances: Balances = balances(
  pro,
  [
    balance(),
    balance({ tokenType: 'image_generation', name: 'Image generation', cost: 10, allowance: 200, allowanceRemaining: 170, used: 30 }),
  ],
  [{ tokenType: 'quest_generation', quota: 200, spent: 60 }],
);

/** Pro, low: 60 of 500 left (12 %). */
export const lowBalances: Balances = balances(pro, [balance({ allowanceRemaining: 60, used: 440 })]);

/** Pro, exhausted: nothing left. */
export const exhaustedBalances: Balances = balances(pro, [balance({ allowanceRemaining: 0, used: 500 })]);

/** Pro with purchased top-up tokens and tokens held by running actions. */
export const purchasedHeldBalances: Balances = balances(pro, [
  balance({ allowanceRemaining: 100, used: 360, held: 40, purchased: 250 }),
]);

/** Enterprise: unlimited. */
export const enterpriseBalances: Balances = balances({ id: 'enterprise', name: 'Enterprise', access: 'unlimited' }, [
  balance({ access: 'unlimited', unlimited: true, allowance: 0, allowanceRemaining: 0, used: 1834, available: null }),
]);

/** Starter: AI features not in the plan. */
export const starterBalances: Balances = balances({ id: 'starter', name: 'Starter', access: 'blocked' }, [
  balance({ access: 'blocked', blocked: true, allowance: 0, allowanceRemaining: 0, used: 0, available: 0 }),
]);

/** A metered type whose plan grants no allowance: only purchased tokens (must not divide by 0). */
export const zeroAllowanceBalances: Balances = balances(pro, [
  balance({ allowance: 0, allowanceRemaining: 0, used: 0, purchased: 0 }),
]);

/** An organization with no token types. */
export const noTokenTypesBalances: Balances = balances(pro, []);

const DAYS = ['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23', '2026-11-24', '2026-11-25', '2026-11-26'];
const questPerDay = [10, 25, 0, 30, 15, 20, 20];
const imagePerDay = [0, 10, 0, 10, 0, 0, 10];

/** Seven days of usage across two types and two members, with a forecast that runs out early. */
export const proStats: Stats = {
  orgId: 'org_fixture',
  from: DAYS[0]!,
  to: DAYS[DAYS.length - 1]!,
  totals: { tokens: 150, events: 27 },
  byType: [
    { tokenType: 'quest_generation', tokens: 120, events: 24 },
    { tokenType: 'image_generation', tokens: 30, events: 3 },
  ],
  byDay: DAYS.flatMap((day, i) => [
    ...(questPerDay[i] ? [{ day, tokenType: 'quest_generation', tokens: questPerDay[i]!, events: questPerDay[i]! / 5 }] : []),
    ...(imagePerDay[i] ? [{ day, tokenType: 'image_generation', tokens: imagePerDay[i]!, events: imagePerDay[i]! / 10 }] : []),
  ]),
  byMember: [
    { userId: 'user_ada', tokens: 90, events: 16 },
    { userId: 'user_grace', tokens: 60, events: 11 },
  ],
  forecast: [
    {
      tokenType: 'quest_generation',
      available: 380,
      burnPerDay: 40,
      runsOutOn: '2026-12-05',
      refreshesOn: '2026-12-08',
      runsOutBeforeRefresh: true,
    },
    {
      tokenType: 'image_generation',
      available: 170,
      burnPerDay: 4.3,
      runsOutOn: null,
      refreshesOn: '2026-12-08',
      runsOutBeforeRefresh: false,
    },
  ],
};

/** A range with no usage at all. */
export const emptyStats: Stats = {
  orgId: 'org_fixture',
  from: DAYS[0]!,
  to: DAYS[DAYS.length - 1]!,
  totals: { tokens: 0, events: 0 },
  byType: [],
  byDay: [],
  byMember: [],
  forecast: [],
};

/** A grant of quest tokens; override any field. */
export function grant(overrides: Partial<Grant> = {}): Grant {
  return {
    grantId: '00000000-0000-4000-8000-000000000001',
    tokenType: 'quest_generation',
    source: 'purchase',
    amount: 100,
    remaining: 100,
    priority: 50,
    effectiveAt: '2026-11-01T00:00:00Z',
    expiresAt: null,
    status: 'active',
    expired: 0,
    clawedBack: 0,
    clawbackShortfall: 0,
    forfeited: 0,
    createdAt: '2026-11-01T00:00:00Z',
    endedAt: null,
    metadata: {},
    ...overrides,
  };
}

/**
 * The 250 purchased quest tokens of {@link purchasedHeldBalances}, listed out of burn order: a
 * never-expiring adjustment (50), a top-up that expires in a year (150 of 200 left), a promotion
 * that expires in 2 days (50 of 100 left), and a scheduled plan grant (not spendable yet).
 */
export const purchasedGrants: Grant[] = [
  grant({ grantId: '00000000-0000-4000-8000-00000000000a', source: 'adjustment', amount: 50, remaining: 50 }),
  grant({ grantId: '00000000-0000-4000-8000-00000000000b', source: 'purchase', amount: 200, remaining: 150, expiresAt: '2027-11-26T12:00:00Z' }),
  grant({ grantId: '00000000-0000-4000-8000-00000000000c', source: 'promo', amount: 100, remaining: 50, expiresAt: '2026-11-28T12:00:00Z', priority: 10 }),
  grant({
    grantId: '00000000-0000-4000-8000-00000000000d',
    source: 'plan',
    amount: 500,
    remaining: 500,
    status: 'scheduled',
    effectiveAt: '2026-12-08T00:00:00Z',
    expiresAt: '2027-01-08T00:00:00Z',
  }),
];

/**
 * {@link purchasedHeldBalances}' quest tokens spent at 40 a day: the server's forecast counts all
 * 350 available (Dec 5), but the promotion's 50 expire before the allowance is used up.
 */
export const purchasedStats: Stats = {
  ...proStats,
  forecast: [
    { tokenType: 'quest_generation', available: 350, burnPerDay: 40, runsOutOn: '2026-12-05', refreshesOn: '2026-12-08', runsOutBeforeRefresh: true },
  ],
};
