import { defineFunction } from '../../core/fn';
import { releaseStock } from '../../core/inventory';
import { ReleaseRequest } from '../../core/schemas';

export = defineFunction({
  name: 'inventory-release',
  method: 'POST',
  auth: 'internal',
  schema: ReleaseRequest,
  run: async ({ orderId }, call) => ({ body: await releaseStock(await call.store(), orderId) }),
});
