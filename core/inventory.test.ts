import { releaseStock, reserveStock, mergeLines } from './inventory';
import type { ShopStore } from './store/store';
import { product, testStore, useFreshShopEnvironment } from '../test/support/fixtures';

const now = () => new Date().toISOString();
const env = useFreshShopEnvironment();
afterAll(() => env.cleanup());

let store: ShopStore;
let n = 0;
const orderId = () => `ord_inventorytest${String(++n).padStart(7, '0')}`;
const stockOf = async (id: string) => (await store.getProducts([id]))[0]?.stock;

beforeAll(async () => {
  store = await testStore();
});
beforeEach(async () => {
  await store.putProduct(product({ id: 'mug', name: 'Mug', priceCents: 1200, stock: 5 }));
  await store.putProduct(product({ id: 'pot', name: 'Pot', priceCents: 4000, stock: 1 }));
});

describe('reserveStock', () => {
  it('merges repeated products before holding', () => {
    expect(mergeLines([{ productId: 'b', quantity: 1 }, { productId: 'a', quantity: 2 }, { productId: 'b', quantity: 3 }])).toEqual([
      { productId: 'a', quantity: 2 },
      { productId: 'b', quantity: 4 },
    ]);
  });

  it('holds every item and prices it from the catalog', async () => {
    const id = orderId();
    const reservation = await reserveStock(store, id, [{ productId: 'mug', quantity: 2 }, { productId: 'pot', quantity: 1 }], now);
    expect(reservation).toEqual({
      orderId: id,
      items: [
        { productId: 'mug', name: 'Mug', priceCents: 1200, quantity: 2 },
        { productId: 'pot', name: 'Pot', priceCents: 4000, quantity: 1 },
      ],
    });
    expect(await stockOf('mug')).toBe(3);
    expect(await stockOf('pot')).toBe(0);
  });

  it('is idempotent per order id', async () => {
    const id = orderId();
    const first = await reserveStock(store, id, [{ productId: 'mug', quantity: 2 }], now);
    const again = await Promise.all([1, 2, 3].map(() => reserveStock(store, id, [{ productId: 'mug', quantity: 2 }], now)));
    expect(again).toEqual([first, first, first]);
    expect(await stockOf('mug')).toBe(3);
  });

  it('holds nothing when one item is short, and says which', async () => {
    const id = orderId();
    await expect(reserveStock(store, id, [{ productId: 'mug', quantity: 2 }, { productId: 'pot', quantity: 2 }], now)).rejects.toMatchObject({
      status: 409,
      code: 'OUT_OF_STOCK',
      details: [{ productId: 'pot', requested: 2, available: 1 }],
    });
    expect(await stockOf('mug')).toBe(5);
    expect(await stockOf('pot')).toBe(1);
  });

  it('treats an unknown product as unavailable', async () => {
    await expect(reserveStock(store, orderId(), [{ productId: 'nope', quantity: 1 }], now)).rejects.toMatchObject({
      code: 'OUT_OF_STOCK',
      details: [{ productId: 'nope', requested: 1, available: 0 }],
    });
  });

  it('refuses to reserve again once released, and gives back a late hold', async () => {
    const id = orderId();
    await reserveStock(store, id, [{ productId: 'mug', quantity: 2 }], now);
    expect(await releaseStock(store, id, now)).toEqual({ orderId: id, released: [{ productId: 'mug', quantity: 2 }] });
    await expect(reserveStock(store, id, [{ productId: 'mug', quantity: 2 }], now)).rejects.toMatchObject({ code: 'RESERVATION_RELEASED' });
    expect(await stockOf('mug')).toBe(5);
  });
});

it('gives back its holds when the order is released while it is still holding', async () => {
  const id = orderId();
  // A release (the checkout gave up) lands between this reservation's hold and its record.
  const racing: ShopStore = Object.create(store);
  racing.holdStock = async (...args) => {
    const outcome = await store.holdStock(...args);
    await releaseStock(store, id, now);
    return outcome;
  };
  await expect(reserveStock(racing, id, [{ productId: 'mug', quantity: 2 }], now)).rejects.toMatchObject({ code: 'RESERVATION_RELEASED' });
  expect(await stockOf('mug')).toBe(5);
  expect(await store.findHolds(id)).toEqual([]);
});

describe('releaseStock', () => {
  it('returns the units once, however often it is called', async () => {
    const id = orderId();
    await reserveStock(store, id, [{ productId: 'mug', quantity: 3 }], now);
    const results = await Promise.all([1, 2, 3, 4].map(() => releaseStock(store, id, now)));
    expect(results.flatMap((r) => r.released)).toEqual([{ productId: 'mug', quantity: 3 }]);
    expect(await stockOf('mug')).toBe(5);
  });

  it('is harmless for an order that never reserved', async () => {
    expect(await releaseStock(store, orderId(), now)).toMatchObject({ released: [] });
    expect(await stockOf('mug')).toBe(5);
  });
});
