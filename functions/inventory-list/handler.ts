import { browseProducts } from '../../core/catalog';
import { defineFunction } from '../../core/fn';
import { ListProductsQuery } from '../../core/schemas';

export = defineFunction({
  name: 'inventory-list',
  method: 'GET',
  schema: ListProductsQuery,
  run: async (query, call) => ({ body: await browseProducts(await call.store(), query) }),
});
