import { defineFunction } from '../../core/fn';
import { reserveStock } from '../../core/inventory';
import { ReserveRequest } from '../../core/schemas';

export = defineFunction({
  name: 'inventory-reserve',
  method: 'POST',
  auth: 'internal',
  schema: ReserveRequest,
  run: async ({ orderId, items }, call) => ({ body: await reserveStock(await call.store(), orderId, items) }),
});
