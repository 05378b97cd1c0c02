'use client';
// The React kit's provider, written by `tokengate init`. Wire your auth in the two functions below.
import { useState, type ReactNode } from 'react';
import { createTokenClient } from 'tokengate';
import { TokenGateProvider } from 'tokengate/react';

/**
 * The signed-in user's access token, sent as `Authorization: Bearer …` and checked by `authenticate`
 * in the server module. With Supabase Auth:
 *   return (await supabase.auth.getSession()).data.session?.access_token ?? null;
 * Until you wire it, it is read from localStorage ('tokengate.accessToken') so you can try the page.
 */
async function getAccessToken() {
  return typeof window === 'undefined' ? null : window.localStorage.getItem('tokengate.accessToken');
}

/**
 * The organization the user acts for (its uuid), e.g. from your org switcher. Until you wire it,
 * it is read from localStorage ('tokengate.orgId').
 */
function getOrgId() {
  return (typeof window === 'undefined' ? null : window.localStorage.getItem('tokengate.orgId')) ?? '';
}

export function TokenGateProviders({ children }: { children: ReactNode }) {
  // One client for the page's lifetime; it reads the token and organization on every call.
  const [client] = useState(() => createTokenClient({ baseUrl: '/api/tokengate', getAccessToken, orgId: getOrgId }));
  return <TokenGateProvider client={client}>{children}</TokenGateProvider>;
}
