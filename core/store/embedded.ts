/**
 * The embedded store: @seald-io/nedb, one append-only file per collection in DATA_DIR.
 * nedb runs its operations one at a time, so each conditional update below is atomic.
 * Its query dialect differs from MongoDB's in places (`$ne` on arrays, `$regex` strings,
 * unique-violation errors); the queries here stick to the part both agree on.
 *
 * Only one process may open a data directory: two writers on one file corrupt it, so a
 * lock file holds the owner's pid.
 */
import Datastore from '@seald-io/nedb';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
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

const COMPACT_EVERY_MS = 10 * 60_000;

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { errorType?: string }).errorType === 'uniqueViolated';
}

function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes DATA_DIR/LOCK for this process; a lock left by a dead process is taken over. */
function lockDataDir(dir: string): () => void {
  const lockPath = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(lockPath, 'utf8'));
      if (owner === process.pid || (Number.isInteger(owner) && owner > 0 && pidIsAlive(owner))) {
        throw new Error(`The data directory ${dir} is in use by process ${owner}; stop it or set another DATA_DIR`);
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`Could not lock the data directory ${dir}`);
}

export async function openEmbeddedStore(dataDir: string): Promise<ShopStore> {
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  try {
    const open = async <T extends { _id: string }>(name: string) => {
      const db = new Datastore<T>({ filename: join(dataDir, `${name}.db`) });
      await db.loadDatabaseAsync();
      db.setAutocompactionInterval(COMPACT_EVERY_MS);
      return db;
    };
    const products = await open<ProductDoc>('products');
    const carts = await open<CartDoc>('carts');
    const orders = await open<OrderDoc>('orders');
    const reservations = await open<ReservationDoc>('reservations');
    await products.ensureIndexAsync({ fieldName: 'name' });
    await orders.ensureIndexAsync({ fieldName: 'shopperId' });
    return new EmbeddedStore(products, carts, orders, reservations, unlock);
  } catch (error) {
    unlock();
    throw error;
  }
}

class EmbeddedStore implements ShopStore {
  constructor(
    private readonly products: Datastore<ProductDoc>,
    private readonly carts: Datastore<CartDoc>,
    private readonly orders: Datastore<OrderDoc>,
    private readonly reservations: Datastore<ReservationDoc>,
    private readonly unlock: () => void,
  ) {}

  async listProducts({ q, limit, after }: ProductPageQuery): Promise<Product[]> {
    const conditions: object[] = [];
    if (q) conditions.push({ name: nameContains(q) });
    if (after) conditions.push(afterCondition(after));
    const docs = (await this.products
      .findAsync(conditions.length ? { $and: conditions } : {}, WITHOUT_HOLDS)
      .sort({ name: 1, _id: 1 })
      .limit(limit)) as unknown as ProductDoc[];
    return docs.map(toProduct);
  }

  async getProducts(ids: readonly string[]): Promise<Product[]> {
    const docs = (await this.products.findAsync({ _id: { $in: [...ids] } }, WITHOUT_HOLDS)) as unknown as ProductDoc[];
    return docs.map(toProduct);
  }

  async countProducts(): Promise<number> {
    return (await this.products.countAsync({})) as unknown as number;
  }

  async putProduct(product: Product): Promise<PutOutcome> {
    const existing = (await this.products.findOneAsync({ _id: product.id })) as unknown as ProductDoc | null;
    if (existing && sameCatalogFields(existing, product)) return 'unchanged';
    const result = await this.products.updateAsync(
      { _id: product.id },
      { $set: catalogFields(product) },
      { upsert: true },
    );
    return result.upsert ? 'created' : 'updated';
  }

  async setStock(productId: string, stock: number): Promise<Product | null> {
    const { affectedDocuments } = await this.products.updateAsync(
      { _id: productId },
      { $set: { stock } },
      { returnUpdatedDocs: true },
    );
    return affectedDocuments ? toProduct(affectedDocuments as ProductDoc) : null;
  }

  async removeProductsExcept(keep: readonly string[]): Promise<number> {
    return this.products.removeAsync({ _id: { $nin: [...keep] } }, { multi: true });
  }

