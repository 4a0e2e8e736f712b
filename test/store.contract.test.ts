/**
 * The store contract: the embedded store always, MongoDB when MONGO_URL is set
 * (e.g. MONGO_URL=mongodb://localhost:27017 npm test). Every adapter must pass all of it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedStore } from '../core/store/embedded';
import { openMongoStore } from '../core/store/mongo';
import type { ShopStore } from '../core/store/store';
import type { Order } from '../core/schemas';
import { product } from './support/fixtures';

interface Adapter {
  name: string;
  /** Opens a store on fresh, empty storage; `reopen` opens the same storage again. */
  fresh(): Promise<{ store: ShopStore; reopen: () => Promise<ShopStore>; dispose: () => Promise<void> }>;
}

const embedded: Adapter = {
  name: 'embedded',
  async fresh() {
    const dir = mkdtempSync(join(tmpdir(), 'shop-store-'));
    return {
      store: await openEmbeddedStore(dir),
      reopen: () => openEmbeddedStore(dir),
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
};

const mongoUrl = process.env.MONGO_URL;
const mongo: Adapter = {
  name: 'mongodb',
  async fresh() {
    const dbName = `shop_test_${randomBytes(6).toString('hex')}`;
    const url = mongoUrl as string;
    const store = await openMongoStore(url, dbName);
    return {
      store,
      reopen: () => openMongoStore(url, dbName),
      dispose: async () => {
        const { MongoClient } = await import('mongodb');
        const client = await MongoClient.connect(url);
        await client.db(dbName).dropDatabase();
        await client.close();
      },
    };
  },
};

if (!mongoUrl) {
  // Said out loud so nobody mistakes a green run for a MongoDB run.
  console.warn('store contract: MongoDB part SKIPPED (set MONGO_URL to run it against a real MongoDB)');
}

const adapters = mongoUrl ? [embedded, mongo] : [embedded];
const at = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();

function order(overrides: Partial<Order> = {}): Order {
  return {
    id: 'ord_AAAAAAAAAAAAAAAAAAAAAA',
    shopperId: 'shopper-aaaaaaaaaaaaaaaaaaaa',
    status: 'pending',
    customer: { name: 'Ada', email: 'ada@example.com', address: '1 Loop Road' },
    requested: [{ productId: 'test-mug', quantity: 1 }],
    items: [],
    totalCents: 0,
    createdAt: at(0),
    updatedAt: at(0),
    ...overrides,
  };
}

describe.each(adapters)('store contract: $name', (adapter) => {
  let store: ShopStore;
  let reopen: () => Promise<ShopStore>;
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    ({ store, reopen, dispose } = await adapter.fresh());
  });
  afterEach(async () => {
    await store.close();
    await dispose();
  });

  describe('catalog', () => {
    it('creates, updates and leaves alone a product by id', async () => {
      expect(await store.putProduct(product())).toBe('created');
      expect(await store.putProduct(product())).toBe('unchanged');
      expect(await store.putProduct(product({ priceCents: 999 }))).toBe('updated');
      expect(await store.getProducts(['test-mug'])).toEqual([product({ priceCents: 999 })]);
      expect(await store.countProducts()).toBe(1);
    });

    it('pages by name then id, and searches names case-insensitively', async () => {
      for (const [id, name] of [['b', 'Bravo'], ['a', 'Alpha'], ['c', 'Charlie mug'], ['d', 'Delta MUG']]) {
        await store.putProduct(product({ id: `p-${id}`, name: name as string }));
      }
      const first = await store.listProducts({ limit: 2 });
      expect(first.map((p) => p.name)).toEqual(['Alpha', 'Bravo']);
      const next = await store.listProducts({ limit: 2, after: { name: 'Bravo', id: 'p-b' } });
      expect(next.map((p) => p.name)).toEqual(['Charlie mug', 'Delta MUG']);
      expect((await store.listProducts({ limit: 10, q: 'mug' })).map((p) => p.id)).toEqual(['p-c', 'p-d']);
      // Regex characters are text, not patterns.
      expect(await store.listProducts({ limit: 10, q: '.*' })).toEqual([]);
    });

    it('sets stock of known products only and removes products not kept', async () => {
      await store.putProduct(product());
      await store.putProduct(product({ id: 'other' }));
      expect((await store.setStock('test-mug', 3))?.stock).toBe(3);
      expect(await store.setStock('missing', 3)).toBeNull();
      expect(await store.removeProductsExcept(['test-mug'])).toBe(1);
      expect((await store.getProducts(['test-mug', 'other'])).map((p) => p.id)).toEqual(['test-mug']);
    });
  });

  describe('stock holds', () => {
    it('holds once per order and never below zero', async () => {
      await store.putProduct(product({ stock: 5 }));
      const held = await store.holdStock('ord_1', 'test-mug', 3);
      expect(held).toMatchObject({ status: 'held', quantity: 3, product: { stock: 2 } });
      expect(await store.holdStock('ord_1', 'test-mug', 3)).toMatchObject({ status: 'already-held', quantity: 3 });
      expect(await store.holdStock('ord_2', 'test-mug', 3)).toEqual({ status: 'insufficient', available: 2 });
      expect(await store.holdStock('ord_2', 'missing', 1)).toEqual({ status: 'unknown-product' });
      expect((await store.getProducts(['test-mug']))[0]?.stock).toBe(2);
    });

    it('releases a hold exactly once, even when asked concurrently', async () => {
      await store.putProduct(product({ stock: 5 }));
      await store.holdStock('ord_1', 'test-mug', 4);
      const returned = await Promise.all(Array.from({ length: 10 }, () => store.releaseHold('ord_1', 'test-mug')));
      expect(returned.filter((n) => n > 0)).toEqual([4]);
      expect((await store.getProducts(['test-mug']))[0]?.stock).toBe(5);
      expect(await store.findHolds('ord_1')).toEqual([]);
    });

    it('sells exactly the stock to 200 concurrent holders', async () => {
      await store.putProduct(product({ stock: 37 }));
      const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => store.holdStock(`ord_${i}`, 'test-mug', 1)));
      expect(outcomes.filter((o) => o.status === 'held')).toHaveLength(37);
      expect((await store.getProducts(['test-mug']))[0]?.stock).toBe(0);
    });

    it('lists the holds of an order across products', async () => {
      await store.putProduct(product({ id: 'a' }));
      await store.putProduct(product({ id: 'b' }));
      await store.holdStock('ord_1', 'a', 2);
      await store.holdStock('ord_1', 'b', 1);
      await store.holdStock('ord_2', 'b', 1);
      const holds = await store.findHolds('ord_1');
      expect(holds.sort((x, y) => x.productId.localeCompare(y.productId))).toEqual([
        { productId: 'a', quantity: 2 },
        { productId: 'b', quantity: 1 },
      ]);
    });

    it('keeps holds when a product is replaced', async () => {
      await store.putProduct(product({ stock: 5 }));
      await store.holdStock('ord_1', 'test-mug', 2);
      await store.putProduct(product({ stock: 9, name: 'Renamed' }));
      expect(await store.releaseHold('ord_1', 'test-mug')).toBe(2);
      expect((await store.getProducts(['test-mug']))[0]).toMatchObject({ stock: 11, name: 'Renamed' });
    });
  });

  describe('stock accounting', () => {
    const ledgerSum = async (productId: string) => (await store.listMovements({ productId })).reduce((sum, m) => sum + m.quantity, 0);

    it('keeps supplied = stock + held through restocks racing with reservations', async () => {
      await store.putProduct(product({ stock: 50 }));
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => store.holdStock(`ord_${i}`, 'test-mug', 1)),
        ...Array.from({ length: 5 }, (_, i) => store.setStock('test-mug', 10 + i)),
        ...Array.from({ length: 10 }, (_, i) => store.releaseHold(`ord_${i}`, 'test-mug')),
      ]);
      const [audit] = await store.stockAudit();
      expect(audit?.supplied).toBe((audit?.stock ?? 0) + (audit?.held ?? 0));
      const holds = await store.allHolds();
      expect([...holds.values()].flat().reduce((sum, l) => sum + l.quantity, 0)).toBe(audit?.held);
      // The ledger tells the same story as the documents.
      expect(await ledgerSum('test-mug')).toBe(audit?.stock);
      const movements = await store.listMovements({ productId: 'test-mug' });
      expect(movements.filter((m) => m.kind === 'reserve').reduce((sum, m) => sum - m.quantity, 0) - movements.filter((m) => m.kind === 'release').reduce((sum, m) => sum + m.quantity, 0)).toBe(audit?.held);
    });

    it('records each movement once, however often it is retried', async () => {
      await store.putProduct(product({ stock: 5 }));
      await store.holdStock('ord_1', 'test-mug', 2);
      await store.holdStock('ord_1', 'test-mug', 2);
      await store.releaseHold('ord_1', 'test-mug');
      await store.releaseHold('ord_1', 'test-mug');
      const recorded = (await store.listMovements({ productId: 'test-mug' })).map((m) => `${m.kind} ${m.quantity}`);
      expect(recorded.sort()).toEqual(['release 2', 'reserve -2', 'supply 5']);
    });
  });

  describe('reservations', () => {
    it('records the first reservation and keeps it; marks released', async () => {
      const record = { orderId: 'ord_1', status: 'held' as const, items: [], createdAt: at(1), updatedAt: at(1) };
      expect(await store.recordReservation(record)).toEqual(record);
      expect(await store.recordReservation({ ...record, createdAt: at(2), updatedAt: at(2) })).toEqual(record);
      await store.markReservationReleased('ord_1', at(3));
      expect(await store.getReservation('ord_1')).toMatchObject({ status: 'released', updatedAt: at(3) });
      await store.markReservationReleased('ord_never', at(4));
      expect(await store.getReservation('ord_never')).toEqual({ orderId: 'ord_never', status: 'released', items: [], createdAt: at(4), updatedAt: at(4) });
    });
  });

  it('finds held reservations by creation time and orders by status and age, oldest first', async () => {
    for (const [id, n] of [['ord_b', 2], ['ord_a', 1], ['ord_c', 9]] as const) {
      await store.recordReservation({ orderId: id, status: 'held', items: [], createdAt: at(n), updatedAt: at(n) });
    }
    await store.markReservationReleased('ord_b', at(3));
    expect((await store.findHeldReservations(at(0), at(5), 10)).map((r) => r.orderId)).toEqual(['ord_a']);
    await store.insertOrder(order({ id: 'ord_new', updatedAt: at(8) }));
    await store.insertOrder(order({ id: 'ord_old', updatedAt: at(2) }));
    await store.insertOrder(order({ id: 'ord_done', status: 'confirmed', updatedAt: at(1) }));
    expect((await store.findOrdersByStatus('pending', at(9), 10)).map((o) => o.id)).toEqual(['ord_old', 'ord_new']);
    expect((await store.findOrdersByStatus('pending', at(5), 10)).map((o) => o.id)).toEqual(['ord_old']);
  });

  describe('carts', () => {
    it('replaces a cart only at the version it was read', async () => {
      const empty = await store.getCart('s1');
      expect(empty).toEqual({ shopperId: 's1', lines: [], version: 0 });
      expect(await store.replaceCart('s1', [{ productId: 'a', quantity: 1 }], 0)).toBe(true);
      expect(await store.replaceCart('s1', [{ productId: 'b', quantity: 1 }], 0)).toBe(false);
      expect(await store.replaceCart('s1', [{ productId: 'a', quantity: 2 }], 1)).toBe(true);
      expect(await store.replaceCart('s1', [], 1)).toBe(false);
      expect(await store.getCart('s1')).toEqual({ shopperId: 's1', lines: [{ productId: 'a', quantity: 2 }], version: 2 });
    });
  });

  describe('orders', () => {
    it('inserts an order once and transitions it only from the given states', async () => {
      expect(await store.insertOrder(order())).toEqual({ inserted: true, order: order() });
      const again = await store.insertOrder(order({ totalCents: 5 }));
      expect(again).toEqual({ inserted: false, order: order() });
      expect(await store.transitionOrder(order().id, ['confirmed'], { status: 'cancelled' })).toBeNull();
      const confirmed = await store.transitionOrder(order().id, ['pending'], { status: 'confirmed', totalCents: 100, updatedAt: at(5) });
      expect(confirmed).toEqual(order({ status: 'confirmed', totalCents: 100, updatedAt: at(5) }));
      expect(await store.transitionOrder(order().id, ['pending'], { status: 'failed' })).toBeNull();
      expect(await store.getOrder(order().id)).toEqual(confirmed);
      expect(await store.getOrder('ord_missing')).toBeNull();
    });

    it('lists a shopper’s orders newest first, and only theirs', async () => {
      await store.insertOrder(order({ id: 'ord_old', createdAt: at(1) }));
      await store.insertOrder(order({ id: 'ord_new', createdAt: at(3) }));
      await store.insertOrder(order({ id: 'ord_mid', createdAt: at(2) }));
      await store.insertOrder(order({ id: 'ord_theirs', shopperId: 'someone-else-aaaaaaaaaaa', createdAt: at(4) }));
      const list = await store.listOrders(order().shopperId, 2);
      expect(list.map((o) => o.id)).toEqual(['ord_new', 'ord_mid']);
      expect((await store.listRecentOrders(2)).map((o) => o.id)).toEqual(['ord_theirs', 'ord_new']);
    });
  });

  it('keeps everything across a reopen', async () => {
    await store.putProduct(product({ stock: 5 }));
    await store.holdStock('ord_1', 'test-mug', 2);
    await store.replaceCart('s1', [{ productId: 'test-mug', quantity: 1 }], 0);
    await store.insertOrder(order());
    await store.close();
    store = await reopen();
    expect((await store.getProducts(['test-mug']))[0]?.stock).toBe(3);
    expect(await store.findHolds('ord_1')).toEqual([{ productId: 'test-mug', quantity: 2 }]);
    expect((await store.getCart('s1')).lines).toEqual([{ productId: 'test-mug', quantity: 1 }]);
    expect(await store.getOrder(order().id)).toEqual(order());
  });
});

describe('embedded store', () => {
  it('refuses a data directory another live process holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shop-lock-'));
    const first = await openEmbeddedStore(dir);
    await expect(openEmbeddedStore(dir)).rejects.toThrow(/in use by process/);
    await first.close();
    const second = await openEmbeddedStore(dir);
    await second.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
