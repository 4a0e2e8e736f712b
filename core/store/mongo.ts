/**
 * The MongoDB store, through the official driver. One MongoClient per process (per replica
 * on OpenFaaS), created on first use and reused by every call; indexes are created
 * idempotently when it opens.
 */
import { MongoClient, MongoServerError, type Collection, type Db } from 'mongodb';
import type { Order, OrderLineRequest, OrderStatus, Product } from '../schemas';
import {
  WITHOUT_HOLDS,
  afterCondition,
  catalogFields,
  holdField,
  nameContains,
  orderChanges,
  sameCatalogFields,
  toCart,
  toOrder,
  toOrderDoc,
  toProduct,
  toReservation,
  type CartDoc,
  type OrderDoc,
  type ProductDoc,
  type ReservationDoc,
} from './documents';
import type { HoldOutcome, ProductPageQuery, PutOutcome, ReservationRecord, ShopStore } from './store';

const DUPLICATE_KEY = 11000;
const isDuplicateKey = (error: unknown) => error instanceof MongoServerError && error.code === DUPLICATE_KEY;

export async function openMongoStore(url: string, dbName?: string): Promise<ShopStore> {
  const client = new MongoClient(url, {
    maxPoolSize: 20,
    serverSelectionTimeoutMS: 5_000,
    connectTimeoutMS: 5_000,
    appName: 'openfaas-shop',
  });
  await client.connect();
  try {
    const db = client.db(dbName);
    const store = new MongoStore(client, db);
    await store.createIndexes();
    return store;
  } catch (error) {
    await client.close();
    throw error;
  }
}

class MongoStore implements ShopStore {
  private readonly products: Collection<ProductDoc>;
  private readonly carts: Collection<CartDoc>;
  private readonly orders: Collection<OrderDoc>;
  private readonly reservations: Collection<ReservationDoc>;

  constructor(
    private readonly client: MongoClient,
    db: Db,
  ) {
    this.products = db.collection('products');
    this.carts = db.collection('carts');
    this.orders = db.collection('orders');
    this.reservations = db.collection('reservations');
  }

  async createIndexes(): Promise<void> {
    await this.products.createIndex({ name: 1, _id: 1 });
    // findHolds looks orders up by a field named after the order: a wildcard index serves it.
    await this.products.createIndex({ 'holds.$**': 1 });
    await this.orders.createIndex({ shopperId: 1, createdAt: -1, _id: -1 });
  }

  async listProducts({ q, limit, after }: ProductPageQuery): Promise<Product[]> {
    const conditions: object[] = [];
    if (q) conditions.push({ name: nameContains(q) });
    if (after) conditions.push(afterCondition(after));
    const docs = await this.products
      .find(conditions.length ? { $and: conditions } : {}, { projection: WITHOUT_HOLDS })
      .sort({ name: 1, _id: 1 })
      .limit(limit)
      .toArray();
    return docs.map(toProduct);
  }

  async getProducts(ids: readonly string[]): Promise<Product[]> {
    const docs = await this.products.find({ _id: { $in: [...ids] } }, { projection: WITHOUT_HOLDS }).toArray();
    return docs.map(toProduct);
  }

  countProducts(): Promise<number> {
    return this.products.countDocuments({});
  }

  async putProduct(product: Product): Promise<PutOutcome> {
    const existing = await this.products.findOne({ _id: product.id }, { projection: WITHOUT_HOLDS });
    if (existing && sameCatalogFields(existing, product)) return 'unchanged';
    const result = await this.products.updateOne({ _id: product.id }, { $set: catalogFields(product) }, { upsert: true });
    return result.upsertedCount === 1 ? 'created' : 'updated';
  }

  async setStock(productId: string, stock: number): Promise<Product | null> {
    const doc = await this.products.findOneAndUpdate(
      { _id: productId },
      { $set: { stock } },
      { returnDocument: 'after', projection: WITHOUT_HOLDS },
    );
    return doc ? toProduct(doc) : null;
  }

  async removeProductsExcept(keep: readonly string[]): Promise<number> {
    return (await this.products.deleteMany({ _id: { $nin: [...keep] } })).deletedCount;
  }

