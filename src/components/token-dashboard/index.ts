export { TokenDashboardView } from './token-dashboard-view.tsx';
export type { TokenDashboardViewProps, ExportFormat } from './token-dashboard-view.tsx';
export { getBalanceState, LOW_FRACTION } from './get-balance-state.ts';
export type { BalanceState } from './get-balance-state.ts';
export { TokenDashboard, last30Days } from './token-dashboard.tsx';
export type { TokenDashboardProps } from './token-dashboard.tsx';
