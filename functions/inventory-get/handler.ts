import { findProduct } from '../../core/catalog';
import { defineFunction } from '../../core/fn';
import { GetProductQuery } from '../../core/schemas';

export = defineFunction({
  name: 'inventory-get',
  method: 'GET',
  schema: GetProductQuery,
  run: async ({ id }, call) => ({ body: await findProduct(await call.store(), id) }),
});
