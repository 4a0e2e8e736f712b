/**
 * The MongoDB store, through the official driver. One MongoClient per process (per replica
 * on OpenFaaS), created on first use and reused by every call; indexes are created
 * idempotently when it opens.
 */
import { MongoClient, MongoServerError, type Collection as MongoCollection, type Document, type Filter as MongoFilter } from 'mongodb';
import type { Collection } from './collection';
import { DocumentStore, type CartDoc, type MovementDoc, type OrderDoc, type ProductDoc, type ReservationDoc } from './document-store';
import type { ShopStore } from './store';

const DUPLICATE_KEY = 11000;

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
      const result = await c.findOneAndUpdate(filter(f), update, {
        upsert: options.upsert ?? false,
        returnDocument: 'after',
        includeResultMetadata: true,
      });
      return { doc: (result.value as T | null) ?? null, upserted: result.lastErrorObject?.upserted !== undefined };
    },
    deleteMany: async (f) => (await c.deleteMany(filter(f))).deletedCount,
  };
}

export async function openMongoStore(url: string, dbName?: string): Promise<ShopStore> {
  const client = new MongoClient(url, { maxPoolSize: 20, serverSelectionTimeoutMS: 5_000, connectTimeoutMS: 5_000, appName: 'openfaas-shop' });
  await client.connect();
  try {
    const db = client.db(dbName);
    const products = db.collection<ProductDoc>('products');
    const orders = db.collection<OrderDoc>('orders');
    await products.createIndex({ name: 1, _id: 1 });
    // findHolds looks an order up by a field named after it: a wildcard index serves that.
    await products.createIndex({ 'holds.$**': 1 });
    await orders.createIndex({ shopperId: 1, createdAt: -1, _id: -1 });
    await orders.createIndex({ status: 1, updatedAt: 1 });
    await orders.createIndex({ createdAt: -1, _id: -1 });
    const movements = db.collection<MovementDoc>('movements');
    await movements.createIndex({ productId: 1, kind: 1, at: 1 });
    await movements.createIndex({ orderId: 1 });
    const reservations = db.collection<ReservationDoc>('reservations');
    await reservations.createIndex({ status: 1, createdAt: 1 });
    return new DocumentStore(
      {
        products: collection(products),
        movements: collection(movements),
        carts: collection(db.collection<CartDoc>('carts')),
        orders: collection(orders),
        reservations: collection(reservations),
      },
      () => client.close(),
    );
  } catch (error) {
    await client.close();
    throw error;
  }
}
