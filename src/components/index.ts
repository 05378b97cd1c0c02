/**
 * Tokengate's React components: the token dashboard, the upgrade prompt and the gated button (styles in
 * `tokengate/styles.css`, or compile `src/styles/tokengate.css` with your own Tailwind).
 *
 * @example
 * import { TokenDashboard, UpgradePrompt } from 'tokengate/components';
 */
export * from './token-dashboard/index.ts';
export * from './upgrade-prompt/index.ts';
export * from './token-gate-button/index.ts';
export { cn } from './cn.ts';
export * from '../i18n/index.ts';
