import { shopError } from '../core/errors';
import { checkoutOutcome } from './shop-metrics';

describe('what a checkout came to', () => {
  it('tells placed, sold out, pending, refused, rejected and failed checkouts apart', () => {
    expect(checkoutOutcome()).toBe('placed');
    expect(checkoutOutcome(shopError(409, 'OUT_OF_STOCK', 'sold out'))).toBe('sold_out');
    expect(checkoutOutcome(shopError(409, 'ORDER_IN_PROGRESS', 'still deciding'))).toBe('pending');
    expect(checkoutOutcome(shopError(504, 'DEPENDENCY_UNAVAILABLE', 'gave up waiting'))).toBe('pending');
    expect(checkoutOutcome(shopError(502, 'DEPENDENCY_UNAVAILABLE', 'no answer'))).toBe('pending');
    expect(checkoutOutcome(shopError(429, 'DEPENDENCY_UNAVAILABLE', 'busy'))).toBe('refused');
    expect(checkoutOutcome(shopError(503, 'STORE_UNAVAILABLE', 'disk full'))).toBe('refused');
    expect(checkoutOutcome(shopError(409, 'IDEMPOTENCY_KEY_REUSED', 'another order'))).toBe('rejected');
    expect(checkoutOutcome(shopError(500, 'INTERNAL', 'bug'))).toBe('failed');
    expect(checkoutOutcome(new Error('socket hang up'))).toBe('failed');
  });
});
