import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPglite, type TestDb } from '../../test/db.ts';
import { call, createOrg, type SeededOrg } from '../../test/ledger.ts';
import { createApp, expectProblem, type App } from '../../test/http/fixture.ts';
import { CSV_COLUMNS, csvField, csvRow } from './usage-export.ts';

describe('csvField / csvRow', () => {
  it('quotes only what needs quoting, doubling quotes', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(-3)).toBe('-3');
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(parseCsv(csvField('x,"y"\r\nz') + '\r\n')).toEqual([['x,"y"\r\nz']]);
  });

  it('writes one CRLF line per entry with metadata as a JSON column', () => {
    const line = csvRow({
      id: 7,
      createdAt: '2028-01-10T12:00:00+00:00',
      kind: 'deduct',
      tokenType: 'goal_generation',
      userId: null,
      amount: -1,
      charged: 1,
      allowanceAfter: 19,
      purchasedAfter: 0,
      heldAfter: 0,
      reservationId: null,
      metadata: { note: 'a "b", c' },
    });
    expect(line).toBe('7,2028-01-10T12:00:00+00:00,deduct,goal_generation,,-1,1,19,0,0,,"{""note"":""a \\""b\\"", c""}"\r\n');
    expect(JSON.parse(parseCsv(line)[0]![11]!)).toEqual({ note: 'a "b", c' });
  });
});

