// @vitest-environment node
/**
 * Server render of every component with react-dom/server in plain Node: there is no `window` or
 * `document` here, so any access during render throws and fails the test.
 */
import type { ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { prerender } from 'react-dom/static';
import { describe, expect, it } from 'vitest';
import {
  FIXTURE_NOW,
  balance,
  enterpriseBalances,
  exhaustedBalances,
  proBalances,
  proStats,
  starterBalances,
  zeroAllowanceBalances,
} from './fixtures.ts';
import { TokenDashboardView } from './token-dashboard/token-dashboard-view.tsx';
import { UpgradePrompt } from './upgrade-prompt/upgrade-prompt.tsx';
import { TokenGateI18nProvider } from '../i18n/i18n-context.tsx';
import { TokenDashboard } from './token-dashboard/token-dashboard.tsx';
import { TokenGateProvider } from '../react/token-gate-provider.tsx';
import { createTokenClient } from '../core/create-token-client.ts';

/**
 * The HTML of a server render that waits for everything it suspends on (the parts the components
 * load on demand), without the Suspense boundary markers around them.
 */
async function renderAll(node: ReactNode): Promise<string> {
  const { prelude } = await prerender(node);
  return (await new Response(prelude).text()).replace(/<!--\/?\$-->/g, '');
}

describe('server render', () => {
  it('runs in an environment without window or document', () => {
    expect(typeof window).toBe('undefined');
    expect(typeof document).toBe('undefined');
  });

  it('TokenDashboardView in every state', async () => {
    const states = [
      { balances: undefined, status: 'loading' as const },
      { balances: undefined, status: 'error' as const, onRetry: () => {} },
      { balances: proBalances, stats: proStats, status: 'success' as const, onExport: () => {}, onUpgrade: () => {}, onTopUp: () => {} },
      { balances: exhaustedBalances, status: 'success' as const },
      { balances: enterpriseBalances, status: 'success' as const },
      { balances: starterBalances, status: 'success' as const },
      { balances: zeroAllowanceBalances, status: 'success' as const },
      { balances: proBalances, stats: proStats, status: 'success' as const, variant: 'compact' as const },
    ];
    for (const props of states) {
      const html = renderToString(<TokenDashboardView now={FIXTURE_NOW} {...props} />);
      expect(html).toContain('data-slot="token-dashboard"');
      expect(html).not.toMatch(/NaN|Infinity/);
    }
    // The usage sections load on demand: a streaming server render waits for them.
    const html = await renderAll(<TokenDashboardView now={FIXTURE_NOW} balances={proBalances} stats={proStats} status="success" />);
    expect(html).toContain('role="progressbar"');
    expect(html).toContain('Refreshes in 12 days');
    expect(html).toContain('role="img"');
  });

  it('renders English on the server (the browser locale applies after hydration) unless a locale is given', () => {
    expect(renderToString(<TokenDashboardView balances={proBalances} status="success" now={FIXTURE_NOW} />)).toContain('Refreshes in 12 days');
    const de = renderToString(
      <TokenGateI18nProvider locale="de-DE">
        <TokenDashboardView balances={proBalances} status="success" now={FIXTURE_NOW} />
      </TokenGateI18nProvider>,
    );
    // English messages keep their sentence English; a German translation brings German phrases.
    expect(de).toContain('Refreshes in 12 days');
    const translated = renderToString(
      <TokenGateI18nProvider locale="de-DE" messages={{ language: 'de', refreshes: ({ relative }) => `Auffüllung ${relative}` }}>
        <TokenDashboardView balances={proBalances} status="success" now={FIXTURE_NOW} />
      </TokenGateI18nProvider>,
    );
    expect(translated).toContain('Auffüllung in 12 Tagen');
  });

  it('UpgradePrompt: every reason, inline and as an open dialog', async () => {
    for (const reason of ['plan_blocked', 'insufficient_tokens', 'member_quota_exceeded', 'not_a_member', 'low'] as const) {
      const inline = renderToString(<UpgradePrompt reason={reason} balance={balance()} onUpgrade={() => {}} onTopUp={() => {}} />);
      expect(inline).toContain('data-slot="upgrade-prompt"');
      // The dialog's modal loads on demand: a streaming server render waits for it.
      const dialog = await renderAll(<UpgradePrompt reason={reason} variant="dialog" open onOpenChange={() => {}} balance={balance()} />);
      // The platform's <dialog>, shown (showModal) by an effect in the browser: closed in the HTML.
      expect(dialog).toMatch(/^<dialog [^>]*data-slot="upgrade-prompt"/);
      expect(dialog).not.toMatch(/^<dialog [^>]*\sopen/);
    }
  });

  it('TokenDashboard (connected) renders its loading state inside the provider', async () => {
    const client = createTokenClient({
      baseUrl: 'http://localhost/api/tokengate',
      getAccessToken: async () => 'token',
      orgId: 'org_1',
      fetch: async () => {
        throw new Error('no fetch during a server render');
      },
    });
    const dashboard = (
      <TokenGateProvider client={client}>
        <TokenDashboard now={FIXTURE_NOW} />
      </TokenGateProvider>
    );
    // Its view loads on demand: renderToString shows what it shows meanwhile, the view's loading state;
    // a streaming render waits for the view, which shows the same while the balances load.
    for (const html of [renderToString(dashboard), await renderAll(dashboard)]) {
      expect(html).toContain('aria-busy="true"');
      expect(html).toContain('data-slot="token-dashboard-skeleton"');
      expect(html).toContain('Loading token balances…');
    }
  });
});
