import { changeCart } from '../../core/cart';
import { defineFunction } from '../../core/fn';
import { CartLineRequest } from '../../core/schemas';

export = defineFunction({
  name: 'cart-add',
  method: 'POST',
  schema: CartLineRequest,
  run: async ({ shopperId, productId, quantity }, call) => ({
    body: await changeCart(await call.store(), shopperId, { kind: 'add', productId, quantity }, call.now),
  }),
});
