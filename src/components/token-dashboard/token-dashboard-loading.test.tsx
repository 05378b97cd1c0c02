import { cleanup, render, screen } from '@testing-library/react';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenGateI18nProvider } from '../../i18n/i18n-context.tsx';
import { FIXTURE_NOW, proBalances, proStats } from '../fixtures.ts';
import { TokenDashboardLoading, type TokenDashboardLoadingProps } from './token-dashboard-loading.tsx';
import { TokenDashboardView } from './token-dashboard-view.tsx';

afterEach(cleanup);

/** The markup with React's generated ids (useId) made equal: the two components call useId a different number of times. */
const markup = (html: string) => html.replaceAll(/«[^»]*»|:r[0-9a-z]+:|_r_[0-9a-z]+_/gi, 'ID');

describe('TokenDashboardLoading (what TokenDashboard shows while its view loads)', () => {
  it("is the view's own loading state, from the same props: nothing moves when the view takes over", () => {
    // The view's own props too, which must not reach the region (no attribute, no handler).
    const viewOnly: TokenDashboardLoadingProps = {
      stats: proStats,
      error: null,
      onRetry: () => {},
      onExport: () => {},
      onUpgrade: () => {},
      onTopUp: () => {},
      upgradeLabel: 'Upgrade to Pro — $20/month',
      topUpLabel: 'Buy 1,000 tokens',
      now: FIXTURE_NOW,
      getMemberName: (id) => id,
      renderGrants: () => 'grants',
      grants: [],
    };
    const cases: TokenDashboardLoadingProps[] = [
      {},
      { variant: 'compact' },
      { ...viewOnly, title: 'Globex — AI tokens', className: 'max-w-md', id: 'usage', style: { maxWidth: 480 } },
      { ...viewOnly, 'aria-label': 'Tokens', variant: 'compact', locale: 'de-DE' },
      { messages: { dashboardTitle: 'KI-Guthaben', loading: 'Lädt…', retry: 'Erneut' }, 'data-testid': 'dash' } as TokenDashboardLoadingProps,
    ];
    for (const props of cases) {
      const loading = markup(renderToStaticMarkup(<TokenDashboardLoading {...props} />));
      const view = markup(renderToStaticMarkup(<TokenDashboardView {...props} balances={undefined} status="loading" />));
      expect(loading).toBe(view);
      expect(loading).toContain('data-slot="token-dashboard-skeleton"');
    }
    // The control: the markup differs once the view has data.
    const loaded = renderToStaticMarkup(<TokenDashboardView balances={proBalances} status="success" now={FIXTURE_NOW} />);
    expect(markup(renderToStaticMarkup(<TokenDashboardLoading />))).not.toBe(markup(loaded));
  });

  it("takes its strings from the provider's and its own overrides, as the view does", () => {
    render(
      <TokenGateI18nProvider messages={{ dashboardTitle: 'KI-Guthaben', loading: 'Guthaben lädt…' }}>
        <TokenDashboardLoading />
        <TokenDashboardLoading messages={{ dashboardTitle: 'Globex' }} />
      </TokenGateI18nProvider>,
    );
    const first = screen.getByRole('region', { name: 'KI-Guthaben' });
    expect(first.getAttribute('aria-busy')).toBe('true');
    expect(first.textContent).toContain('Guthaben lädt…');
    expect(screen.getByRole('region', { name: 'Globex' }).textContent).toContain('Guthaben lädt…');
  });
});
