import { cancelOrder, checkoutDeps } from '../../core/checkout';
import { defineFunction } from '../../core/fn';
import { CancelRequest } from '../../core/schemas';

export = defineFunction({
  name: 'order-cancel',
  method: 'POST',
  schema: CancelRequest,
  run: async (request, call) => ({ body: await cancelOrder(await checkoutDeps(call), request) }),
});
