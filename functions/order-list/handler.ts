import { defineFunction } from '../../core/fn';
import { OrderListQuery } from '../../core/schemas';

const DEFAULT_LIMIT = 50;

export = defineFunction({
  name: 'order-list',
  method: 'GET',
  schema: OrderListQuery,
  run: async ({ shopperId, limit }, call) => ({
    body: { items: await (await call.store()).listOrders(shopperId, limit ?? DEFAULT_LIMIT) },
  }),
});
