'use client';
import { QueryClientContext } from '@tanstack/react-query';
import { useContext } from 'react';
import { tokenGateKeys } from '../../core/query-keys.ts';
import type { Balances, TokenTypeId } from '../../core/types.ts';
import { TokenGateContext } from '../../react/token-gate-context.ts';

/**
 * Internal: the display name of a token type, as written in the catalog ("Quest generation"). Read
 * from the balances already cached under a `TokenGateProvider`; without them, the id in sentence
 * case (`quest_generation` → "Quest generation"), the catalog's own style. Works without a provider.
 *
 * @example
 * const name = useCatalogName('quest_generation'); // 'Quest generation'
 */
export function useCatalogName(tokenType: TokenTypeId | undefined): string | undefined {
  const gate = useContext(TokenGateContext);
  const queryClient = useContext(QueryClientContext);
  if (!tokenType) return undefined;
  const orgId = gate ? (gate.orgId ?? gate.client.orgId()) : undefined;
  const cached = orgId && queryClient?.getQueryData<Balances>(tokenGateKeys.balances(orgId));
  const name = cached ? cached.tokenTypes.find((b) => b.tokenType === tokenType)?.name : undefined;
  return name ?? sentenceCase(tokenType);
}

/** `quest_generation` → "Quest generation". */
function sentenceCase(id: string): string {
  const words = id.replaceAll(/[_-]+/g, ' ').trim();
  return words.charAt(0).toLocaleUpperCase('en') + words.slice(1);
}
