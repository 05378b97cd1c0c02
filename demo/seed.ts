/**
 * Seeds the playground: the three organizations and a month of plausible usage, written through
 * the real gate with its clock moved back in time (`createTokenGate({ now })`), so every entry is
 * a genuine ledger entry and the ledger reconciles.
 */
import { createTokenGate } from '../server/gate.ts';
import type { TokenStore } from '../server/store.ts';
import { DEMO_ORGS, type AiFeature, type DemoOrg } from './directory.ts';

const DAY = 86_400_000;

/** Uses per token type in the 30-day window: before and after the current period began. */
type Plan = Record<AiFeature, [before: number, current: number]>;

const USAGE: Partial<Record<DemoOrg['slug'], Plan>> = {
  // Pro allowances per month: quests 60 (3 each), goals 20, leads 100 (2 each), forecasts 50 (5 each),
  // strategy 100 (10 each). The current period leaves 12 quest tokens: four more quests.
  pro: {
    quest_generation: [9, 16],
    goal_generation: [7, 13],
    lead_generation: [18, 34],
    revenue_forecast: [4, 7],
    strategy_analysis: [3, 6],
  },
  enterprise: {
    quest_generation: [25, 48],
    goal_generation: [20, 35],
    lead_generation: [40, 70],
    revenue_forecast: [10, 18],
    strategy_analysis: [8, 15],
  },
};

/** A small deterministic PRNG (mulberry32): the same history on every install. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The current period's start (about 20 days ago, on a day of the month ≤ 28 so "one month earlier"
 * needs no clamping) and the subscription anchor one month before it.
 */
export function seedPeriods(now: Date): { anchor: Date; currentStart: Date } {
  let start = new Date(Math.floor((now.getTime() - 20 * DAY) / DAY) * DAY + 8 * 3_600_000);
  while (start.getUTCDate() > 28) start = new Date(start.getTime() - DAY);
  const anchor = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() - 1, start.getUTCDate(), 8));
  return { anchor, currentStart: start };
}

/**
 * Create the demo organizations and their history. Idempotent: an organization that already has
 * an account is left as it is (its history is only written when its account is created now).
 * Throws if the ledger does not reconcile afterwards.
 *
 * @returns how many usage events were written.
 */
export async function seedDemo(store: TokenStore, now = new Date()): Promise<number> {
  let clock = now;
  const gate = createTokenGate({ store, now: () => clock });
  const { anchor, currentStart } = seedPeriods(now);
  const windowStart = new Date(now.getTime() - 30 * DAY);
  const windowEnd = new Date(now.getTime() - 30 * 60_000);

  const events: { at: Date; org: DemoOrg; type: AiFeature; userId: string; key: string }[] = [];
  const createdOrgs: DemoOrg[] = [];
  for (const org of DEMO_ORGS) {
    clock = new Date(anchor.getTime() + 60_000);
    const owner = org.members.find((m) => m.role === 'owner')!;
    const { created } = await gate.createAccount({ orgId: org.id, planId: org.planId, ownerId: owner.id, periodAnchor: anchor });
    for (const m of org.members) if (m.role !== 'owner') await gate.addMember({ orgId: org.id, actorId: owner.id }, m.id, m.role);
    const usage = USAGE[org.slug];
    if (created) createdOrgs.push(org);
    if (!created || !usage) continue;
    const rand = random(org.id.charCodeAt(org.id.length - 3) * 7919);
    for (const [type, counts] of Object.entries(usage) as [AiFeature, [number, number]][]) {
      const spans: [Date, Date, number][] = [
        [windowStart, currentStart, counts[0]],
        [currentStart, windowEnd, counts[1]],
      ];
      spans.forEach(([from, to, n], span) => {
        const slot = (to.getTime() - from.getTime()) / n;
        for (let i = 0; i < n; i++) {
          // Spread evenly, with jitter inside the slot; weekdays busier is not worth the code.
          const at = new Date(from.getTime() + slot * (i + 0.1 + 0.8 * rand()));
          const userId = org.members[Math.floor(rand() * org.members.length)]!.id;
          events.push({ at, org, type, userId, key: `demo-seed-${org.slug}-${type}-${span}-${i}` });
        }
      });
    }
  }
  events.sort((a, b) => a.at.getTime() - b.at.getTime());
  for (const e of events) {
    clock = e.at;
    await gate.deduct({ orgId: e.org.id, userId: e.userId }, e.type, { idempotencyKey: e.key, metadata: { source: 'demo-seed' } });
  }
  // Grants on the Pro organization's leads: a pack bought ten days ago (valid a year) and a promo
  // that expires in five days and is spent first — the dashboard lists both in the burn order.
  const pro = createdOrgs.find((o) => o.slug === 'pro');
  if (pro) {
    const server = { orgId: pro.id, actorId: null };
    clock = new Date(now.getTime() - 10 * DAY);
    await gate.grant(server, 'lead_generation', {
      amount: 40, idempotencyKey: 'demo-seed-pro-leads-pack', expiresAt: new Date(now.getTime() + 355 * DAY), metadata: { source: 'demo-seed' },
    });
    clock = new Date(now.getTime() - 2 * DAY);
    await gate.grant(server, 'lead_generation', {
      amount: 20, idempotencyKey: 'demo-seed-pro-leads-promo', source: 'promo', priority: 10,
      expiresAt: new Date(now.getTime() + 5 * DAY), metadata: { source: 'demo-seed', campaign: 'welcome' },
    });
  }
  clock = now;
  // The history's alerts (refreshes, low balances) went out when they happened: mark them
  // delivered, so the Events panel shows what happens from now on.
  for (let batch = await gate.claimAlerts({ limit: 1000 }); batch.length > 0; batch = await gate.claimAlerts({ limit: 1000 })) {
    for (const alert of batch) await gate.recordDelivery(alert.alertId, { ok: true, status: 204, error: null });
  }
  const problems = await gate.verifyLedger();
  if (problems.length > 0) throw new Error(`demo seed: the ledger does not reconcile: ${JSON.stringify(problems).slice(0, 2000)}`);
  return events.length;
}