  async holdStock(orderId: string, productId: string, quantity: number): Promise<HoldOutcome> {
    const field = holdField(orderId);
    const doc = await this.products.findOneAndUpdate(
      { _id: productId, stock: { $gte: quantity }, [field]: { $exists: false } },
      { $inc: { stock: -quantity }, $set: { [field]: quantity } },
      { returnDocument: 'after', projection: WITHOUT_HOLDS },
    );
    if (doc) return { status: 'held', product: toProduct(doc), quantity };
    const current = await this.products.findOne({ _id: productId }, { projection: { name: 1, description: 1, priceCents: 1, stock: 1, image: 1, [field]: 1 } });
    if (!current) return { status: 'unknown-product' };
    const held = current.holds?.[orderId];
    if (held !== undefined) return { status: 'already-held', product: toProduct(current), quantity: held };
    return { status: 'insufficient', available: current.stock };
  }

  async releaseHold(orderId: string, productId: string): Promise<number> {
    const field = holdField(orderId);
    const doc = await this.products.findOne({ _id: productId, [field]: { $exists: true } }, { projection: { [field]: 1 } });
    const held = doc?.holds?.[orderId];
    if (held === undefined) return 0;
    // Conditional on the hold still being there: of two concurrent releases, one returns the units.
    const result = await this.products.updateOne({ _id: productId, [field]: held }, { $inc: { stock: held }, $unset: { [field]: '' } });
    return result.modifiedCount === 1 ? held : 0;
  }

  async findHolds(orderId: string): Promise<OrderLineRequest[]> {
    const field = holdField(orderId);
    const docs = await this.products.find({ [field]: { $exists: true } }, { projection: { [field]: 1 } }).toArray();
    return docs.map((d) => ({ productId: d._id, quantity: d.holds?.[orderId] ?? 0 }));
  }

  async getReservation(orderId: string): Promise<ReservationRecord | null> {
    const doc = await this.reservations.findOne({ _id: orderId });
    return doc ? toReservation(doc) : null;
  }

  async recordReservation(record: ReservationRecord): Promise<ReservationRecord> {
    const { orderId, ...rest } = record;
    try {
      await this.reservations.insertOne({ _id: orderId, ...rest });
      return record;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      return (await this.getReservation(orderId)) ?? record;
    }
  }

  async markReservationReleased(orderId: string, at: string): Promise<void> {
    await this.reservations.updateOne({ _id: orderId }, { $set: { status: 'released', updatedAt: at } }, { upsert: true });
  }

  async getCart(shopperId: string) {
    return toCart(shopperId, await this.carts.findOne({ _id: shopperId }));
  }

  async replaceCart(shopperId: string, lines: OrderLineRequest[], version: number): Promise<boolean> {
    if (version === 0) {
      try {
        await this.carts.insertOne({ _id: shopperId, lines, version: 1 });
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    }
    const result = await this.carts.updateOne({ _id: shopperId, version }, { $set: { lines, version: version + 1 } });
    return result.modifiedCount === 1;
  }

  async insertOrder(order: Order) {
    try {
      await this.orders.insertOne(toOrderDoc(order));
      return { inserted: true, order };
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      const existing = await this.getOrder(order.id);
      if (!existing) throw error;
      return { inserted: false, order: existing };
    }
  }

  async getOrder(orderId: string): Promise<Order | null> {
    const doc = await this.orders.findOne({ _id: orderId });
    return doc ? toOrder(doc) : null;
  }

  async listOrders(shopperId: string, limit: number): Promise<Order[]> {
    const docs = await this.orders.find({ shopperId }).sort({ createdAt: -1, _id: -1 }).limit(limit).toArray();
    return docs.map(toOrder);
  }

  async transitionOrder(orderId: string, from: readonly OrderStatus[], changes: Partial<Order>): Promise<Order | null> {
    const doc = await this.orders.findOneAndUpdate(
      { _id: orderId, status: { $in: [...from] } },
      { $set: orderChanges(changes) },
      { returnDocument: 'after' },
    );
    return doc ? toOrder(doc) : null;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
