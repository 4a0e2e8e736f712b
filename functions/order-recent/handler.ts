import { defineFunction } from '../../core/fn';
import { RecentOrdersQuery } from '../../core/schemas';

const DEFAULT_LIMIT = 20;

// The operator's view of every shopper's orders: admin token only.
export = defineFunction({
  name: 'order-recent',
  method: 'GET',
  auth: 'admin',
  schema: RecentOrdersQuery,
  run: async ({ limit }, call) => ({ body: { items: await (await call.store()).listRecentOrders(limit ?? DEFAULT_LIMIT) } }),
});
