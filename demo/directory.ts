/**
 * The demo's people and organizations: fixed ids so links, tests and screenshots are stable.
 * Demo-only: a real app gets its users from Supabase Auth and its organizations from its own tables.
 */

/** A seeded person. */
export interface DemoUser {
  id: string;
  name: string;
  role: 'owner' | 'admin' | 'member';
}

/** A seeded organization on one plan. */
export interface DemoOrg {
  /** Short name used in URLs (`?org=pro`). */
  slug: 'starter' | 'pro' | 'enterprise';
  id: string;
  name: string;
  planId: 'starter' | 'pro' | 'enterprise';
  members: DemoUser[];
}

const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

/** The three organizations of the playground, each with an owner, an admin and two members. */
export const DEMO_ORGS: readonly DemoOrg[] = [
  {
    slug: 'starter',
    id: uuid(0x100),
    name: 'Northwind Bakery',
    planId: 'starter',
    members: [
      { id: uuid(0x101), name: 'Nora Owens', role: 'owner' },
      { id: uuid(0x102), name: 'Sam Adler', role: 'admin' },
      { id: uuid(0x103), name: 'Priya Shah', role: 'member' },
    ],
  },
  {
    slug: 'pro',
    id: uuid(0x200),
    name: 'Globex Consulting',
    planId: 'pro',
    members: [
      { id: uuid(0x201), name: 'Grace Hopper', role: 'owner' },
      { id: uuid(0x202), name: 'Alan Turing', role: 'admin' },
      { id: uuid(0x203), name: 'Ada Lovelace', role: 'member' },
      { id: uuid(0x204), name: 'Linus Pauling', role: 'member' },
    ],
  },
  {
    slug: 'enterprise',
    id: uuid(0x300),
    name: 'Initech Holdings',
    planId: 'enterprise',
    members: [
      { id: uuid(0x301), name: 'Bill Lumbergh', role: 'owner' },
      { id: uuid(0x302), name: 'Joanna Dyer', role: 'admin' },
      { id: uuid(0x303), name: 'Peter Gibbons', role: 'member' },
      { id: uuid(0x304), name: 'Milton Waddams', role: 'member' },
    ],
  },
];

/** Every seeded user, by id. */
export const DEMO_USERS: ReadonlyMap<string, DemoUser & { org: DemoOrg }> = new Map(
  DEMO_ORGS.flatMap((org) => org.members.map((m) => [m.id, { ...m, org }] as const)),
);

/** The five AI features of the original spec, in display order. */
export const AI_FEATURES = ['quest_generation', 'goal_generation', 'lead_generation', 'revenue_forecast', 'strategy_analysis'] as const;

/** One of the five AI features. */
export type AiFeature = (typeof AI_FEATURES)[number];
