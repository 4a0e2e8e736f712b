/** Orders for tests: built in memory, or written straight to the store for the functions that read or cancel them. */
import { orderIdFor } from '../../core/checkout';
import type { Order } from '../../core/schemas';
import { newIdempotencyKey, testStore } from './fixtures';

/** A confirmed one-mug order of `shopperId`, with whatever `overrides` change. */
export function anOrder(shopperId: string, overrides: Partial<Order> = {}): Order {
  const at = new Date().toISOString();
  return {
    id: orderIdFor(shopperId, newIdempotencyKey()),
    shopperId,
    status: 'confirmed',
    customer: { name: 'Ada', email: 'ada@example.com', address: '1 Loop Road' },
    requested: [{ productId: 'test-mug', quantity: 1 }],
    items: [{ productId: 'test-mug', name: 'Test Mug', priceCents: 1250, quantity: 1 }],
    totalCents: 1250,
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}

export async function storedOrder(shopperId: string, overrides: Partial<Order> = {}): Promise<Order> {
  const order = anOrder(shopperId, overrides);
  await (await testStore()).decideOrder(order, {});
  return order;
}
