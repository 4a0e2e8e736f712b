import { showCart } from '../../core/cart';
import { defineFunction } from '../../core/fn';
import { ShopperQuery } from '../../core/schemas';

export = defineFunction({
  name: 'cart-get',
  method: 'GET',
  schema: ShopperQuery,
  run: async ({ shopperId }, call) => ({ body: await showCart(await call.store(), shopperId) }),
});
