import type { GuardInfo } from './create-token-client.ts';

/**
 * Read the guard's `x-tokengate-*` headers from a guarded route's answer.
 *
 * @example
 * const info = readGuardInfo(await client.callGuarded('/api/generate', { method: 'POST' }));
 * if (typeof info.available === 'number' && info.available < 10) showLowBalance();
 */
export function readGuardInfo(response: Response): GuardInfo {
  const h = response.headers;
  const num = (v: string | null) => (v !== null && /^\d+$/.test(v) ? Number(v) : null);
  const available = h.get('x-tokengate-available');
  return {
    charged: num(h.get('x-tokengate-charged')),
    available: available === 'unlimited' ? 'unlimited' : num(available),
    reservationId: h.get('x-tokengate-reservation'),
    replayed: h.get('idempotent-replayed') === 'true',
  };
}
