/**
 * The MongoDB store, through the official driver. One MongoClient per process (per replica
 * on OpenFaaS), created on first use and reused by every call; the shop's indexes are created
 * idempotently when it opens. Every operation is a single-document operation: it works on a
 * standalone MongoDB, no replica set or transactions needed.
 */
import { MongoBulkWriteError, MongoClient, MongoServerError, type Collection as MongoCollection, type Db, type Document, type Filter as MongoFilter } from 'mongodb';
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
    insertMany: async (docs) => {
      if (docs.length === 0) return 0;
      try {
        return (await c.insertMany(docs as Parameters<typeof c.insertMany>[0], { ordered: false })).insertedCount;
      } catch (error) {
        // Unordered: every new document went in; the ones already there are the duplicates reported.
        if (error instanceof MongoBulkWriteError && error.writeErrors && [error.writeErrors].flat().every((e) => e.code === DUPLICATE_KEY)) return error.insertedCount;
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

/** Collections of the database, one per name of `specs`, with their indexes created (idempotently). */
export async function openMongoCollections<K extends string>(
  url: string,
  dbName: string | undefined,
  specs: Record<K, readonly IndexSpec[]>,
  prepare: (db: Db) => Promise<void> = async () => {},
): Promise<{ collections: Record<K, Collection<{ _id: string }>>; close(): Promise<void> }> {
  const client = new MongoClient(url, { maxPoolSize: 20, serverSelectionTimeoutMS: 5_000, connectTimeoutMS: 5_000, appName: 'openfaas-shop' });
  await client.connect();
  try {
    const db = client.db(dbName);
    for (const [name, indexes] of Object.entries<readonly IndexSpec[]>(specs)) for (const spec of indexes) await db.collection(name).createIndex(spec);
    await prepare(db);
    const collections = Object.fromEntries(Object.keys(specs).map((name) => [name, collection(db.collection<{ _id: string }>(name))]));
    return { collections: collections as Record<K, Collection<{ _id: string }>>, close: () => client.close() };
  } catch (error) {
    await client.close();
    throw error;
  }
}

/** The version before this one looked holds up by order with a wildcard index; holds no longer pile up. */
async function dropHoldsIndex(db: Db): Promise<void> {
  await db
    .collection('products')
    .dropIndex('holds.$**_1')
    .catch((error: unknown) => {
      if (!(error instanceof MongoServerError && (error.code === INDEX_NOT_FOUND || error.codeName === 'NamespaceNotFound'))) throw error;
    });
}

export async function openMongoStore(url: string, dbName?: string): Promise<ShopStore> {
  const { collections, close } = await openMongoCollections(url, dbName, SHOP_INDEXES, dropHoldsIndex);
  return new DocumentStore(collections as unknown as ShopCollections, close);
}
