'use client';
import type { DateRange } from '../../core/create-token-client.ts';
import { useTokenClient } from '../../react/use-token-client.ts';
import { GrantsDisclosure } from './grants-disclosure.tsx';
import type { TokenDashboardProps } from './token-dashboard.tsx';
import { TokenDashboardView, type ExportFormat, type TokenDashboardViewProps } from './token-dashboard-view.tsx';

/** Props of {@link TokenDashboardViewWithGrants}: the view's, with `TokenDashboard`'s export handler. */
export interface TokenDashboardViewWithGrantsProps extends Omit<TokenDashboardViewProps, 'onExport'> {
  /** Render each metered balance's grants as a `GrantsDisclosure` (fetched when first opened). */
  withGrants: boolean;
  /** The statistics' range, for the export. */
  range: DateRange;
  /** `TokenDashboard`'s `onExport`: the app's, `false` (no export buttons), or the default download. */
  onExport: TokenDashboardProps['onExport'];
}

/**
 * Internal: the view `TokenDashboard` loads on demand (`React.lazy`), with what comes with it — the
 * grants disclosure and the default export download — so none of it is part of what an app loads
 * up front.
 *
 * @example
 * const View = lazy(() => import('./token-dashboard-view-with-grants.tsx'));
 */
export default function TokenDashboardViewWithGrants({ withGrants, range, onExport, ...props }: TokenDashboardViewWithGrantsProps) {
  const client = useTokenClient();
  const download = async (format: ExportFormat) => {
    const blob = await (await client.exportUsage(range, { format })).blob();
    const url = URL.createObjectURL(blob);
    const a = Object.assign(document.createElement('a'), { href: url, download: `tokengate-usage-${range.from}-${range.to}.${format}` });
    a.click();
    // Revoked a moment later: some browsers start the download asynchronously after click().
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <TokenDashboardView
      {...props}
      renderGrants={
        withGrants
          ? (b, { messages, format, now }) => (
              <GrantsDisclosure tokenType={b.tokenType} name={b.name} messages={messages} format={format} now={now} />
            )
          : props.renderGrants
      }
      onExport={onExport === false ? undefined : (format) => (onExport ? onExport(format, range) : void download(format))}
    />
  );
}
