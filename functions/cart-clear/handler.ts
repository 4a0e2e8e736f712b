import { changeCart } from '../../core/cart';
import { defineFunction } from '../../core/fn';
import { ShopperQuery } from '../../core/schemas';

export = defineFunction({
  name: 'cart-clear',
  method: 'POST',
  schema: ShopperQuery,
  run: async ({ shopperId }, call) => ({ body: await changeCart(await call.store(), shopperId, { kind: 'clear' }, call.now) }),
});
