import { checkoutDeps } from '../../core/checkout';
import { defineFunction } from '../../core/fn';
import { SweepRequest } from '../../core/schemas';
import { sweepAbandonedCheckouts, sweepSettingsFromEnv } from '../../core/sweep';

// No token: the cron-connector cannot send one. It only acts on checkouts already expired.
export = defineFunction({
  name: 'order-sweep',
  method: 'POST',
  readsBody: false,
  schema: SweepRequest,
  input: () => ({}),
  run: async (_input, call) => ({ body: await sweepAbandonedCheckouts(await checkoutDeps(call), sweepSettingsFromEnv()) }),
});
