/**
 * The store contract: the embedded store always, MongoDB when MONGO_URL is set
 * (e.g. MONGO_URL=mongodb://localhost:27017 npm test). Every adapter must pass all of it,
 * including the part where several processes hammer one store at once.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LEDGER_BATCH } from '../core/store/document-store';
import { openEmbeddedStore } from '../core/store/embedded';
import { openMongoStore } from '../core/store/mongo';
import type { ShopStore } from '../core/store/store';
import type { Order } from '../core/schemas';
import { ROOT } from '../runtime/build';
import { product } from './support/fixtures';
import { anOrder } from './support/orders';

interface Adapter {
  name: string;
  /** Opens a store on fresh, empty storage; `reopen` opens the same storage again; `env` points a process at it. */
  fresh(): Promise<{ store: ShopStore; reopen: () => Promise<ShopStore>; env: Record<string, string>; dispose: () => Promise<void> }>;
}

const embedded: Adapter = {
  name: 'embedded',
  async fresh() {
    const dir = mkdtempSync(join(tmpdir(), 'shop-store-'));
    return {
      store: await openEmbeddedStore(dir),
      reopen: () => openEmbeddedStore(dir),
      env: { DATA_DIR: dir },
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
      env: { MONGO_URL: url, MONGO_DB: dbName },
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

const order = (overrides: Partial<Order> = {}): Order =>
  anOrder('shopper-aaaaaaaaaaaaaaaaaaaa', { id: 'ord_AAAAAAAAAAAAAAAAAAAAAA', status: 'pending', items: [], totalCents: 0, createdAt: at(0), updatedAt: at(0), ...overrides });

describe.each(adapters)('store contract: $name', (adapter) => {
  let store: ShopStore;
  let reopen: () => Promise<ShopStore>;
  let env: Record<string, string>;
  let dispose: () => Promise<void>;
  const audit = async (id = 'test-mug') => (await store.stockAudit()).find((a) => a.productId === id);

  beforeEach(async () => {
    ({ store, reopen, env, dispose } = await adapter.fresh());
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

  describe('stock moves', () => {
    it('holds once per order and never below zero', async () => {
      await store.putProduct(product({ stock: 5 }));
      expect(await store.holdStock('ord_1', 'test-mug', 3, 't1')).toEqual({ status: 'held', product: { id: 'test-mug', name: 'Test Mug', priceCents: 1250 } });
      expect(await store.holdStock('ord_1', 'test-mug', 3, 't2')).toMatchObject({ status: 'already-held', token: 't1', quantity: 3 });
      expect(await store.holdStock('ord_2', 'test-mug', 3, 't3')).toEqual({ status: 'insufficient', available: 2 });
      expect(await store.holdStock('ord_2', 'missing', 1, 't3')).toEqual({ status: 'unknown-product' });
      expect(await audit()).toMatchObject({ stock: 2, held: 3, sold: 0, supplied: 5 });
    });

    it('releases a hold exactly once, even when asked concurrently, and only the given attempt’s', async () => {
      await store.putProduct(product({ stock: 5 }));
      await store.holdStock('ord_1', 'test-mug', 4, 't1');
      expect(await store.releaseHold('ord_1', 'test-mug', 'another-attempt')).toBe(0);
      const returned = await Promise.all(Array.from({ length: 10 }, () => store.releaseHold('ord_1', 'test-mug')));
      expect(returned.filter((n) => n > 0)).toEqual([4]);
      expect(await audit()).toMatchObject({ stock: 5, held: 0 });
      expect(await store.openEntries()).toEqual([]);
    });

    it('sells exactly the stock to 200 concurrent holders', async () => {
      await store.putProduct(product({ stock: 37 }));
      const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => store.holdStock(`ord_${i}`, 'test-mug', 1, `t${i}`)));
      expect(outcomes.filter((o) => o.status === 'held')).toHaveLength(37);
      expect((await store.getProducts(['test-mug']))[0]?.stock).toBe(0);
    });

    it('sells a hold once, only with its own token and quantity, and leaves no entry behind', async () => {
      await store.putProduct(product({ stock: 5 }));
      await store.holdStock('ord_1', 'test-mug', 2, 't1');
      expect(await store.sellHold('ord_1', 'test-mug', 2, 'not-t1')).toBe(false);
      expect(await store.sellHold('ord_1', 'test-mug', 3, 't1')).toBe(false);
      expect((await Promise.all([1, 2, 3].map(() => store.sellHold('ord_1', 'test-mug', 2, 't1')))).sort()).toEqual([false, false, true]);
      expect(await audit()).toMatchObject({ stock: 3, held: 0, sold: 2, supplied: 5 });
      expect(await store.openEntries()).toEqual([]);
    });

    it('takes sold units back once per order, restocks them by token, and can undo a duplicate take-back', async () => {
      await store.putProduct(product({ stock: 5 }));
      for (const id of ['ord_1', 'ord_2']) {
        await store.holdStock(id, 'test-mug', 2, `hold-${id}`);
        await store.sellHold(id, 'test-mug', 2, `hold-${id}`);
      }
      expect(await store.takeBackSold('ord_1', 'test-mug', 2, 'r1')).toEqual({ status: 'taken' });
      expect(await store.takeBackSold('ord_1', 'test-mug', 2, 'r2')).toEqual({ status: 'already-taken', token: 'r1' });
      expect(await audit()).toMatchObject({ stock: 1, returning: 2, sold: 2 });
      expect(await store.restockReturn('ord_1', 'test-mug', 'r2')).toBe(0);
      expect(await store.restockReturn('ord_1', 'test-mug', 'r1')).toBe(2);
      expect(await store.restockReturn('ord_1', 'test-mug', 'r1')).toBe(0);
      // A duplicate take-back after the return: undone, the units stay sold.
      expect(await store.takeBackSold('ord_1', 'test-mug', 2, 'r3')).toEqual({ status: 'taken' });
      expect(await store.keepSold('ord_1', 'test-mug', 'r3')).toBe(true);
      expect(await store.keepSold('ord_1', 'test-mug', 'r3')).toBe(false);
      expect(await audit()).toMatchObject({ stock: 3, held: 0, returning: 0, sold: 2, supplied: 5 });
      expect(await store.takeBackSold('ord_9', 'test-mug', 9, 'r4')).toEqual({ status: 'not-sold' });
    });

    it('keeps entries and sold units when a product is replaced', async () => {
      await store.putProduct(product({ stock: 5 }));
      await store.holdStock('ord_1', 'test-mug', 2, 't1');
      await store.holdStock('ord_2', 'test-mug', 1, 't2');
      await store.sellHold('ord_2', 'test-mug', 1, 't2');
      await store.putProduct(product({ stock: 9, name: 'Renamed' }));
      expect(await store.releaseHold('ord_1', 'test-mug', 't1')).toBe(2);
      expect((await store.getProducts(['test-mug']))[0]).toMatchObject({ stock: 11, name: 'Renamed' });
      expect(await audit()).toMatchObject({ stock: 11, sold: 1, supplied: 12 });
    });

    it('lists the entries in flight, product by product', async () => {
      await store.putProduct(product({ id: 'a' }));
      await store.putProduct(product({ id: 'b' }));
      await store.holdStock('ord_1', 'a', 2, 't1');
      await store.holdStock('ord_1', 'b', 1, 't1');
      const entries = await store.openEntries();
      expect(entries.map((e) => [e.productId, e.holds.map((h) => [h.orderId, h.quantity, h.token])]).sort()).toEqual([
        ['a', [['ord_1', 2, 't1']]],
        ['b', [['ord_1', 1, 't1']]],
      ]);
      expect(entries[0]?.holds[0]?.at).toEqual(expect.any(String));
    });
  });

  describe('stock accounting', () => {
    const ledgerSum = async (productId: string) => (await store.listMovements({ productId })).reduce((sum, m) => sum + m.quantity, 0);

    it('keeps supplied = stock + held + sold through restocks racing with holds, sales and releases', async () => {
      await store.putProduct(product({ stock: 50 }));
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => store.holdStock(`ord_${i}`, 'test-mug', 1, `t${i}`)),
        ...Array.from({ length: 5 }, (_, i) => store.setStock('test-mug', 10 + i)),
        ...Array.from({ length: 10 }, (_, i) => store.releaseHold(`ord_${i}`, 'test-mug')),
        ...Array.from({ length: 10 }, (_, i) => store.sellHold(`ord_${i + 20}`, 'test-mug', 1, `t${i + 20}`)),
      ]);
      const a = await audit();
      expect(a?.supplied).toBe((a?.stock ?? 0) + (a?.held ?? 0) + (a?.sold ?? 0));
      // The ledger tells the same story as the documents, once the outboxes are flushed.
      await store.flushLedger();
      expect(await ledgerSum('test-mug')).toBe(a?.stock);
      const movements = await store.listMovements({ productId: 'test-mug' });
      expect(-movements.filter((m) => m.kind === 'reserve' || m.kind === 'release').reduce((sum, m) => sum + m.quantity, 0)).toBe((a?.held ?? 0) + (a?.sold ?? 0));
      expect(movements.filter((m) => m.kind === 'supply').reduce((sum, m) => sum + m.quantity, 0)).toBe(a?.supplied);
      expect(await store.flushLedger()).toBe(0);
    });

    it('records each movement once, however often it is retried', async () => {
      await store.putProduct(product({ stock: 5 }));
      await store.holdStock('ord_1', 'test-mug', 2, 't1');
      await store.holdStock('ord_1', 'test-mug', 2, 't1');
      await store.releaseHold('ord_1', 'test-mug');
      await store.releaseHold('ord_1', 'test-mug');
      expect(await store.flushLedger()).toBe(2);
      expect(await store.flushLedger()).toBe(0);
      const recorded = (await store.listMovements({ productId: 'test-mug' })).map((m) => `${m.kind} ${m.quantity}`);
      expect(recorded.sort()).toEqual(['release 2', 'reserve -2', 'supply 5']);
    });

    it('records a supply at once, and other movements a batch at a time, listing the waiting ones too', async () => {
      await store.putProduct(product({ stock: 1000 }));
      expect(await store.flushLedger()).toBe(0);
      for (let i = 1; i < LEDGER_BATCH; i++) await store.holdStock(`ord_a${i}`, 'test-mug', 1, `t${i}`);
      // Not a full batch yet: they wait in the outbox, and the ledger lists them all the same.
      expect(await store.listMovements({ productId: 'test-mug', kind: 'reserve' })).toHaveLength(LEDGER_BATCH - 1);
      expect(await store.flushLedger()).toBe(LEDGER_BATCH - 1);
      for (let i = 1; i <= LEDGER_BATCH; i++) await store.holdStock(`ord_b${i}`, 'test-mug', 1, `t${i}`);
      // A full batch moved itself.
      expect(await store.flushLedger()).toBe(0);
      expect(await store.listMovements({ productId: 'test-mug', kind: 'reserve' })).toHaveLength(2 * LEDGER_BATCH - 1);
    });
  });

  describe('carts', () => {
    it('replaces a cart only at the version it was read', async () => {
      const empty = await store.getCart('s1');
      expect(empty).toEqual({ shopperId: 's1', lines: [], version: 0 });
      expect(await store.replaceCart('s1', [{ productId: 'a', quantity: 1 }], 0, at(1))).toBe(true);
      expect(await store.replaceCart('s1', [{ productId: 'b', quantity: 1 }], 0, at(1))).toBe(false);
      expect(await store.replaceCart('s1', [{ productId: 'a', quantity: 2 }], 1, at(2))).toBe(true);
      expect(await store.replaceCart('s1', [], 1, at(3))).toBe(false);
      expect(await store.getCart('s1')).toEqual({ shopperId: 's1', lines: [{ productId: 'a', quantity: 2 }], version: 2 });
    });

    it('removes carts untouched since a moment, a batch at a time, and keeps the others', async () => {
      for (const [id, n] of [['old-1', 1], ['old-2', 2], ['new', 9]] as const) await store.replaceCart(id, [{ productId: 'a', quantity: 1 }], 0, at(n));
      expect(await store.removeCartsUntouchedSince(at(5), 1)).toBe(1);
      expect(await store.removeCartsUntouchedSince(at(5), 10)).toBe(1);
      expect(await store.removeCartsUntouchedSince(at(5), 10)).toBe(0);
      expect((await store.getCart('old-1')).version).toBe(0);
      expect((await store.getCart('new')).lines).toEqual([{ productId: 'a', quantity: 1 }]);
    });
  });

  describe('orders', () => {
    const decided = (o: Order, holdTokens = {}) => ({ kind: 'order', stock: { order: o, holdTokens } });

    it('keeps the first decision for an order id, with the holds it counts', async () => {
      const confirmed = order({ status: 'confirmed' });
      expect(await store.decideOrder(confirmed, { 'test-mug': 't1' })).toEqual({ decided: true, decision: decided(confirmed, { 'test-mug': 't1' }) });
      const failed = order({ status: 'failed', failure: { code: 'OUT_OF_STOCK', message: 'gone' } });
      expect(await store.decideOrder(failed, {})).toEqual({ decided: false, decision: decided(confirmed, { 'test-mug': 't1' }) });
      expect(await store.getDecision(confirmed.id)).toEqual(decided(confirmed, { 'test-mug': 't1' }));
      // The tokens are the store's: the order read back is the order.
      expect(await store.getOrder(confirmed.id)).toEqual(confirmed);
      expect(await store.getDecision('ord_missing')).toBeNull();
      expect(await store.getOrder('ord_missing')).toBeNull();
    });

    it('decides an order an older version left pending, once', async () => {
      const pending = order({ status: 'pending', items: [], totalCents: 0 });
      await store.decideOrder(pending, {});
      const confirmed = order({ status: 'confirmed', updatedAt: at(5) });
      const outcomes = await Promise.all([store.decideOrder(confirmed, { 'test-mug': 't1' }), store.decideOrder(order({ status: 'failed' }), {})]);
      expect(outcomes.map((o) => o.decided).sort()).toEqual([false, true]);
      expect((await store.getDecision(pending.id))?.kind).toBe('order');
      expect(['confirmed', 'failed']).toContain((await store.getOrder(pending.id))?.status);
    });

    it('takes an abandoned checkout’s id for good, and lists it as no order', async () => {
      expect(await store.abandonCheckout(order().id, at(3))).toEqual({ decided: true, decision: { kind: 'abandoned', at: at(3) } });
      expect(await store.decideOrder(order(), {})).toEqual({ decided: false, decision: { kind: 'abandoned', at: at(3) } });
      expect(await store.abandonCheckout(order().id, at(4))).toEqual({ decided: false, decision: { kind: 'abandoned', at: at(3) } });
      expect(await store.getOrder(order().id)).toBeNull();
      expect(await store.listOrders(order().shopperId, 10)).toEqual([]);
      expect(await store.listRecentOrders(10)).toEqual([]);
      expect(await store.transitionOrder(order().id, ['confirmed', 'failed', 'pending'], { status: 'cancelled' })).toBeNull();
      const confirmed = await store.decideOrder(order({ status: 'confirmed' }), {});
      expect(confirmed.decision).toEqual({ kind: 'abandoned', at: at(3) });
    });

    it('transitions an order only from the given states', async () => {
      await store.decideOrder(order({ status: 'confirmed' }), {});
      expect(await store.transitionOrder(order().id, ['cancelling'], { status: 'cancelled' })).toBeNull();
      const cancelling = await store.transitionOrder(order().id, ['confirmed'], { status: 'cancelling', updatedAt: at(5) });
      expect(cancelling).toEqual(order({ status: 'cancelling', updatedAt: at(5) }));
      expect(await store.getOrder(order().id)).toEqual(cancelling);
    });

    it('records the take-backs that count for a cancellation once, only while it is cancelling', async () => {
      await store.decideOrder(order({ status: 'confirmed' }), { 'test-mug': 'h1' });
      expect(await store.recordReturns(order().id, { 'test-mug': 'r1' })).toBeNull();
      await store.transitionOrder(order().id, ['confirmed'], { status: 'cancelling' });
      const recorded = await Promise.all([store.recordReturns(order().id, { 'test-mug': 'r1' }), store.recordReturns(order().id, { 'test-mug': 'r2' })]);
      expect(recorded[0]).toEqual(recorded[1]);
      expect([{ 'test-mug': 'r1' }, { 'test-mug': 'r2' }]).toContainEqual(recorded[0]);
      expect((await store.getDecision(order().id)) as unknown).toMatchObject({ stock: { holdTokens: { 'test-mug': 'h1' }, returnTokens: recorded[0] } });
      expect(await store.getOrder(order().id)).toEqual(order({ status: 'cancelling' }));
    });

    it('lists a shopper’s orders newest first, and only theirs; finds orders by status and age', async () => {
      await store.decideOrder(order({ id: 'ord_old', createdAt: at(1), updatedAt: at(2) }), {});
      await store.decideOrder(order({ id: 'ord_new', createdAt: at(3), updatedAt: at(8) }), {});
      await store.decideOrder(order({ id: 'ord_mid', createdAt: at(2), status: 'confirmed', updatedAt: at(1) }), {});
      await store.decideOrder(order({ id: 'ord_theirs', shopperId: 'someone-else-aaaaaaaaaaa', createdAt: at(4) }), {});
      await store.abandonCheckout('ord_abandoned', at(9));
      expect((await store.listOrders(order().shopperId, 2)).map((o) => o.id)).toEqual(['ord_new', 'ord_mid']);
      expect((await store.listRecentOrders(2)).map((o) => o.id)).toEqual(['ord_theirs', 'ord_new']);
      expect((await store.findOrdersByStatus('pending', at(9), 10)).map((o) => o.id)).toEqual(['ord_theirs', 'ord_old', 'ord_new']);
      expect((await store.findOrdersByStatus('pending', at(5), 10)).map((o) => o.id)).toEqual(['ord_theirs', 'ord_old']);
    });
  });

  it('keeps everything across a reopen', async () => {
    await store.putProduct(product({ stock: 5 }));
    await store.holdStock('ord_1', 'test-mug', 2, 't1');
    await store.replaceCart('s1', [{ productId: 'test-mug', quantity: 1 }], 0, at(1));
    await store.decideOrder(order(), {});
    await store.close();
    store = await reopen();
    expect((await store.getProducts(['test-mug']))[0]?.stock).toBe(3);
    expect((await store.openEntries())[0]?.holds).toEqual([{ orderId: 'ord_1', quantity: 2, token: 't1', at: expect.any(String) }]);
    expect((await store.getCart('s1')).lines).toEqual([{ productId: 'test-mug', quantity: 1 }]);
    expect(await store.getOrder(order().id)).toEqual(order());
  });

  it('stays exact with several processes holding, releasing, inserting orders and changing one cart at once', async () => {
    await store.putProduct(product({ stock: 30 }));
    await store.putProduct(product({ id: 'cart-item', stock: 1000 }));
    await store.putProduct(product({ id: 'spare', stock: 1000 }));
    const workers = 4;
    const run = promisify(execFile);
    const outputs = await Promise.all(
      Array.from({ length: workers }, (_, worker) =>
        run(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'support', 'store-worker.ts'), String(worker)], { cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'silent' } }),
      ),
    );
    const results = outputs.map((o) => JSON.parse(o.stdout) as { held: number; spareHeld: number; spareReleased: number; inserted: number; cartAdds: number });
    const total = (key: keyof (typeof results)[number]) => results.reduce((n, r) => n + r[key], 0);
    // 4 workers x 20 holds of one unit each on 30 units: exactly 30 held, none twice.
    expect(total('held')).toBe(30);
    expect(await audit()).toMatchObject({ stock: 0, held: 30, supplied: 30 });
    // Holds released as they were made, by every worker at once: every unit back, once.
    expect(total('spareReleased')).toBe(total('spareHeld'));
    expect(await audit('spare')).toMatchObject({ stock: 1000, held: 0, supplied: 1000 });
    // Every worker tried to insert the same 10 orders: each exists once.
    expect(total('inserted')).toBe(10);
    // Every successful cart change is in the cart: none lost to a concurrent one.
    expect((await store.getCart('shared-cart-0000000000000')).lines).toEqual([{ productId: 'cart-item', quantity: total('cartAdds') }]);
    expect(total('cartAdds')).toBeGreaterThan(0);
    await store.flushLedger();
    for (const id of ['test-mug', 'spare']) {
      const movements = await store.listMovements({ productId: id });
      expect(movements.reduce((n, m) => n + m.quantity, 0)).toBe((await audit(id))?.stock);
    }
  });
});
