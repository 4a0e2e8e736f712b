import { mergeLines, releaseStock, reserveStock, sellStock, undoHolds } from './inventory';
import type { Order, Reservation } from './schemas';
import type { OrderStock, ShopStore } from './store/store';
import { product, testStore, useFreshShopEnvironment } from '../test/support/fixtures';
import { anOrder } from '../test/support/orders';

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

/** A checkout not decided yet: nothing stored for it. */
function newOrder(lines: Order['requested'] = [{ productId: 'mug', quantity: 2 }]): Order {
  return anOrder('inventory-shopper-000000000', { status: 'confirmed', requested: lines, items: [], totalCents: 0 });
}

/** Decides the order, as order-create does once its stock is held. */
async function decide(order: Order, status: 'confirmed' | 'failed', reservation?: Reservation): Promise<OrderStock> {
  const decided = { ...order, status, items: reservation?.items ?? [] };
  const { decision } = await store.decideOrder(decided, reservation?.holds ?? {});
  if (decision.kind !== 'order') throw new Error('not decided as an order');
  return decision.stock;
}

/** A checkout as order-create runs it: reserve, confirm with the holds, sell them. */
async function sell(order: Order): Promise<OrderStock> {
  const stock = await decide(order, 'confirmed', await reserveStock(store, order.id, order.requested));
  await sellStock(store, stock);
  return stock;
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

  it('holds every item, prices it from the catalog, and names the holds it made', async () => {
    const order = newOrder([{ productId: 'mug', quantity: 2 }, { productId: 'pot', quantity: 1 }]);
    const reservation = await reserveStock(store, order.id, order.requested);
    expect(reservation).toEqual({
      orderId: order.id,
      items: [
        { productId: 'mug', name: 'Mug', priceCents: 1200, quantity: 2 },
        { productId: 'pot', name: 'Pot', priceCents: 4000, quantity: 1 },
      ],
      holds: { mug: reservation.attempt, pot: reservation.attempt },
      attempt: expect.any(String),
    });
    expect(await stockOf('mug')).toBe(3);
    expect(await stockOf('pot')).toBe(0);
    expect(await audit('mug')).toMatchObject({ stock: 3, held: 2, sold: 0, supplied: 5 });
    expect(await store.getDecision(order.id)).toBeNull();
  });

  it('holds once per order: concurrent attempts adopt the same holds', async () => {
    const order = newOrder();
    const results = await Promise.all([1, 2, 3, 4].map(() => reserveStock(store, order.id, order.requested)));
    expect(new Set(results.map((r) => JSON.stringify([r.items, r.holds]))).size).toBe(1);
    expect(results.filter((r) => r.holds.mug === r.attempt)).toHaveLength(1);
    expect(await stockOf('mug')).toBe(3);
    expect(await store.openEntries()).toEqual([{ productId: 'mug', holds: [expect.objectContaining({ orderId: order.id, quantity: 2, token: results[0]?.holds.mug })], returns: [] }]);
  });

  it('holds nothing when one item is short, and says which', async () => {
    const order = newOrder([{ productId: 'mug', quantity: 2 }, { productId: 'pot', quantity: 2 }]);
    await expect(reserveStock(store, order.id, order.requested)).rejects.toMatchObject({
      status: 409,
      code: 'OUT_OF_STOCK',
      details: [{ productId: 'pot', requested: 2, available: 1 }],
    });
    expect(await stockOf('mug')).toBe(5);
    expect(await stockOf('pot')).toBe(1);
    expect(await store.openEntries()).toEqual([]);
  });

  it('gives back only its own holds when it is short, never another attempt’s', async () => {
    const order = newOrder([{ productId: 'mug', quantity: 2 }]);
    const first = await reserveStock(store, order.id, order.requested);
    await expect(reserveStock(store, order.id, [{ productId: 'mug', quantity: 2 }, { productId: 'pot', quantity: 2 }])).rejects.toMatchObject({ code: 'OUT_OF_STOCK' });
    expect(await store.openEntries()).toEqual([{ productId: 'mug', holds: [expect.objectContaining({ token: first.attempt })], returns: [] }]);
  });

  it('treats an unknown product as unavailable', async () => {
    const order = newOrder([{ productId: 'nope', quantity: 1 }]);
    await expect(reserveStock(store, order.id, order.requested)).rejects.toMatchObject({
      code: 'OUT_OF_STOCK',
      details: [{ productId: 'nope', requested: 1, available: 0 }],
    });
  });
});

