'use client';
import { GrantsDisclosure } from './grants-disclosure.tsx';
import { TokenDashboardView, type TokenDashboardViewProps } from './token-dashboard-view.tsx';

/** Props of {@link TokenDashboardViewWithGrants}. */
export interface TokenDashboardViewWithGrantsProps extends TokenDashboardViewProps {
  /** Render each metered balance's grants as a `GrantsDisclosure` (fetched when first opened). */
  withGrants: boolean;
}

/**
 * Internal: the view `TokenDashboard` loads on demand (`React.lazy`), with the grants disclosure
 * that comes with it, so neither is part of what an app loads up front.
 *
 * @example
 * const View = lazy(() => import('./token-dashboard-view-with-grants.tsx'));
 */
export default function TokenDashboardViewWithGrants({ withGrants, ...props }: TokenDashboardViewWithGrantsProps) {
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
    />
  );
}
