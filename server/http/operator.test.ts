/**
 * The operator's routes (`/operator/*`, server credential only) on a seeded multi-organization
 * history: members and org owners are refused before the ledger is reached, and every answer
 * equals a computation written here directly against the ledger, the buckets and the grants —
 * not against the rollup the functions read, so a rollup that lagged or miscounted would show.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { describeEachDb, type TestDb } from '../../test/db.ts';
import { createOrg, type SeededOrg } from '../../test/ledger.ts';
import { createApp, expectProblem, fingerprint, jsonOf, storeFor, type App } from '../../test/http/fixture.ts';
import type { ExpiringGrantRow, NearExhaustionRow, OperatorTopRow, SpikeRow } from '../operator/types.ts';

/** The operators look at the history from this moment (the last seeded day, midday). */
const NOW = '2028-01-10T12:00:00Z';
const FIRST_DAY = '2028-01-01';
const DAYS = Array.from({ length: 10 }, (_, i) => `2028-01-${String(i + 1).padStart(2, '0')}`);

/** Deterministic pseudo-random numbers (a small LCG), so a failure can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

interface Charge {
  org: SeededOrg;
  user: string;
  day: string;
  tokenType: string;
  units: number;
  /** A two-phase charge (reserve, then commit `actual` tokens) instead of a deduct. */
  commit?: number;
}

