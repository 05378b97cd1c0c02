export { UpgradePrompt } from './upgrade-prompt.tsx';
export type { UpgradePromptProps } from './upgrade-prompt.tsx';
