import { changeCart } from '../../core/cart';
import { defineFunction } from '../../core/fn';
import { CartUpdateRequest } from '../../core/schemas';

export = defineFunction({
  name: 'cart-update',
  method: 'POST',
  schema: CartUpdateRequest,
  run: async ({ shopperId, productId, quantity }, call) => ({
    body: await changeCart(await call.store(), shopperId, { kind: 'set', productId, quantity }, call.now),
  }),
});
