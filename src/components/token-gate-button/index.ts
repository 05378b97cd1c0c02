export { TokenGateButton } from './token-gate-button.tsx';
export type { TokenGateButtonProps, TokenGateButtonState } from './token-gate-button.tsx';
