/**
 * What only the embedded store has to prove: MongoDB's query and update semantics on SQLite,
 * indexes behind every query the shop makes, bounded lock waits answered as 503, constant
 * product documents, and a refusal of data an earlier version wrote.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toShopError } from '../core/errors';
import { SHOP_INDEXES } from '../core/store/document-store';
import { LEDGER_BATCH } from '../core/store/document-store';
import { DATABASE_FILE, WriteQueue, indexedFields, openEmbeddedStore, selectStatement, sqliteCollection } from '../core/store/embedded';
import type { Collection } from '../core/store/collection';
import { product } from './support/fixtures';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'shop-embedded-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('MongoDB semantics on SQLite', () => {
  type Thing = { _id: string; n?: number | null; tags?: number[]; name?: string; nested?: Record<string, unknown> };
  let db: Database.Database;
  let things: Collection<Thing>;
  const ids = async (filter: Record<string, unknown>, sort: Record<string, 1 | -1> = { _id: 1 }) => (await things.find(filter, { sort })).map((t) => t._id);

  beforeEach(async () => {
    db = new Database(':memory:');
    db.exec('CREATE TABLE things (id TEXT NOT NULL UNIQUE, doc BLOB NOT NULL)');
    things = sqliteCollection<Thing>(db, new WriteQueue(db, 1_000), 'things', [{ n: 1 }]);
    for (const doc of [
      { _id: 'a', n: 1, tags: [1, 3], name: 'Delta MUG', nested: { x: { t: 'k' } } },
      { _id: 'b', n: 2, tags: [2], name: 'mug' },
      { _id: 'c', n: null, name: 'Cup' },
      { _id: 'd', name: 'Pot' },
      { _id: 'e', n: 10 },
    ]) {
      await things.insertOnce(doc);
    }
  });
  afterEach(() => db.close());

  it('matches arrays, nulls, missing fields, regexes and dotted paths as MongoDB does', async () => {
    expect(await ids({ tags: { $ne: 3 } })).toEqual(['b', 'c', 'd', 'e']);
    expect(await ids({ tags: 3 })).toEqual(['a']);
    expect(await ids({ n: null })).toEqual(['c', 'd']);
    expect(await ids({ n: { $exists: false } })).toEqual(['d']);
    expect(await ids({ name: { $regex: 'mug', $options: 'i' } })).toEqual(['a', 'b']);
    expect(await ids({ name: /^m/ })).toEqual(['b']);
    expect(await ids({ 'nested.x.t': 'k' })).toEqual(['a']);
    expect(await ids({ 'nested.x': { $exists: true } })).toEqual(['a']);
  });

  it('compares, combines and sorts as MongoDB does', async () => {
    expect(await ids({ n: { $gte: 2 } })).toEqual(['b', 'e']);
    expect(await ids({ n: { $gt: 1, $lt: 10 } })).toEqual(['b']);
    expect(await ids({ n: { $in: [1, 10] } })).toEqual(['a', 'e']);
    expect(await ids({ n: { $nin: [1, 10] } })).toEqual(['b', 'c', 'd']);
    expect(await ids({ $or: [{ n: 1 }, { name: 'Pot' }] })).toEqual(['a', 'd']);
    expect(await ids({ $and: [{ n: { $gte: 1 } }, { name: { $exists: true } }] })).toEqual(['a', 'b']);
    // Numbers never match a string range, and null sorts before numbers.
    expect(await ids({ n: { $gt: '' } })).toEqual([]);
    expect(await ids({}, { n: -1, _id: 1 })).toEqual(['e', 'b', 'a', 'c', 'd']);
    expect((await things.find({}, { sort: { name: 1 }, limit: 2 })).map((t) => t._id)).toEqual(['e', 'c']);
  });

  it('updates with $inc, $set and $unset on dotted paths, returning only what was asked for', async () => {
    const { doc } = await things.updateOne({ _id: 'a', n: { $gte: 1 } }, { $inc: { n: 4 }, $set: { 'nested.y': 2 }, $unset: { 'nested.x': '' } }, { projection: { n: 1, nested: 1 } });
    expect(doc).toEqual({ _id: 'a', n: 5, nested: { y: 2 } });
    expect(await things.findOne({ _id: 'a' }, { name: 0, tags: 0 })).toEqual({ _id: 'a', n: 5, nested: { y: 2 } });
    expect((await things.updateOne({ _id: 'a', n: { $gte: 6 } }, { $inc: { n: 1 } })).doc).toBeNull();
    expect(await things.insertOnce({ _id: 'a' })).toBe(false);
    expect(await things.deleteMany({ n: { $gte: 5 } })).toBe(2);
    expect(await things.count({})).toBe(3);
  });

  it('refuses an array or object in an indexed field', async () => {
    await expect(things.insertOnce({ _id: 'x', n: [1] as unknown as number })).rejects.toThrow(/must hold a scalar/);
    await expect(things.updateOne({ _id: 'b' }, { $set: { n: { a: 1 } } })).rejects.toThrow(/must hold a scalar/);
    expect((await things.findOne({ _id: 'b' }))?.n).toBe(2);
  });
});

describe('the shop’s queries', () => {
  const queries: [keyof typeof SHOP_INDEXES, Record<string, unknown>, Record<string, 1 | -1>][] = [
    ['orders', { shopperId: 'S' }, { createdAt: -1, _id: -1 }],
    ['orders', { status: { $ne: 'abandoned' } }, { createdAt: -1, _id: -1 }],
    ['orders', { status: 'pending', updatedAt: { $lt: 'T' } }, { updatedAt: 1 }],
    ['carts', { updatedAt: { $lt: 'T' } }, { updatedAt: 1 }],
    ['carts', { updatedAt: null }, {}],
    ['movements', { orderId: 'O' }, { at: 1, _id: 1 }],
    ['movements', { productId: 'P' }, { at: 1, _id: 1 }],
    ['products', { $and: [{ name: /x/ }] }, { name: 1, _id: 1 }],
  ];

  it.each(queries)('%s %j sorted by %j is served by an index, not a scan of the collection', async (table, filter, sort) => {
    (await openEmbeddedStore(dir)).close();
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    try {
      const select = selectStatement(table, indexedFields(SHOP_INDEXES[table]), filter, sort);
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${select.sql}`).all(...select.params) as { detail: string }[]).map((r) => r.detail).join('; ');
      expect(plan).toMatch(/USING (COVERING )?INDEX/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    } finally {
      db.close();
    }
  });
});

describe('the embedded store', () => {
  it('waits a bounded time for another process’s write lock, then fails as unavailable, writing nothing', async () => {
    const store = await openEmbeddedStore(dir, { busyTimeoutMs: 100 });
    await store.putProduct(product({ stock: 5 }));
    const other = new Database(join(dir, DATABASE_FILE));
    other.exec('BEGIN IMMEDIATE');
    try {
      const error = await store.holdStock('ord_1', 'test-mug', 1, 't1').catch((e: unknown) => e);
      expect(toShopError(error)).toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect((await store.getProducts(['test-mug']))[0]?.stock).toBe(5);
    expect(await store.openEntries()).toEqual([]);
    await store.close();
  });

  it('keeps a product’s document within the same size however many orders it sold', async () => {
    const store = await openEmbeddedStore(dir);
    await store.putProduct(product({ stock: 100_000 }));
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    const size = () => (db.prepare("SELECT length(doc) AS n FROM products WHERE id = 'test-mug'").get() as { n: number }).n;
    const sizes: number[] = [];
    const sell = async (n: number) => {
      // Ids and tokens of one length, as the shop's are.
      const [orderId, token] = [`ord_${String(n).padStart(22, '0')}`, `t${String(n).padStart(15, '0')}`];
      await store.holdStock(orderId, 'test-mug', 1, token);
      await store.sellHold(orderId, 'test-mug', 1, token);
      sizes.push(size());
    };
    await sell(0);
    await store.flushLedger();
    const afterOne = size();
    for (let n = 1; n <= 500; n++) await sell(n);
    // The outbox fills up to a batch of movements and is emptied into the ledger: the largest the
    // document gets is what the first full batch made it (give or take the digits of stock and sold).
    expect(Math.max(...sizes)).toBeLessThanOrEqual(Math.max(...sizes.slice(0, LEDGER_BATCH + 1)) + 4);
    await store.flushLedger();
    expect(Math.abs(size() - afterOne)).toBeLessThanOrEqual(4);
    db.close();
    await store.close();
  });

  it('refuses a data directory an earlier version wrote, saying what to run', async () => {
    writeFileSync(join(dir, 'products.db'), '{"_id":"x","name":"X"}\n');
    await expect(openEmbeddedStore(dir)).rejects.toThrow(/earlier version.*npm start/s);
    await expect(openEmbeddedStore(dir)).rejects.toMatchObject({ name: 'LegacyDataError' });
    expect(toShopError(await openEmbeddedStore(dir).catch((e: unknown) => e))).toMatchObject({ status: 503, code: 'NOT_CONFIGURED' });
  });
});
