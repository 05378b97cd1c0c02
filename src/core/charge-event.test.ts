// @vitest-environment node
import { expect, it } from 'vitest';
import { CHARGE_EVENT, parseChargeEvent } from './charge-event.ts';

const id = '0b7f3c2e-6a1d-4c8e-9f00-1a2b3c4d5e6f';

it('reads the charge event the guard appends', () => {
  expect(CHARGE_EVENT).toBe('tokengate-charge');
  expect(parseChargeEvent(JSON.stringify({ charged: 3, available: 17, reservationId: id }))).toEqual({ charged: 3, available: 17, reservationId: id });
  expect(parseChargeEvent(JSON.stringify({ charged: 0, available: 'unlimited', reservationId: id }))).toEqual({
    charged: 0,
    available: 'unlimited',
    reservationId: id,
  });
});

it('answers null for anything that is not a whole charge', () => {
  for (const data of [
    '',
    'not json',
    'null',
    '3',
    JSON.stringify({ available: 1, reservationId: id }),
    JSON.stringify({ charged: -1, available: 1, reservationId: id }),
    JSON.stringify({ charged: 1.5, available: 1, reservationId: id }),
    JSON.stringify({ charged: '3', available: 1, reservationId: id }),
    JSON.stringify({ charged: 1, available: 'lots', reservationId: id }),
    JSON.stringify({ charged: 1, available: -2, reservationId: id }),
    JSON.stringify({ charged: 1, available: 2 }),
    JSON.stringify({ charged: 1, available: 2, reservationId: '' }),
  ]) {
    expect(parseChargeEvent(data), data).toBeNull();
  }
});