describeEachDb('HTTP operator routes', (getDb) => {
  let db: TestDb;
  let app: App;
  /** pro, pro, enterprise, pro (drained), starter (blocked, no usage). */
  let orgs: SeededOrg[];
  let key = 0;

  async function charge(c: Charge): Promise<void> {
    const store = storeFor(db);
    const now = new Date(`${c.day}T${String(8 + (key % 10)).padStart(2, '0')}:00:00Z`);
    const base = { p_org_id: c.org.orgId, p_user_id: c.user, p_token_type: c.tokenType, p_idempotency_key: `seed-${++key}` };
    if (c.commit === undefined) {
      await store.rpc('deduct', { ...base, p_units: c.units }, { now });
      return;
    }
    const hold = await store.rpc<{ reservationId: string }>('reserve', { ...base, p_estimate: c.units }, { now });
    await store.rpc('commit', { p_org_id: c.org.orgId, p_user_id: c.user, p_reservation_id: hold.reservationId, p_actual: c.commit }, { now });
  }

  beforeAll(async () => {
    db = getDb();
    await db.setNow(`${FIRST_DAY}T00:00:00Z`);
    app = await createApp(db);
    orgs = [
      await createOrg(db, { plan: 'pro', anchor: `${FIRST_DAY}T00:00:00Z`, members: 2 }),
      await createOrg(db, { plan: 'pro', anchor: `${FIRST_DAY}T00:00:00Z`, members: 1 }),
      await createOrg(db, { plan: 'enterprise', anchor: `${FIRST_DAY}T00:00:00Z`, members: 3 }),
      await createOrg(db, { plan: 'pro', anchor: `${FIRST_DAY}T00:00:00Z`, members: 1 }),
      await createOrg(db, { plan: 'starter', anchor: `${FIRST_DAY}T00:00:00Z`, members: 1 }),
    ];
    const [a, b, c, d] = orgs as [SeededOrg, SeededOrg, SeededOrg, SeededOrg];
    const rand = random(13);
    const charges: Charge[] = [];
    for (const day of DAYS) {
      // Everyday usage, within the pro allowances (goal 20, quest 60, lead 100 a month).
      if (rand(2) === 0) charges.push({ org: a, user: a.members[rand(2)]!, day, tokenType: 'quest_generation', units: 1 + rand(2) });
      if (rand(3) === 0) charges.push({ org: b, user: b.members[0]!, day, tokenType: 'goal_generation', units: 1 });
      charges.push({ org: c, user: c.members[rand(3)]!, day, tokenType: 'quest_generation', units: 1 + rand(3) });
      if (day !== '2028-01-10') charges.push({ org: c, user: c.members[rand(3)]!, day, tokenType: 'lead_generation', units: 2 });
      if (rand(2) === 0) charges.push({ org: c, user: c.owner, day, tokenType: 'quest_generation', units: 3, commit: 1 + rand(9) });
    }
    // A drained bucket (pro quest: 60 = 20 uses of 3) and one at 1 of 20 (5%): near exhaustion.
    charges.push({ org: d, user: d.members[0]!, day: '2028-01-05', tokenType: 'quest_generation', units: 20 });
    charges.push({ org: a, user: a.admin, day: '2028-01-06', tokenType: 'goal_generation', units: 19 });
    // Spikes on the 10th: c's lead generation from 4 tokens a day to 200; b's first strategy analyses.
    charges.push({ org: c, user: c.members[0]!, day: '2028-01-10', tokenType: 'lead_generation', units: 100 });
    charges.push({ org: b, user: b.members[0]!, day: '2028-01-10', tokenType: 'strategy_analysis', units: 10 });
    charges.push({ org: a, user: a.members[0]!, day: '2028-01-10', tokenType: 'quest_generation', units: 1 });
    charges.sort((x, y) => x.day.localeCompare(y.day));
    for (const c of charges) await charge(c);
    await db.setNow(NOW);
  });

  /* ───────────────────────────── the direct computations ───────────────────────────── */

  /** Per (type, org): tokens, events and members from the ledger's charges on days [from, to]. */
  async function ledgerUsage(from: string, to: string) {
    return db.query<{ token_type: string; org_id: string; plan_id: string; tokens: number; events: number; members: number }>(
      `select l.token_type_id as token_type, l.org_id::text as org_id, a.plan_id,
              sum(l.charged)::int as tokens, count(*)::int as events,
              count(distinct coalesce(r.user_id, l.user_id))::int as members
       from tokengate.ledger l
       join tokengate.accounts a on a.org_id = l.org_id
       left join tokengate.reservations r on r.id = l.reservation_id
       where l.kind in ('deduct', 'commit') and (l.created_at at time zone 'UTC')::date between $1::date and $2::date
       group by l.token_type_id, l.org_id, a.plan_id`,
      [from, to],
    );
  }

  async function expectedTop(from: string, to: string, tokenType: string | null, limit: number): Promise<OperatorTopRow[]> {
    const rows = (await ledgerUsage(from, to)).filter((r) => tokenType === null || r.token_type === tokenType);
    const types = [...new Set(rows.map((r) => r.token_type))].sort();
    return types.flatMap((type) =>
      rows
        .filter((r) => r.token_type === type)
        .sort((x, y) => y.tokens - x.tokens || (x.org_id < y.org_id ? -1 : 1))
        .slice(0, limit)
        .map((r, i) => ({ tokenType: type, rank: i + 1, orgId: r.org_id, planId: r.plan_id, tokens: r.tokens, events: r.events, members: r.members })),
    );
  }

  const server = { server: true } as const;
  const get = async <T,>(path: string) => jsonOf<T>(await app.request(path, server));

  /* ───────────────────────────── access ───────────────────────────── */

  const ROUTES = ['/operator/top?from=2028-01-01&to=2028-01-10', '/operator/near-exhaustion', '/operator/spikes?day=2028-01-10', '/operator/expiring-grants'];

  it('refuses a member, an org owner and an anonymous caller (401) before reaching the ledger', async () => {
    const before = await fingerprint(db);
    const calls = app.calls.length;
    for (const path of ROUTES) {
      for (const user of [orgs[0]!.members[0]!, orgs[0]!.owner, orgs[2]!.admin]) {
        await expectProblem(await app.request(path, { user }), 'unauthorized');
      }
      await expectProblem(await app.request(path), 'unauthorized');
      await expectProblem(await app.request(path, { headers: { authorization: 'Bearer not-the-service-secret' } }), 'unauthorized');
    }
    expect(app.calls.length).toBe(calls);
    expect(await fingerprint(db)).toEqual(before);
  });

  it('is refused in SQL to members too: a member cannot execute the operator functions', async () => {
    const member = orgs[0]!.members[0]!;
    for (const sql of [
      `select tokengate.operator_top('2028-01-01', '2028-01-10')`,
      'select tokengate.operator_near_exhaustion(10, 10)',
      `select tokengate.operator_spikes('2028-01-10')`,
      'select tokengate.operator_expiring_grants()',
    ]) {
      const error = await db.as({ role: 'authenticated', userId: member }, (q) => q.query(sql)).then(
        () => null,
        (e: { code?: string }) => e.code,
      );
      expect(error, sql).toBe('42501');
    }
  });

  /* ───────────────────────────── top ───────────────────────────── */

  it('top: equals the ranking computed from the ledger, per type, for ranges, one type and limits', async () => {
    const cases: [string, string, string | null, number][] = [
      ['2028-01-01', '2028-01-10', null, 10],
      ['2028-01-01', '2028-01-10', null, 2],
      ['2028-01-03', '2028-01-07', 'quest_generation', 10],
      ['2028-01-10', '2028-01-10', 'lead_generation', 1],
      ['2028-01-01', '2028-01-10', 'revenue_forecast', 5],
    ];
    for (const [from, to, tokenType, limit] of cases) {
      const query = `from=${from}&to=${to}${tokenType ? `&tokenType=${tokenType}` : ''}&limit=${limit}`;
      const expected = await expectedTop(from, to, tokenType, limit);
      expect(await get<OperatorTopRow[]>(`/operator/top?${query}`), query).toEqual(expected);
    }
    // The seeded history is varied enough for the comparison to mean something.
    const all = await expectedTop('2028-01-01', '2028-01-10', null, 10);
    expect(new Set(all.map((r) => r.tokenType)).size).toBeGreaterThanOrEqual(4);
    expect(all.filter((r) => r.tokenType === 'quest_generation').length).toBeGreaterThanOrEqual(3);
    expect(all.find((r) => r.tokenType === 'quest_generation' && r.rank === 1)).toMatchObject({ orgId: orgs[2]!.orgId, planId: 'enterprise', members: 4 });
  });

  it('top: brings the rollup up to date itself (a charge made since is counted)', async () => {
    const before = await get<OperatorTopRow[]>('/operator/top?from=2028-01-10&to=2028-01-10&tokenType=goal_generation');
    const org = orgs[1]!;
    await storeFor(db).rpc('deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: 'goal_generation', p_idempotency_key: `late-${randomUUID()}`, p_units: 2 });
    const after = await get<OperatorTopRow[]>('/operator/top?from=2028-01-10&to=2028-01-10&tokenType=goal_generation');
    const tokens = (rows: OperatorTopRow[]) => rows.find((r) => r.orgId === org.orgId)?.tokens ?? 0;
    expect(tokens(after)).toBe(tokens(before) + 2);
    expect(after).toEqual(await expectedTop('2028-01-10', '2028-01-10', 'goal_generation', 10));
  });

  it('top: refuses bad queries (400) and unknown token types (404), writing nothing', async () => {
    const before = await fingerprint(db);
    const bad: [string, string][] = [
      ['/operator/top?to=2028-01-10', 'query.from'],
      ['/operator/top?from=2028-01-10&to=2028-01-01', 'query.to'],
      ['/operator/top?from=2027-01-01&to=2028-01-10', 'query.to'],
      ['/operator/top?from=2028-01-01&to=2028-01-10&limit=0', 'query.limit'],
      ['/operator/top?from=2028-01-01&to=2028-01-10&limit=1001', 'query.limit'],
      ['/operator/top?from=2028-01-01&to=2028-01-10&tokenType=Quest', 'query.tokenType'],
      ['/operator/top?from=2028-01-01&to=2028-01-10&orgId=x', 'query.orgId'],
    ];
    for (const [path, where] of bad) {
      const problem = await expectProblem(await app.request(path, server), 'invalid_request');
      expect(problem.errors?.map((e) => e.path), path).toContain(where);
    }
    await expectProblem(await app.request('/operator/top?from=2028-01-01&to=2028-01-10&tokenType=no_such_type', server), 'unknown_token_type');
    const { usage: _rolledUp, ...rest } = await fingerprint(db);
    const { usage: _before, ...restBefore } = before;
    expect(rest).toEqual(restBefore);
  });

  /* ───────────────────────────── near exhaustion ───────────────────────────── */

  async function expectedNearExhaustion(percent: number, limit: number): Promise<NearExhaustionRow[]> {
    const buckets = await db.query<{
      org_id: string;
      plan_id: string;
      access: string;
      token_type_id: string;
      allowance: number;
      allowance_remaining: number;
      purchased: number;
      held: number;
      shared: number;
      period_end: string;
      current: boolean;
    }>(
      `select b.org_id::text as org_id, a.plan_id, p.access, b.token_type_id, b.allowance, b.allowance_remaining,
              b.purchased_remaining::int as purchased, b.held::int as held,
              coalesce((select s.purchased_remaining from tokengate.buckets s where s.org_id = b.org_id and s.token_type_id = '*'), 0)::int as shared,
              to_json(b.period_end) #>> '{}' as period_end, b.period_end > tokengate.clock() as current
       from tokengate.buckets b join tokengate.accounts a using (org_id) join tokengate.plans p on p.id = a.plan_id
       where b.token_type_id <> '*'`,
    );
    return buckets
      .filter((b) => b.access === 'metered' && b.current)
      .map((b) => ({ ...b, available: b.allowance_remaining + b.purchased + b.shared }))
      .filter((b) => b.available === 0 || b.available / b.allowance < percent / 100)
      .sort((x, y) => {
        const share = (r: typeof x) => (r.allowance === 0 ? -1 : r.available / r.allowance);
        return share(x) - share(y) || x.available - y.available || (x.org_id + x.token_type_id < y.org_id + y.token_type_id ? -1 : 1);
      })
      .slice(0, limit)
      .map((b) => ({
        orgId: b.org_id,
        planId: b.plan_id,
        tokenType: b.token_type_id,
        allowance: b.allowance,
        allowanceRemaining: b.allowance_remaining,
        purchased: b.purchased,
        shared: b.shared,
        held: b.held,
        available: b.available,
        percentLeft: b.allowance === 0 ? null : Math.round((b.available * 1000) / b.allowance) / 10,
        periodEnd: b.period_end,
      }));
  }

  it('near-exhaustion: equals the buckets below the threshold, most exhausted first; never unlimited or blocked plans', async () => {
    for (const [percent, limit] of [[10, 100], [50, 100], [100, 3], [1, 100]] as const) {
      const rows = await get<NearExhaustionRow[]>(`/operator/near-exhaustion?percent=${percent}&limit=${limit}`);
      expect(rows, `percent ${percent}`).toEqual(await expectedNearExhaustion(percent, limit));
    }
    const ten = await get<NearExhaustionRow[]>('/operator/near-exhaustion');
    // Drained: d's quests and b's strategy analyses (100 of 100 on the 10th), by org id; then a's goals at 5%.
    const drained = [
      { orgId: orgs[3]!.orgId, tokenType: 'quest_generation', available: 0, percentLeft: 0, planId: 'pro' },
      { orgId: orgs[1]!.orgId, tokenType: 'strategy_analysis', available: 0, percentLeft: 0, planId: 'pro' },
    ].sort((x, y) => (x.orgId < y.orgId ? -1 : 1));
    expect(ten).toMatchObject([...drained, { orgId: orgs[0]!.orgId, tokenType: 'goal_generation', available: 1, percentLeft: 5 }]);
    const everything = await get<NearExhaustionRow[]>('/operator/near-exhaustion?percent=100&limit=1000');
    expect(everything.some((r) => r.orgId === orgs[2]!.orgId || r.orgId === orgs[4]!.orgId)).toBe(false);
    const problem = await expectProblem(await app.request('/operator/near-exhaustion?percent=101', server), 'invalid_request');
    expect(problem.errors).toEqual([{ path: 'query.percent', message: 'must be at most 100' }]);
  });

  /* ───────────────────────────── spikes ───────────────────────────── */

  async function expectedSpikes(day: string, windowDays: number, factor: number, minTokens: number): Promise<SpikeRow[]> {
    const daily = await db.query<{ org_id: string; plan_id: string; token_type: string; day: string; tokens: number }>(
      `select l.org_id::text as org_id, a.plan_id, l.token_type_id as token_type,
              ((l.created_at at time zone 'UTC')::date)::text as day, sum(l.charged)::int as tokens
       from tokengate.ledger l join tokengate.accounts a on a.org_id = l.org_id
       where l.kind in ('deduct', 'commit')
       group by 1, 2, 3, 4`,
    );
    const dayMs = Date.parse(day);
    const rows: (SpikeRow & { average: number })[] = [];
    for (const today of daily.filter((r) => r.day === day && r.tokens >= Math.max(minTokens, 1))) {
      const total = daily
        .filter((r) => r.org_id === today.org_id && r.token_type === today.token_type)
        .filter((r) => Date.parse(r.day) < dayMs && Date.parse(r.day) >= dayMs - windowDays * 86_400_000)
        .reduce((sum, r) => sum + r.tokens, 0);
      const average = total / windowDays;
      if (today.tokens <= factor * average) continue;
      rows.push({
        orgId: today.org_id,
        planId: today.plan_id,
        tokenType: today.token_type,
        day,
        tokens: today.tokens,
        trailingAverage: Math.round(average * 100) / 100,
        ratio: average === 0 ? null : Math.round((today.tokens / average) * 100) / 100,
        average,
      });
    }
    return rows
      .sort((x, y) => (x.average === 0 ? 0 : 1) - (y.average === 0 ? 0 : 1) || y.tokens / y.average - x.tokens / x.average || y.tokens - x.tokens || (x.orgId + x.tokenType < y.orgId + y.tokenType ? -1 : 1))
      .map(({ average: _average, ...row }) => row);
  }

  it('spikes: equals the day against each organization’s own trailing average, computed from the ledger', async () => {
    const cases: [string, number, number, number][] = [
      ['2028-01-10', 7, 3, 100],
      ['2028-01-10', 3, 1.5, 1],
      ['2028-01-05', 4, 1, 0],
      ['2028-01-06', 7, 2, 10],
    ];
    for (const [day, windowDays, factor, minTokens] of cases) {
      const rows = await get<SpikeRow[]>(`/operator/spikes?day=${day}&windowDays=${windowDays}&factor=${factor}&minTokens=${minTokens}`);
      expect(rows, `${day} ${windowDays} ${factor} ${minTokens}`).toEqual(await expectedSpikes(day, windowDays, factor, minTokens));
    }
    // The seeded abuse: b's first strategy analyses (from nothing) first, then c's lead generation ×50.
    const defaults = await get<SpikeRow[]>('/operator/spikes?day=2028-01-10');
    expect(defaults).toEqual([
      { orgId: orgs[1]!.orgId, planId: 'pro', tokenType: 'strategy_analysis', day: '2028-01-10', tokens: 100, trailingAverage: 0, ratio: null },
      { orgId: orgs[2]!.orgId, planId: 'enterprise', tokenType: 'lead_generation', day: '2028-01-10', tokens: 200, trailingAverage: 4, ratio: 50 },
    ]);
    for (const query of ['day=2028-1-10', 'day=2028-01-10&factor=0.5', 'day=2028-01-10&factor=abc', 'day=2028-01-10&windowDays=91']) {
      await expectProblem(await app.request(`/operator/spikes?${query}`, server), 'invalid_request');
    }
  });

  /* ───────────────────────────── expiring grants ───────────────────────────── */

  it('expiring-grants: equals the active grants with tokens left expiring within the window, soonest first', async () => {
    const [a, b, c, d] = orgs as [SeededOrg, SeededOrg, SeededOrg, SeededOrg];
    const hour = 3_600_000;
    const at = (offsetHours: number) => new Date(Date.parse(NOW) + offsetHours * hour).toISOString();
    // Grants as the ledger stores them (the grant functions are tested in their own suites; this
    // reads the table): [org, type, source, amount, remaining, status, expires (hours from now) | null].
    const grants: [SeededOrg, string, string, number, number, string, number | null][] = [
      [a, 'quest_generation', 'promo', 100, 40, 'active', 48],
      [b, 'goal_generation', 'purchase', 50, 50, 'active', 24 * 10],
      [c, 'lead_generation', 'promo', 10, 5, 'active', -1],
      [d, 'quest_generation', 'purchase', 30, 0, 'active', 24],
      [d, 'quest_generation', 'purchase', 30, 0, 'expired', 12],
      [a, 'goal_generation', 'adjustment', 20, 20, 'active', null],
      [c, 'quest_generation', 'purchase', 500, 120, 'active', 24 * 6],
      [b, 'goal_generation', 'promo', 5, 5, 'active', 2],
    ];
    for (const [org, type, source, amount, remaining, status, expires] of grants) {
      await db.query(
        `insert into tokengate.grants (org_id, token_type_id, source, amount, remaining, status, effective_at, expires_at, created_at, ended_at)
         values ($1, $2, $3, $4, $5, $6::text, $7::timestamptz - interval '30 days', $8, $7::timestamptz - interval '30 days',
                 case when $6::text = 'active' then null else $7::timestamptz end)`,
        [org.orgId, type, source, amount, remaining, status, NOW, expires === null ? null : at(expires)],
      );
    }
    const expected = async (withinDays: number, limit: number) =>
      (
        await db.query<ExpiringGrantRow & Record<string, unknown>>(
          `select g.id::text as "grantId", g.org_id::text as "orgId", a.plan_id as "planId", g.token_type_id as "tokenType",
                  g.source, g.amount::int as amount, g.remaining::int as remaining, g.priority::int as priority,
                  to_json(g.expires_at) #>> '{}' as "expiresAt", g.expires_at <= $3::timestamptz as overdue,
                  to_json(g.created_at) #>> '{}' as "createdAt"
           from tokengate.grants g join tokengate.accounts a on a.org_id = g.org_id
           where g.status = 'active' and g.remaining > 0 and g.expires_at <= $3::timestamptz + make_interval(days => $1)
           order by g.expires_at, g.org_id, g.id limit $2`,
          [withinDays, limit, NOW],
        )
      ).map((r) => ({ ...r }));
    for (const [withinDays, limit] of [[7, 100], [1, 100], [30, 2], [366, 1000]] as const) {
      const rows = await get<ExpiringGrantRow[]>(`/operator/expiring-grants?withinDays=${withinDays}&limit=${limit}`);
      expect(rows, `${withinDays} days`).toEqual(await expected(withinDays, limit));
    }
    const week = await get<ExpiringGrantRow[]>('/operator/expiring-grants');
    expect(week.map((g) => [g.orgId, g.tokenType, g.remaining, g.overdue])).toEqual([
      [c.orgId, 'lead_generation', 5, true],
      [b.orgId, 'goal_generation', 5, false],
      [a.orgId, 'quest_generation', 40, false],
      [c.orgId, 'quest_generation', 120, false],
    ]);
    await expectProblem(await app.request('/operator/expiring-grants?withinDays=0', server), 'invalid_request');
    await expectProblem(await app.request('/operator/expiring-grants?withinDays=367', server), 'invalid_request');
  });
});
