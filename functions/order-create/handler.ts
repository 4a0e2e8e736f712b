import { checkoutDeps, placeOrder } from '../../core/checkout';
import { defineFunction } from '../../core/fn';
import { CheckoutRequest } from '../../core/schemas';

export = defineFunction({
  name: 'order-create',
  method: 'POST',
  schema: CheckoutRequest,
  input: (event, body) => ({ idempotencyKey: event.headers['idempotency-key'], body }),
  run: async ({ idempotencyKey, body }, call) => {
    const { order, replayed } = await placeOrder(await checkoutDeps(call), { ...body, idempotencyKey });
    const headers: Record<string, string> = replayed ? { 'Idempotent-Replayed': 'true' } : {};
    return { status: 201, body: order, headers };
  },
});
