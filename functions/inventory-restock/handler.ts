import { putProduct, setStock } from '../../core/catalog';
import { defineFunction } from '../../core/fn';
import { RestockRequest } from '../../core/schemas';

export = defineFunction({
  name: 'inventory-restock',
  method: 'POST',
  auth: 'admin',
  schema: RestockRequest,
  run: async (request, call) => {
    const store = await call.store();
    if ('product' in request) {
      const { product, outcome } = await putProduct(store, request.product);
      return { status: outcome === 'created' ? 201 : 200, body: product };
    }
    return { body: await setStock(store, request.productId, request.stock) };
  },
});
