import { claimSale, finishSale, mergeLines, releaseStock, reserveStock } from './inventory';
import type { Order } from './schemas';
import type { ShopStore } from './store/store';
import { product, testStore, useFreshShopEnvironment } from '../test/support/fixtures';
import { storedOrder } from '../test/support/orders';

const now = () => new Date().toISOString();
const env = useFreshShopEnvironment();
afterAll(() => env.cleanup());

let store: ShopStore;
const stockOf = async (id: string) => (await store.getProducts([id]))[0]?.stock;
const audit = async (id: string) => (await store.stockAudit()).find((a) => a.productId === id);

beforeAll(async () => {
  store = await testStore();
});
beforeEach(async () => {
  // Every test starts from the same two products, with nothing held or sold.
  await store.removeProductsExcept([]);
  await store.putProduct(product({ id: 'mug', name: 'Mug', priceCents: 1200, stock: 5 }));
  await store.putProduct(product({ id: 'pot', name: 'Pot', priceCents: 4000, stock: 1 }));
});

/** A pending order of a shopper, as order-create writes it before reserving. */
async function pendingOrder(lines: Order['requested'] = [{ productId: 'mug', quantity: 2 }]): Promise<Order> {
  return storedOrder('inventory-shopper-000000000', { status: 'pending', requested: lines, items: [], totalCents: 0 });
}

/** A checkout as order-create runs it: reserve, claim the sale, confirm, settle. */
async function sell(order: Order): Promise<void> {
  await reserveStock(store, order.id, order.requested, now);
  expect(await claimSale(store, order.id, now)).toBe(true);
  await store.transitionOrder(order.id, ['pending'], { status: 'confirmed' });
  await finishSale(store, order.id, now);
}

/** A store whose `operation` first lets `meanwhile` run to its end: another attempt overtaking this one. */
function overtakenAt<K extends keyof ShopStore>(operation: K, meanwhile: () => Promise<unknown>): ShopStore {
  const racing: ShopStore = Object.create(store);
  let done = false;
  racing[operation] = (async (...args: unknown[]) => {
    if (!done) {
      done = true;
      await meanwhile();
    }
    return (store[operation] as (...a: unknown[]) => unknown).apply(store, args);
  }) as ShopStore[K];
  return racing;
}

describe('reserveStock', () => {
  it('merges repeated products before holding', () => {
    expect(mergeLines([{ productId: 'b', quantity: 1 }, { productId: 'a', quantity: 2 }, { productId: 'b', quantity: 3 }])).toEqual([
      { productId: 'a', quantity: 2 },
      { productId: 'b', quantity: 4 },
    ]);
  });

  it('holds every item and prices it from the catalog', async () => {
    const order = await pendingOrder([{ productId: 'mug', quantity: 2 }, { productId: 'pot', quantity: 1 }]);
    const reservation = await reserveStock(store, order.id, order.requested, now);
    expect(reservation).toEqual({
      orderId: order.id,
      items: [
        { productId: 'mug', name: 'Mug', priceCents: 1200, quantity: 2 },
        { productId: 'pot', name: 'Pot', priceCents: 4000, quantity: 1 },
      ],
    });
    expect(await stockOf('mug')).toBe(3);
    expect(await stockOf('pot')).toBe(0);
    expect(await audit('mug')).toMatchObject({ stock: 3, held: 2, sold: 0, supplied: 5 });
  });

  it('is idempotent per order id, concurrent attempts included', async () => {
    const order = await pendingOrder();
    const results = await Promise.all([1, 2, 3, 4].map(() => reserveStock(store, order.id, order.requested, now)));
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(await stockOf('mug')).toBe(3);
    expect(await store.openEntries()).toEqual([{ productId: 'mug', holds: [expect.objectContaining({ orderId: order.id, quantity: 2 })], returns: [] }]);
  });

  it('holds nothing when one item is short, and says which', async () => {
    const order = await pendingOrder([{ productId: 'mug', quantity: 2 }, { productId: 'pot', quantity: 2 }]);
    await expect(reserveStock(store, order.id, order.requested, now)).rejects.toMatchObject({
      status: 409,
      code: 'OUT_OF_STOCK',
      details: [{ productId: 'pot', requested: 2, available: 1 }],
    });
    expect(await stockOf('mug')).toBe(5);
    expect(await stockOf('pot')).toBe(1);
  });

  it('treats an unknown product as unavailable', async () => {
    const order = await pendingOrder([{ productId: 'nope', quantity: 1 }]);
    await expect(reserveStock(store, order.id, order.requested, now)).rejects.toMatchObject({
      code: 'OUT_OF_STOCK',
      details: [{ productId: 'nope', requested: 1, available: 0 }],
    });
  });

  it('refuses to reserve again once released', async () => {
    const order = await pendingOrder();
    await reserveStock(store, order.id, order.requested, now);
    expect(await releaseStock(store, order.id, now)).toEqual({ orderId: order.id, released: [{ productId: 'mug', quantity: 2 }] });
    await expect(reserveStock(store, order.id, order.requested, now)).rejects.toMatchObject({ code: 'RESERVATION_RELEASED' });
    expect(await stockOf('mug')).toBe(5);
  });

  it('gives back its hold when the order is released while it is still holding', async () => {
    const order = await pendingOrder();
    const racing = overtakenAt('updateReservation', () => releaseStock(store, order.id, now));
    await expect(reserveStock(racing, order.id, order.requested, now)).rejects.toMatchObject({ code: 'RESERVATION_RELEASED' });
    expect(await stockOf('mug')).toBe(5);
    expect(await store.openEntries()).toEqual([]);
  });

  it('undoes a late duplicate hold that lands after the order was sold', async () => {
    const order = await pendingOrder();
    await store.openReservation(order.id, order.requested, now());
    // This attempt stalls before its hold; meanwhile a retry reserves, and the order is confirmed and sold.
    const late = overtakenAt('holdStock', () => sell(order));
    expect(await reserveStock(late, order.id, order.requested, now)).toEqual({ orderId: order.id, items: [{ productId: 'mug', name: 'Mug', priceCents: 1200, quantity: 2 }] });
    expect(await audit('mug')).toMatchObject({ stock: 3, held: 0, sold: 2, supplied: 5 });
    expect(await store.openEntries()).toEqual([]);
  });
});