describe('GET usage.csv / usage.json: streamed exports [pglite]', () => {
  const N = 5000;
  const PAGE = 100;
  let db: TestDb;
  let app: App;
  let org: SeededOrg;
  let failExportAt = 0;
  /** Pages requested so far (counted when the call starts, so read-ahead shows). */
  let started = 0;
  const exportCalls = () => started;
  const at = (path: string) => `/orgs/${org.orgId}${path}`;

  beforeAll(async () => {
    db = await freshPglite();
    app = await createApp(db, {
      exportPageSize: PAGE,
      hooks: {
        before: async (fn) => {
          if (fn !== 'usage_export') return;
          started++;
          if (failExportAt > 0 && started === failExportAt) throw new Error('connection lost mid-export');
        },
      },
    });
    org = await createOrg(db, { plan: 'enterprise', anchor: '2028-01-01T00:00:00Z' });
    // Outside the range: must not be exported.
    await db.setNow('2027-12-31T23:59:59Z');
    await call(db, 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 1, p_idempotency_key: 'early' });
    await db.setNow('2028-01-10T12:00:00Z');
    await call(db, 'deduct', { p_org_id: org.orgId, p_user_id: org.members[0], p_token_type: 'goal_generation', p_idempotency_key: 'first' });
    // The export only reads ledger rows, so the bulk of them is appended in one statement (5,000
    // API calls would take most of a minute on PGlite): the same columns `_append` writes for an
    // unlimited deduct, one second apart.
    await db.query(
      `insert into tokengate.ledger (org_id, token_type_id, kind, allowance_delta, purchased_delta, held_delta, charged,
                                     allowance_after, purchased_after, held_after, period_start, user_id, idempotency_key, metadata, created_at)
       select $1, 'goal_generation', 'deduct', 0, 0, 0, 1, 0, 0, 0, '2028-01-01T00:00:00Z', $2, 'bulk-' || g,
              jsonb_build_object('i', g, 'units', 1), timestamptz '2028-01-10T12:00:00Z' + g * interval '1 second'
       from generate_series(1, ${N - 1}) g`,
      [org.orgId, org.members[0]],
    );
    await call(db, 'deduct', {
      p_org_id: org.orgId,
      p_user_id: org.owner,
      p_token_type: 'quest_generation',
      p_idempotency_key: 'tricky',
      p_metadata: { note: 'say "hi",\r\nthen, bye', emoji: '🪙' },
    });
    await db.setNow('2028-02-01T00:00:00Z');
    await call(db, 'grant_tokens', { p_org_id: org.orgId, p_actor_id: null, p_token_type: 'goal_generation', p_amount: 1, p_idempotency_key: 'late' });
  }, 120_000);
  afterAll(async () => db?.close());

  /** The ledger rows the export must contain, straight from SQL. */
  async function expected() {
    const rows = await db.query<{ id: number; charged: number }>(
      `select id, charged from tokengate.ledger where org_id = $1 and created_at >= '2028-01-01' and created_at < '2028-02-01' order by id`,
      [org.orgId],
    );
    return rows;
  }

  it('streams CSV page by page: the first chunk arrives before the other pages are read', async () => {
    const rows = await expected();
    expect(rows.length).toBeGreaterThan(N);
    const pages = Math.floor(rows.length / PAGE) + 1;

    const before = exportCalls();
    const res = await app.request(at('/usage.csv?from=2028-01-01&to=2028-01-31'), { user: org.members[0] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="usage-${org.orgId}-2028-01-01-2028-01-31.csv"`);
    expect(exportCalls() - before).toBe(1);

    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(decoder.decode(first.value, { stream: true }).startsWith(CSV_COLUMNS.join(',') + '\r\n')).toBe(true);
    expect(exportCalls() - before).toBe(1); // one page read, `pages` to go: nothing buffered ahead
    const second = await reader.read();
    expect(second.done).toBe(false);
    expect(exportCalls() - before).toBe(2);

    let text = decoder.decode(first.value) + decoder.decode(second.value, { stream: true });
    let chunks = 2;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks++;
      text += decoder.decode(value, { stream: true });
    }
    text += decoder.decode();
    expect(exportCalls() - before).toBe(pages);
    expect(chunks).toBeGreaterThanOrEqual(pages - 1);

    const [header, ...lines] = parseCsv(text);
    expect(header).toEqual([...CSV_COLUMNS]);
    expect(lines.map((l) => Number(l[0]))).toEqual(rows.map((r) => r.id));
    expect(lines.reduce((sum, l) => sum + Number(l[6]), 0)).toBe(rows.reduce((sum, r) => sum + r.charged, 0));
    expect(lines.filter((l) => l[2] === 'deduct' && l[3] === 'goal_generation')).toHaveLength(N);
    const tricky = lines.find((l) => l[3] === 'quest_generation' && l[2] === 'deduct')!;
    expect(JSON.parse(tricky[11]!)).toEqual({ note: 'say "hi",\r\nthen, bye', emoji: '🪙', units: 1 });
    expect(tricky[4]).toBe(org.owner);
    expect(JSON.parse(lines.find((l) => l[2] === 'deduct' && l[4] === org.members[0])![11]!)).toMatchObject({ units: 1 });
  });

  it('streams JSON with the same entries', async () => {
    const rows = await expected();
    const res = await app.request(at('/usage.json?from=2028-01-01&to=2028-01-31'), { user: org.owner });
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = JSON.parse(await res.text());
    expect(body).toMatchObject({ orgId: org.orgId, from: '2028-01-01', to: '2028-01-31' });
    expect(body.entries.map((e: { id: number }) => e.id)).toEqual(rows.map((r) => r.id));
    expect(Object.keys(body.entries[0]).sort()).toEqual(
      ['allowanceAfter', 'amount', 'charged', 'createdAt', 'heldAfter', 'id', 'kind', 'metadata', 'purchasedAfter', 'reservationId', 'tokenType', 'userId'].sort(),
    );
  });

  it('an empty range is a header only (CSV) or no entries (JSON)', async () => {
    const csv = await (await app.request(at('/usage.csv?from=2029-01-01&to=2029-01-31'), { user: org.owner })).text();
    expect(csv).toBe(CSV_COLUMNS.join(',') + '\r\n');
    const json = await (await app.request(at('/usage.json?from=2029-01-01&to=2029-01-31'), { user: org.owner })).json();
    expect(json.entries).toEqual([]);
  });

  it('a cancelled download stops reading pages', async () => {
    const before = exportCalls();
    const res = await app.request(at('/usage.csv?from=2028-01-01&to=2028-01-31'), { user: org.owner });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(exportCalls() - before).toBe(1);
  });

  it('a failure mid-stream breaks the stream (the status is already sent)', async () => {
    failExportAt = started + 3;
    try {
      const res = await app.request(at('/usage.csv?from=2028-01-01&to=2028-01-31'), { user: org.owner });
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
    } finally {
      failExportAt = 0;
    }
  });

  it('refuses non-members, unknown organizations and bad ranges with a problem before streaming', async () => {
    await expectProblem(await app.request(at('/usage.csv?from=2028-01-01&to=2028-01-31'), { user: randomUUID() }), 'not_a_member');
    await expectProblem(await app.request(`/orgs/${randomUUID()}/usage.json?from=2028-01-01&to=2028-01-31`, { user: org.owner }), 'unknown_organization');
    await expectProblem(await app.request(at('/usage.csv?from=2028-01-01&to=2028-01-31')), 'unauthorized');
    for (const query of ['', '?from=2028-01-01', '?from=2028-01-31&to=2028-01-01', '?from=2018-01-01&to=2028-01-31', '?from=2028-01-01&to=2028-01-31&format=xml']) {
      await expectProblem(await app.request(at('/usage.csv' + query), { user: org.owner }), 'invalid_request');
    }
    // Ten years is the limit.
    expect((await app.request(at('/usage.json?from=2020-01-01&to=2029-12-31'), { user: org.owner })).status).toBe(200);
    await expectProblem(await app.request(at('/usage.csv'), { user: org.owner, method: 'POST' }), 'method_not_allowed');
  });
});

/** A small RFC 4180 parser (CRLF records, quoted fields with doubled quotes). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === '"') {
      quoted = true;
      i++;
    } else if (c === ',') {
      record.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || record.length > 0) throw new Error('CSV does not end with CRLF');
  return records;
}
