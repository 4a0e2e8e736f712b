/**
 * One of several processes hammering one store at once (test/store.contract.test.ts): holds
 * and releases, inserts of the same orders, and changes of one shared cart, all interleaved.
 * Prints what it got done, for the test to add up.
 */
import { changeCart } from '../../core/cart';
import { isShopError } from '../../core/errors';
import { closeStores, openStore } from '../../core/store/open';
import { anOrder } from './orders';

const worker = Number(process.argv[2]);
const now = () => new Date().toISOString();

async function main(): Promise<void> {
  const store = await openStore();
  const counts = { held: 0, spareHeld: 0, spareReleased: 0, inserted: 0, cartAdds: 0 };
  const hold = async () => {
    for (let i = 0; i < 20; i++) if ((await store.holdStock(`ord_w${worker}_${i}`, 'test-mug', 1, `worker-${worker}`)).status === 'held') counts.held++;
  };
  const holdAndRelease = async () => {
    for (let i = 0; i < 20; i++) {
      const orderId = `ord_spare_w${worker}_${i}`;
      if ((await store.holdStock(orderId, 'spare', 2, `worker-${worker}`)).status === 'held') counts.spareHeld += 2;
      counts.spareReleased += await store.releaseHold(orderId, 'spare');
    }
  };
  const insertOrders = async () => {
    for (let i = 0; i < 10; i++) if ((await store.decideOrder(anOrder('worker-shopper-0000000000', { id: `ord_shared_${i}` }), {})).decided) counts.inserted++;
  };
  const changeSharedCart = async () => {
    for (let i = 0; i < 20; i++) {
      try {
        await changeCart(store, 'shared-cart-0000000000000', { kind: 'add', productId: 'cart-item', quantity: 1 }, now);
        counts.cartAdds++;
      } catch (error) {
        // Too many concurrent changes in a row: refused as a whole, never half-applied.
        if (!isShopError(error) || error.code !== 'CONFLICT') throw error;
      }
    }
  };
  await Promise.all([hold(), holdAndRelease(), insertOrders(), changeSharedCart()]);
  await closeStores();
  process.stdout.write(JSON.stringify(counts));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
