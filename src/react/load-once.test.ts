import { describe, expect, it } from 'vitest';
import { TokenGateError } from '../core/token-gate-error.ts';
import { loadOnce } from './load-once.ts';

describe('loadOnce', () => {
  it('loads once for every caller', async () => {
    let loads = 0;
    const load = loadOnce(async () => ({ n: ++loads }), 'did not load');
    const [a, b] = await Promise.all([load(), load()]);
    expect(await load()).toBe(a);
    expect(b).toBe(a);
    expect(loads).toBe(1);
  });

  it('rejects a failed load as a network TokenGateError with the cause, and loads again on the next call', async () => {
    const offline = new TypeError('Failed to fetch dynamically imported module');
    let loads = 0;
    const load = loadOnce(async () => {
      if (++loads === 1) throw offline;
      return 'code';
    }, 'The run could not start: its code did not load.');
    const error = await load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenGateError);
    expect(error).toMatchObject({ code: 'network', message: 'The run could not start: its code did not load.', cause: offline });
    expect(await load()).toBe('code');
    expect(await load()).toBe('code');
    expect(loads).toBe(2);
  });
});