describe('undoHolds', () => {
  it('gives back the holds an attempt made that the decided order does not count', async () => {
    const order = newOrder([{ productId: 'mug', quantity: 2 }, { productId: 'pot', quantity: 1 }]);
    const reservation = await reserveStock(store, order.id, order.requested);
    // Another attempt decided the order counting only the mug hold (it made the pot hold itself, which died with it).
    await undoHolds(store, order.id, reservation.holds, reservation.attempt, { mug: reservation.attempt, pot: 'another-attempt' });
    expect(await audit('mug')).toMatchObject({ stock: 3, held: 2 });
    expect(await audit('pot')).toMatchObject({ stock: 1, held: 0 });
  });

  it('undoes a late duplicate hold that lands after the order was sold, answering the order’s holds', async () => {
    const order = newOrder();
    const { holdTokens } = await sell(order);
    // A stalled attempt holds only now: the order is decided, and does not count its hold.
    const late = await reserveStock(store, order.id, order.requested);
    expect(late).toMatchObject({ items: [{ productId: 'mug', quantity: 2 }], holds: holdTokens });
    expect(late.holds.mug).not.toBe(late.attempt);
    expect(await audit('mug')).toMatchObject({ stock: 3, held: 0, sold: 2, supplied: 5 });
    expect(await store.openEntries()).toEqual([]);
  });

  it('undoes a hold that lands after the order failed, and says the checkout was given up', async () => {
    const order = newOrder();
    await decide(order, 'failed');
    await expect(reserveStock(store, order.id, order.requested)).rejects.toMatchObject({ status: 409, code: 'RESERVATION_RELEASED' });
    expect(await audit('mug')).toMatchObject({ stock: 5, held: 0 });
  });
});

describe('sellStock', () => {
  it('turns the holds a confirmed order counts into sold units, once', async () => {
    const order = newOrder();
    const stock = await sell(order);
    await sellStock(store, stock);
    expect(await audit('mug')).toMatchObject({ stock: 3, held: 0, sold: 2, supplied: 5 });
    expect(await store.openEntries()).toEqual([]);
  });
});

describe('releaseStock', () => {
  it('gives back every hold of a failed order once, whatever attempt made it, however often it is called', async () => {
    const order = newOrder([{ productId: 'mug', quantity: 3 }]);
    await reserveStock(store, order.id, order.requested);
    await decide(order, 'failed');
    const results = await Promise.all([1, 2, 3, 4].map(() => releaseStock(store, order.id)));
    expect(results.flatMap((r) => r.released)).toEqual([{ productId: 'mug', quantity: 3 }]);
    expect(await stockOf('mug')).toBe(5);
    expect(await store.openEntries()).toEqual([]);
  });

  it('gives back nothing for an order id that stands for no order', async () => {
    const order = newOrder();
    await reserveStock(store, order.id, order.requested);
    expect(await releaseStock(store, order.id)).toEqual({ orderId: order.id, released: [] });
    expect(await stockOf('mug')).toBe(3);
  });

  it('never gives back the stock of a confirmed order, nor of one an older version is still deciding', async () => {
    const confirmed = newOrder();
    await sell(confirmed);
    await expect(releaseStock(store, confirmed.id)).rejects.toMatchObject({ status: 409, code: 'RESERVATION_SOLD' });
    const pending = newOrder();
    await reserveStock(store, pending.id, pending.requested);
    await store.decideOrder({ ...pending, status: 'pending' }, {});
    await expect(releaseStock(store, pending.id)).rejects.toMatchObject({ status: 409, code: 'ORDER_IN_PROGRESS' });
    expect(await audit('mug')).toMatchObject({ stock: 1, held: 2, sold: 2 });
  });

  it('takes back the sold units of a cancelled order, once, concurrent cancellations included', async () => {
    const order = newOrder();
    await sell(order);
    await store.transitionOrder(order.id, ['confirmed'], { status: 'cancelling' });
    const results = await Promise.all([1, 2, 3].map(() => releaseStock(store, order.id)));
    expect(results.flatMap((r) => r.released)).toEqual([{ productId: 'mug', quantity: 2 }]);
    expect(await audit('mug')).toMatchObject({ stock: 5, held: 0, returning: 0, sold: 0, supplied: 5 });
    expect(await releaseStock(store, order.id)).toEqual({ orderId: order.id, released: [] });
    await store.flushLedger();
    expect((await store.listMovements({ orderId: order.id })).map((m) => `${m.kind} ${m.quantity}`).sort()).toEqual(['reserve -2', 'return 2']);
  });

  it('returns what a checkout that died before recording its sale still held, once', async () => {
    const order = newOrder();
    await decide(order, 'confirmed', await reserveStock(store, order.id, order.requested));
    await store.transitionOrder(order.id, ['confirmed'], { status: 'cancelling' });
    expect(await releaseStock(store, order.id)).toEqual({ orderId: order.id, released: [{ productId: 'mug', quantity: 2 }] });
    expect(await audit('mug')).toMatchObject({ stock: 5, held: 0, returning: 0, sold: 0, supplied: 5 });
  });

  it('undoes a take-back by a cancellation attempt that stalled and landed after another finished', async () => {
    const [order, other] = [newOrder(), newOrder()];
    await sell(order);
    await sell(other); // so that there are sold units a stale take-back could wrongly take
    await store.transitionOrder(order.id, ['confirmed'], { status: 'cancelling' });
    // A cancellation attempt stalls before taking back; another one finishes the whole return meanwhile.
    const stale = overtakenAt('takeBackSold', () => releaseStock(store, order.id));
    expect(await releaseStock(stale, order.id)).toEqual({ orderId: order.id, released: [] });
    expect(await audit('mug')).toMatchObject({ stock: 3, returning: 0, sold: 2, supplied: 5 });
    expect(await store.openEntries()).toEqual([]);
  });
});