describe('selling', () => {
  it('turns the holds of a confirmed order into sold units, once', async () => {
    const order = await pendingOrder();
    await sell(order);
    await finishSale(store, order.id, now);
    expect(await audit('mug')).toMatchObject({ stock: 3, held: 0, sold: 2, supplied: 5 });
    expect((await store.getReservation(order.id))?.status).toBe('sold');
    // A late reservation request for a sold order answers its lines and takes nothing.
    expect((await reserveStock(store, order.id, order.requested, now)).items).toHaveLength(1);
    expect(await stockOf('mug')).toBe(3);
  });

  it('cannot claim a sale the checkout released, and never releases a claimed one of a live order', async () => {
    const released = await pendingOrder();
    await reserveStock(store, released.id, released.requested, now);
    await releaseStock(store, released.id, now);
    expect(await claimSale(store, released.id, now)).toBe(false);

    const claimed = await pendingOrder();
    await reserveStock(store, claimed.id, claimed.requested, now);
    await claimSale(store, claimed.id, now);
    await expect(releaseStock(store, claimed.id, now)).rejects.toMatchObject({ status: 409, code: 'RESERVATION_SOLD' });
    expect(await stockOf('mug')).toBe(3);
  });
});

describe('releaseStock', () => {
  it('returns the units once, however often it is called', async () => {
    const order = await pendingOrder([{ productId: 'mug', quantity: 3 }]);
    await reserveStock(store, order.id, order.requested, now);
    const results = await Promise.all([1, 2, 3, 4].map(() => releaseStock(store, order.id, now)));
    expect(results.flatMap((r) => r.released)).toEqual([{ productId: 'mug', quantity: 3 }]);
    expect(await stockOf('mug')).toBe(5);
  });

  it('is harmless for an order that never reserved', async () => {
    expect(await releaseStock(store, (await pendingOrder()).id, now)).toMatchObject({ released: [] });
    expect(await stockOf('mug')).toBe(5);
  });

  it('takes back the sold units of a cancelled order, once, concurrent cancellations included', async () => {
    const order = await pendingOrder();
    await sell(order);
    await store.transitionOrder(order.id, ['confirmed'], { status: 'cancelling' });
    const results = await Promise.all([1, 2, 3].map(() => releaseStock(store, order.id, now)));
    expect(results.flatMap((r) => r.released)).toEqual([{ productId: 'mug', quantity: 2 }]);
    expect(await audit('mug')).toMatchObject({ stock: 5, held: 0, returning: 0, sold: 0, supplied: 5 });
    expect((await store.getReservation(order.id))?.status).toBe('returned');
    expect((await store.listMovements({ orderId: order.id })).map((m) => `${m.kind} ${m.quantity}`).sort()).toEqual(['reserve -2', 'return 2']);
  });

  it('undoes a cancellation retried after its entries were cleaned up', async () => {
    const [order, other] = [await pendingOrder(), await pendingOrder()];
    await sell(order);
    await sell(other); // so that there are sold units a stale take-back could wrongly take
    await store.transitionOrder(order.id, ['confirmed'], { status: 'cancelling' });
    await store.updateReservation(order.id, ['sold'], { status: 'taking-back' });
    // A cancellation attempt stalls before taking back; another one finishes the whole return meanwhile.
    const stale = overtakenAt('takeBackSold', () => releaseStock(store, order.id, now));
    expect(await releaseStock(stale, order.id, now)).toEqual({ orderId: order.id, released: [] });
    expect(await audit('mug')).toMatchObject({ stock: 3, returning: 0, sold: 2, supplied: 5 });
    expect(await store.openEntries()).toEqual([]);
  });
});
