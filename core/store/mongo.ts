/**
 * The MongoDB store, through the official driver. One MongoClient per process (per replica
 * on OpenFaaS), created on first use and reused by every call; the shop's indexes are created
 * idempotently when it opens. Every operation is a single-document operation: it works on a
 * standalone MongoDB, no replica set or transactions needed.
 */
import { MongoClient, MongoServerError, type Collection as MongoCollection, type Db, type Document, type Filter as MongoFilter } from 'mongodb';
import type { Collection, IndexSpec } from './collection';
import { DocumentStore, SHOP_INDEXES, type ShopCollections } from './document-store';
import type { ShopStore } from './store';

const DUPLICATE_KEY = 11000;
const INDEX_NOT_FOUND = 27;

function collection<T extends { _id: string } & Document>(c: MongoCollection<T>): Collection<T> {
  const filter = (f: Record<string, unknown>) => f as MongoFilter<T>;
  return {
    findOne: async (f, projection) => (await c.findOne(filter(f), { projection })) as T | null,
    find: async (f, options = {}) => {
      let cursor = c.find(filter(f), { projection: options.projection });
      if (options.sort) cursor = cursor.sort(options.sort);
      if (options.limit !== undefined) cursor = cursor.limit(options.limit);
      return (await cursor.toArray()) as T[];
    },
    count: (f) => c.countDocuments(filter(f)),
    insertOnce: async (doc) => {
      try {
        await c.insertOne(doc as Parameters<typeof c.insertOne>[0]);
        return true;
      } catch (error) {
        if (error instanceof MongoServerError && error.code === DUPLICATE_KEY) return false;
        throw error;
      }
    },
    updateOne: async (f, update, options = {}) => {
      const doc = await c.findOneAndUpdate(filter(f), update, { returnDocument: 'after', projection: options.projection ?? { _id: 1 } });
      return { doc: (doc as T | null) ?? null };
    },
    deleteMany: async (f) => (await c.deleteMany(filter(f))).deletedCount,
  };
}

async function ensureIndexes(db: Db, name: string, specs: readonly IndexSpec[]): Promise<void> {
  for (const spec of specs) await db.collection(name).createIndex(spec);
}

export async function openMongoStore(url: string, dbName?: string): Promise<ShopStore> {
  const client = new MongoClient(url, { maxPoolSize: 20, serverSelectionTimeoutMS: 5_000, connectTimeoutMS: 5_000, appName: 'openfaas-shop' });
  await client.connect();
  try {
    const db = client.db(dbName);
    for (const [name, specs] of Object.entries(SHOP_INDEXES)) await ensureIndexes(db, name, specs);
    // The version before this one looked holds up by order with a wildcard index; holds no longer pile up.
    await db
      .collection('products')
      .dropIndex('holds.$**_1')
      .catch((error: unknown) => {
        if (!(error instanceof MongoServerError && (error.code === INDEX_NOT_FOUND || error.codeName === 'NamespaceNotFound'))) throw error;
      });
    const collections = Object.fromEntries(Object.keys(SHOP_INDEXES).map((name) => [name, collection(db.collection<{ _id: string }>(name))])) as unknown as ShopCollections;
    return new DocumentStore(collections, () => client.close());
  } catch (error) {
    await client.close();
    throw error;
  }
}
