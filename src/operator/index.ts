/**
 * The operator's console (`tokengate/operator`): a React view of the operator routes for the app's
 * own staff. A separate entry point: the member-facing kit (`tokengate/react`,
 * `tokengate/components`) never imports it.
 *
 * @example
 * import { OperatorConsole } from 'tokengate/operator';
 * <OperatorConsole baseUrl="/admin/api/tokengate" />
 */
export { OperatorConsole, type OperatorConsoleProps, type OperatorSection } from './operator-console.tsx';
export { OperatorRequestError, operatorQueryOptions, type OperatorSource } from './operator-query-options.ts';
export type { ExpiringGrantRow, NearExhaustionRow, OperatorTopRow, SpikeRow } from '../../server/operator/types.ts';
