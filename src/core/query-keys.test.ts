// @vitest-environment node
import { expect, it } from 'vitest';
import { tokenGateKeys } from './query-keys.ts';

it('nests every key under the org, so one org can be invalidated at once', () => {
  const org = 'o-1';
  const range = { from: '2028-01-01', to: '2028-01-31' };
  expect(tokenGateKeys.all).toEqual(['tokengate']);
  expect(tokenGateKeys.org(org)).toEqual(['tokengate', org]);
  expect(tokenGateKeys.balances(org)).toEqual(['tokengate', org, 'balances']);
  expect(tokenGateKeys.stats(org, range)).toEqual(['tokengate', org, 'stats', range]);
  for (const key of [tokenGateKeys.balances(org), tokenGateKeys.stats(org, range), tokenGateKeys.allStats(org)]) {
    expect(key.slice(0, 2)).toEqual(tokenGateKeys.org(org));
  }
  expect(tokenGateKeys.stats(org, range).slice(0, 3)).toEqual(tokenGateKeys.allStats(org));
  // Grants: one key per query, all under allGrants (invalidated with the org after every charge).
  expect(tokenGateKeys.grants(org)).toEqual(['tokengate', org, 'grants', { tokenType: null, includeEnded: false }]);
  expect(tokenGateKeys.grants(org, { tokenType: 'chat', includeEnded: true })).toEqual(['tokengate', org, 'grants', { tokenType: 'chat', includeEnded: true }]);
  expect(tokenGateKeys.grants(org, { tokenType: 'chat' }).slice(0, 3)).toEqual(tokenGateKeys.allGrants(org));
  expect(tokenGateKeys.allGrants(org).slice(0, 2)).toEqual(tokenGateKeys.org(org));
  // useTokenGate's runs (mutation keys): under the org too, one key per token type.
  expect(tokenGateKeys.run(org, 'chat')).toEqual(['tokengate', org, 'run', 'chat']);
  expect(tokenGateKeys.run(org, 'chat').slice(0, 2)).toEqual(tokenGateKeys.org(org));
  // Extra fields of a range object do not leak into the key.
  expect(tokenGateKeys.stats(org, { ...range, label: 'x' } as typeof range)).toEqual(tokenGateKeys.stats(org, range));
});
