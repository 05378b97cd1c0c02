/**
 * OperatorConsole against the REAL handler's `/operator/*` routes, gate and ledger on PGlite: the
 * app's admin API is modelled as a fetch that adds the server credential (what the app's own
 * operator-only route does), and the tables show exactly what the operator functions answer.
 * Without the credential (a member's session forwarded as is) every part shows an error, not data.
 */
import { QueryClient } from '@tanstack/react-query';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { bearerSecret, supabaseAuth } from '../../server/auth.ts';
import { createTokenGate } from '../../server/gate.ts';
import { createHandler } from '../../server/http/handler.ts';
import { createOperatorApi } from '../../server/operator/create-operator-api.ts';
import { pgliteStore } from '../../server/stores/pglite-store.ts';
import { expectNoAxeViolations } from '../../src/components/expect-no-axe-violations.ts';
import { OperatorConsole } from '../../src/operator/operator-console.tsx';
import { freshPglite, type TestDb } from '../db.ts';
import { createTestIssuer } from '../jwt.ts';
import { createOrg, type SeededOrg } from '../ledger.ts';

const SECRET = 'operator-console-test-secret-0123456789';
const NOW = new Date('2028-01-10T12:00:00Z');

let db: TestDb;
let handler: (request: Request) => Promise<Response>;
let operator: ReturnType<typeof createOperatorApi>;
let member: string;
let orgs: SeededOrg[];

beforeAll(async () => {
  db = await freshPglite();
  await db.setNow('2028-01-01T00:00:00Z');
  const store = pgliteStore({ query: async <T,>(sql: string, params?: unknown[]) => ({ rows: (await db.query(sql, params)) as T[] }) });
  const issuer = await createTestIssuer();
  handler = createHandler({ gate: createTokenGate({ store }), authenticate: supabaseAuth(issuer.authOptions), authenticateServer: bearerSecret(SECRET) });
  operator = createOperatorApi(store);
  orgs = [await createOrg(db, { plan: 'pro', anchor: '2028-01-01T00:00:00Z' }), await createOrg(db, { plan: 'enterprise', anchor: '2028-01-01T00:00:00Z' })];
  member = orgs[0]!.members[0]!;
  let key = 0;
  const deduct = (org: SeededOrg, type: string, units: number, day: string) =>
    store.rpc('deduct', { p_org_id: org.orgId, p_user_id: org.owner, p_token_type: type, p_idempotency_key: `k${++key}`, p_units: units }, { now: new Date(`${day}T09:00:00Z`) });
  for (const d of ['2028-01-03', '2028-01-05', '2028-01-08']) {
    await deduct(orgs[0]!, 'quest_generation', 6, d); // 54 of 60 by the 8th…
    await deduct(orgs[1]!, 'lead_generation', 1, d);
  }
  await deduct(orgs[0]!, 'quest_generation', 1, '2028-01-09'); // …and 57 (5% left) on the 9th
  await deduct(orgs[1]!, 'lead_generation', 300, '2028-01-10');
  await db.query(
    `insert into tokengate.grants (org_id, token_type_id, source, amount, remaining, status, effective_at, expires_at, created_at)
     values ($1, 'quest_generation', 'promo', 25, 25, 'active', '2028-01-01', '2028-01-12T00:00:00Z', '2028-01-01')`,
    [orgs[0]!.orgId],
  );
  await db.setNow(NOW.toISOString());
});
afterEach(() => cleanup());
afterAll(async () => db?.close());

/** The app's admin API: an operator-only route that forwards to the handler with the server credential. */
const adminApi = (withCredential: boolean) => async (input: string, init?: RequestInit) => {
  const url = new URL(input, 'http://app.test');
  const headers = new Headers(init?.headers);
  if (withCredential) headers.set('authorization', `Bearer ${SECRET}`);
  return handler(new Request(`http://localhost/api/tokengate${url.pathname.replace(/^\/admin\/api\/tokengate/, '')}${url.search}`, { headers }));
};