  async holdStock(orderId: string, productId: string, quantity: number): Promise<HoldOutcome> {
    const field = holdField(orderId);
    const { affectedDocuments } = await this.products.updateAsync(
      { _id: productId, stock: { $gte: quantity }, [field]: { $exists: false } },
      { $inc: { stock: -quantity }, $set: { [field]: quantity } },
      { returnUpdatedDocs: true },
    );
    if (affectedDocuments) return { status: 'held', product: toProduct(affectedDocuments as ProductDoc), quantity };
    const doc = (await this.products.findOneAsync({ _id: productId })) as unknown as ProductDoc | null;
    if (!doc) return { status: 'unknown-product' };
    const held = doc.holds?.[orderId];
    if (held !== undefined) return { status: 'already-held', product: toProduct(doc), quantity: held };
    return { status: 'insufficient', available: doc.stock };
  }

  async releaseHold(orderId: string, productId: string): Promise<number> {
    const field = holdField(orderId);
    const doc = (await this.products.findOneAsync({ _id: productId, [field]: { $exists: true } })) as unknown as ProductDoc | null;
    const held = doc?.holds?.[orderId];
    if (held === undefined) return 0;
    // Conditional on the hold still being there: of two concurrent releases, one returns the units.
    const { numAffected } = await this.products.updateAsync(
      { _id: productId, [field]: held },
      { $inc: { stock: held }, $unset: { [field]: true } },
      {},
    );
    return numAffected === 1 ? held : 0;
  }

  async findHolds(orderId: string): Promise<OrderLineRequest[]> {
    const docs = (await this.products.findAsync({ [holdField(orderId)]: { $exists: true } })) as unknown as ProductDoc[];
    return docs.map((d) => ({ productId: d._id, quantity: d.holds?.[orderId] ?? 0 }));
  }

  async getReservation(orderId: string): Promise<ReservationRecord | null> {
    const doc = (await this.reservations.findOneAsync({ _id: orderId })) as unknown as ReservationDoc | null;
    return doc ? toReservation(doc) : null;
  }

  async recordReservation(record: ReservationRecord): Promise<ReservationRecord> {
    const { orderId, ...rest } = record;
    try {
      await this.reservations.insertAsync({ _id: orderId, ...rest });
      return record;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      return (await this.getReservation(orderId)) ?? record;
    }
  }

  async markReservationReleased(orderId: string, at: string): Promise<void> {
    await this.reservations.updateAsync({ _id: orderId }, { $set: { status: 'released', updatedAt: at } }, { upsert: true });
  }

  async getCart(shopperId: string) {
    return toCart(shopperId, (await this.carts.findOneAsync({ _id: shopperId })) as unknown as CartDoc | null);
  }

  async replaceCart(shopperId: string, lines: OrderLineRequest[], version: number): Promise<boolean> {
    if (version === 0) {
      try {
        await this.carts.insertAsync({ _id: shopperId, lines, version: 1 });
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    }
    const { numAffected } = await this.carts.updateAsync({ _id: shopperId, version }, { $set: { lines, version: version + 1 } }, {});
    return numAffected === 1;
  }

  async insertOrder(order: Order) {
    try {
      await this.orders.insertAsync(toOrderDoc(order));
      return { inserted: true, order };
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing = await this.getOrder(order.id);
      if (!existing) throw error;
      return { inserted: false, order: existing };
    }
  }

  async getOrder(orderId: string): Promise<Order | null> {
    const doc = (await this.orders.findOneAsync({ _id: orderId })) as unknown as OrderDoc | null;
    return doc ? toOrder(doc) : null;
  }

  async listOrders(shopperId: string, limit: number): Promise<Order[]> {
    const docs = (await this.orders.findAsync({ shopperId }).sort({ createdAt: -1, _id: -1 }).limit(limit)) as unknown as OrderDoc[];
    return docs.map(toOrder);
  }

  async transitionOrder(orderId: string, from: readonly OrderStatus[], changes: Partial<Order>): Promise<Order | null> {
    const { affectedDocuments } = await this.orders.updateAsync(
      { _id: orderId, status: { $in: [...from] } },
      { $set: orderChanges(changes) },
      { returnUpdatedDocs: true },
    );
    return affectedDocuments ? toOrder(affectedDocuments as OrderDoc) : null;
  }

  async close(): Promise<void> {
    for (const db of [this.products, this.carts, this.orders, this.reservations]) {
      db.stopAutocompaction();
      await db.compactDatafileAsync();
    }
    this.unlock();
  }
}
