/**
 * `tokengate top` and `tokengate orgs --near-exhaustion | --spikes | --expiring-grants`, run
 * in-process against a migrated database on the Postgres server (they connect as service_role, as
 * the built CLI does): aligned tables whose rows are the operator functions' answers, and argument
 * mistakes refused before any connection.
 */
import { beforeAll, expect, it } from 'vitest';
import { describeServer, type TestDb } from '../db.ts';
import { createOrg, type SeededOrg } from '../ledger.ts';
import { storeFor } from '../http/fixture.ts';
import { UsageError, type Io } from '../../cli/errors.ts';
import { orgs, table, top } from '../../cli/operator.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (line) => out.push(line), err: (line) => err.push(line) };
  return { io, out, err };
}

it('table aligns columns two spaces apart, numbers to the right', () => {
  expect(table(['name', 'n'], [['a', '5'], ['bbb', '120']], [1])).toEqual(['name    n', 'a       5', 'bbb   120']);
});

describeServer('tokengate top / orgs (operators)', (getDb) => {
  let db: TestDb;
  let env: NodeJS.ProcessEnv;
  let a: SeededOrg;
  let b: SeededOrg;

  beforeAll(async () => {
    db = getDb();
    env = { DATABASE_URL: db.url! };
    await db.setNow('2028-03-01T00:00:00Z');
    a = await createOrg(db, { plan: 'pro', anchor: '2028-03-01T00:00:00Z' });
    b = await createOrg(db, { plan: 'enterprise', anchor: '2028-03-01T00:00:00Z' });
    const store = storeFor(db);
    let key = 0;
    const deduct = (org: SeededOrg, type: string, units: number, day: string) =>
      store.rpc('deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: type, p_idempotency_key: `k${++key}`, p_units: units }, { now: new Date(`${day}T10:00:00Z`) });
    for (const day of ['2028-03-01', '2028-03-02', '2028-03-03']) {
      await deduct(a, 'quest_generation', 2, day);
      await deduct(b, 'quest_generation', 1, day);
      await deduct(b, 'lead_generation', 1, day);
    }
    await deduct(a, 'quest_generation', 14, '2028-03-04'); // 60 of 60: drained
    await deduct(b, 'lead_generation', 200, '2028-03-04'); // 400 tokens against 2 a day
    await db.setNow('2028-03-04T12:00:00Z');
  });

  it('top prints the ranking per type as an aligned table', async () => {
    const { io, out } = capture();
    expect(await top(['--from', '2028-03-01', '--to', '2028-03-04'], io, env)).toBe(0);
    expect(out.slice(0, 2)).toEqual(['Top organizations by tokens charged, 2028-03-01 to 2028-03-04 (UTC):', '']);
    const [header, ...rows] = out.slice(2);
    expect(header).toMatch(/^token type\s+rank\s+org id\s+plan\s+tokens\s+charges\s+members$/);
    expect(rows.map((r) => r.split(/\s+/))).toEqual([
      ['lead_generation', '1', b.orgId, 'enterprise', '406', '4', '1'],
      ['quest_generation', '1', a.orgId, 'pro', '60', '4', '1'],
      ['quest_generation', '2', b.orgId, 'enterprise', '9', '3', '1'],
    ]);
    // Aligned: every row as long as the header's columns allow, numbers right-aligned under their header.
    const tokensEnd = header!.indexOf('tokens') + 'tokens'.length;
    for (const row of rows) expect(row[tokensEnd - 1], row).toMatch(/\d/);

    const one = capture();
    expect(await top(['--from', '2028-03-01', '--to', '2028-03-04', '--type', 'quest_generation', '--limit', '1'], one.io, env)).toBe(0);
    expect(one.out.slice(3).map((r) => r.split(/\s+/)[2])).toEqual([a.orgId]);

    const none = capture();
    expect(await top(['--from', '2027-01-01', '--to', '2027-01-31'], none.io, env)).toBe(0);
    expect(none.out.at(-1)).toBe('No usage in this range.');
  });

  it('orgs --near-exhaustion, --spikes and --expiring-grants print their tables', async () => {
    const low = capture();
    expect(await orgs(['--near-exhaustion', '--percent', '10'], low.io, env)).toBe(0);
    expect(low.out[2]).toMatch(/^org id\s+plan\s+token type\s+available\s+allowance\s+left\s+purchased\s+held\s+period ends$/);
    expect(low.out.slice(3).map((r) => r.split(/\s+/))).toEqual([[a.orgId, 'pro', 'quest_generation', '0', '60', '0%', '0', '0', '2028-04-01T00:00:00Z']]);

    const spikes = capture();
    expect(await orgs(['--spikes', '--day', '2028-03-04', '--window', '3'], spikes.io, env)).toBe(0);
    expect(spikes.out.slice(3).map((r) => r.split(/\s+/))).toEqual([[b.orgId, 'enterprise', 'lead_generation', '400', '2', '200×']]);

    await db.query(
      `insert into tokengate.grants (org_id, token_type_id, source, amount, remaining, status, effective_at, expires_at, created_at)
       values ($1, 'quest_generation', 'promo', 10, 7, 'active', '2028-03-01', '2028-03-06T00:00:00Z', '2028-03-01')`,
      [a.orgId],
    );
    const grants = capture();
    expect(await orgs(['--expiring-grants', '--within-days', '3'], grants.io, env)).toBe(0);
    const row = grants.out[3]!.split(/\s+/);
    expect(row.slice(0, 7)).toEqual(['2028-03-06T00:00:00Z', a.orgId, 'pro', 'quest_generation', '7', '10', 'promo']);
    const soon = capture();
    expect(await orgs(['--expiring-grants', '--within-days', '1'], soon.io, env)).toBe(0);
    expect(soon.out.at(-1)).toBe('None.');
  });

  it('refuses wrong arguments with a UsageError before connecting', async () => {
    const unreachable = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unreachable' };
    const cases: [typeof top, string[]][] = [
      [top, ['--from', '2028-03-05', '--to', '2028-03-01']],
      [top, ['--from', '2026-01-01', '--to', '2028-03-01']],
      [top, ['--limit', '0']],
      [top, ['--to', '2028-02-30']],
      [orgs, []],
      [orgs, ['--spikes', '--near-exhaustion']],
      [orgs, ['--spikes', '--percent', '5']],
      [orgs, ['--near-exhaustion', '--percent', '0']],
      [orgs, ['--spikes', '--factor', 'lots']],
      [orgs, ['--spikes', '--limit', '5']],
      [orgs, ['--expiring-grants', '--within-days', '400']],
    ];
    for (const [command, args] of cases) {
      await expect(command(args, capture().io, unreachable), args.join(' ')).rejects.toThrow(UsageError);
    }
  });
});