function renderConsole(withCredential: boolean) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(<OperatorConsole baseUrl="/admin/api/tokengate" fetch={adminApi(withCredential)} queryClient={queryClient} now={NOW} locale="en-US" />);
}

/** A table's body rows as arrays of cell texts. */
function rowsOf(table: HTMLElement): string[][] {
  return within(table)
    .getAllByRole('row')
    .slice(1)
    .map((row) => Array.from(row.children, (cell) => cell.textContent ?? ''));
}

it('shows the four parts as named tables with exactly what the operator routes answer', async () => {
  const { container } = renderConsole(true);
  expect(screen.getByRole('region', { name: 'Operator console' })).toBeTruthy();
  const top = await screen.findByRole('table', { name: 'Top organizations, 2027-12-12 to 2028-01-10' });
  const low = await screen.findByRole('table', { name: 'Near exhaustion (under 10% left)' });
  const spikes = await screen.findByRole('table', { name: 'Usage spikes on 2028-01-10' });
  const grants = await screen.findByRole('table', { name: 'Grants expiring within 7 days' });

  const expectedTop = await operator.top({ from: '2027-12-12', to: '2028-01-10' });
  expect(rowsOf(top)).toEqual(expectedTop.map((r) => [r.tokenType, String(r.rank), r.orgId, r.planId, r.tokens.toLocaleString('en-US'), String(r.events), String(r.members)]));
  expect(rowsOf(top)).toHaveLength(2);
  expect(within(top).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Token type', 'Rank', 'Organization', 'Plan', 'Tokens', 'Charges', 'Members']);

  const expectedLow = await operator.nearExhaustion({});
  expect(expectedLow.map((r) => r.orgId)).toEqual([orgs[0]!.orgId]);
  expect(rowsOf(low)).toEqual([[orgs[0]!.orgId, 'pro', 'quest_generation', '3', '60', '5%', 'Feb 1, 2028, 12:00 AM UTC']]);
  expect(rowsOf(low)[0]![5]).toBe(`${expectedLow[0]!.percentLeft}%`);

  const expectedSpikes = await operator.spikes({ day: '2028-01-10' });
  expect(rowsOf(spikes)).toEqual(expectedSpikes.map((r) => [r.orgId, r.planId, r.tokenType, r.tokens.toLocaleString('en-US'), String(r.trailingAverage), r.ratio === null ? 'new' : `${r.ratio.toLocaleString('en-US')}×`]));
  expect(rowsOf(spikes)).toHaveLength(1);

  expect(rowsOf(grants)).toEqual([['Jan 12, 2028, 12:00 AM UTC', orgs[0]!.orgId, 'quest_generation', '25', '25', 'promo']]);
  await expectNoAxeViolations(container);
});

it('shows an alert in every part, and no data, when the request lacks the server credential', async () => {
  renderConsole(false);
  await waitFor(() => expect(screen.getAllByRole('alert')).toHaveLength(4));
  for (const alert of screen.getAllByRole('alert')) expect(alert.textContent).toMatch(/^Could not load: /);
  expect(screen.queryAllByRole('table')).toEqual([]);
  expect(screen.queryByText(orgs[1]!.orgId)).toBeNull();
});

it('is not part of the member kit: nothing in src/react, src/components or src/core imports src/operator', async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const path = await import('node:path');
  const root = path.resolve(import.meta.dirname, '../../src');
  const offenders: string[] = [];
  for (const dir of ['react', 'components', 'core', 'live']) {
    for (const entry of await readdir(path.join(root, dir), { recursive: true })) {
      if (!/\.tsx?$/.test(entry)) continue;
      const code = await readFile(path.join(root, dir, entry), 'utf8');
      if (/from\s+['"][^'"]*\/operator\//.test(code)) offenders.push(`${dir}/${entry}`);
    }
  }
  expect(offenders).toEqual([]);
});
