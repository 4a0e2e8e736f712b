import { findOrder } from '../../core/checkout';
import { defineFunction } from '../../core/fn';
import { OrderQuery } from '../../core/schemas';

export = defineFunction({
  name: 'order-get',
  method: 'GET',
  schema: OrderQuery,
  run: async ({ id, shopperId }, call) => ({ body: await findOrder(await call.store(), id, shopperId) }),
});
