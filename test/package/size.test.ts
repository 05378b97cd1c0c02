/**
 * Size budgets (scripts/size-budgets.ts) for the client entry points of the built package:
 * `tokengate`, `tokengate/react`, `tokengate/components`, `tokengate/styles.css` and the live
 * entry points, each with the local chunks it imports up front, minified + gzipped (what loads on
 * demand apart); React, react-dom and TanStack Query stay external.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  formatSizes,
  LAZY_BUDGETS,
  measureMemberKit,
  measureSizes,
  MEMBER_KIT_BUDGET,
  SIZE_BUDGETS,
  type MemberKitReport,
  type SizeReport,
} from '../../scripts/size-budgets.ts';
import { DIST, ensureBuilt } from './build.ts';

let reports: SizeReport[];
let kit: MemberKitReport;

beforeAll(async () => {
  await ensureBuilt();
  reports = await measureSizes(DIST);
  kit = await measureMemberKit(DIST);
  console.log(`client entry point sizes:\n${formatSizes(reports)}\nmember kit, TanStack Query inlined: ${kit.gzip} B min+gzip (+ ${kit.lazyGzip} B on demand)`);
}, 180_000);

describe('size budgets', () => {
  it('measures every budgeted client entry point, with its chunks', () => {
    expect(reports.map((r) => r.entry)).toEqual(Object.keys(SIZE_BUDGETS));
    for (const r of reports) {
      expect(r.gzip, r.entry).toBeGreaterThan(500);
      expect(r.gzip, r.entry).toBeLessThan(r.minified);
    }
    // The entry files only re-export; the chunks hold the code and must be counted.
    expect(reports.find((r) => r.entry === 'index.js')!.files.length).toBeGreaterThan(1);
  });

  it('keeps every client entry point within its budget (min + gzip)', () => {
    const over = reports.filter((r) => r.gzip > r.budget).map((r) => `${r.entry}: ${r.gzip} B > ${r.budget} B`);
    expect(over).toEqual([]);
  });

  it('loads the live feed on demand, apart from the provider, within its own budget', () => {
    const react = reports.find((r) => r.entry === 'react.js')!;
    // The provider only holds the import() of it: no live module is part of the up-front size.
    expect(react.files.filter((f) => /attach-live|sse-splitter|apply-balance-change/.test(f))).toEqual([]);
    expect(react.lazyFiles.some((f) => f.includes('attach-live'))).toBe(true);
    const over = reports.filter((r) => r.lazyBudget !== null && r.lazyGzip > r.lazyBudget).map((r) => `${r.entry}: ${r.lazyGzip} B > ${r.lazyBudget} B on demand`);
    expect(over).toEqual([]);
    for (const entry of Object.keys(LAZY_BUDGETS)) expect(reports.find((r) => r.entry === entry)!.lazyGzip, entry).toBeGreaterThan(500);
  });

  it('the member kit (client, provider, useTokenGate, TokenDashboard, UpgradePrompt), TanStack Query inlined, stays within issue 16\'s 18 KiB up front', () => {
    // Measured as an app bundles it: TanStack Query inside, React outside, what loads on demand apart.
    expect(kit.modules.some((m) => m.includes('@tanstack/query-core'))).toBe(true);
    expect(kit.modules.some((m) => /node_modules\/react(-dom)?\//.test(m))).toBe(false);
    expect(kit.lazyGzip).toBeGreaterThan(1000);
    // TokenDashboard's view loads on demand, with the grants, the export and the dashboard's strings; up
    // front, only what it shows meanwhile (the i18n hook and baseMessages with it). See OWN_CHUNKS in scripts/build.ts.
    expect(kit.sources).toContain('src/components/token-dashboard/token-dashboard.tsx');
    expect(kit.sources).toContain('src/components/token-dashboard/token-dashboard-loading.tsx');
    expect(kit.sources).toContain('src/i18n/base-messages.ts');
    for (const onDemand of [
      'src/components/token-dashboard/token-dashboard-view.tsx',
      'src/components/token-dashboard/token-balance-row.tsx',
      'src/components/token-dashboard/grants-disclosure-view.tsx',
      'src/components/token-dashboard/usage-details.tsx',
      'src/components/ui/dialog.tsx',
      'src/i18n/messages.ts',
      // useTokenGate's run (preloaded when the hook mounts), with what only it uses.
      'src/react/run-token-gate.ts',
      'src/core/read-guard-info.ts',
      'src/react/set-cached-balance.ts',
    ]) {
      expect(kit.sources).not.toContain(onDemand);
    }
    expect(kit.gzip, `member kit: ${kit.gzip} B min+gzip`).toBeLessThanOrEqual(MEMBER_KIT_BUDGET);
  });

  it('bundles neither React, react-dom nor TanStack Query, nor the development JSX runtime', async () => {
    for (const r of reports) {
      for (const file of r.files) {
        const code = await readFile(path.join(DIST, file), 'utf8');
        expect(code, file).not.toContain('__CLIENT_INTERNALS_DO_NOT_USE_OR_WARN_USERS_THEY_CANNOT_UPGRADE');
        expect(code, file).not.toMatch(/class QueryClient\b/);
        // A production build uses react/jsx-runtime; react/jsx-dev-runtime's jsxDEV is undefined in production React.
        expect(code, file).not.toContain('react/jsx-dev-runtime');
      }
    }
  });
});
