/**
 * The ShopStore, written once over four collections (products, carts, orders,
 * reservations). See core/store/store.ts for the guarantees; every stock movement here is one
 * conditional update of one product document.
 */
import { randomUUID } from 'node:crypto';
import type { Order, OrderLineRequest, OrderStatus, Product } from '../schemas';
import type { Collection } from './collection';
import type { CartRecord, HoldOutcome, ProductPageQuery, PutOutcome, ReservationRecord, ShopStore, StockAudit, StockMovement } from './store';

export interface ProductDoc extends Omit<Product, 'id'> {
  _id: string;
  /** Units each order holds, by order id. */
  holds?: Record<string, number>;
  /** Every unit ever put on sale; stock + sum(holds) always equals it. */
  supplied?: number;
}
export type MovementDoc = Omit<StockMovement, 'id'> & { _id: string };
export interface CartDoc {
  _id: string;
  lines: OrderLineRequest[];
  version: number;
}
export type OrderDoc = Omit<Order, 'id'> & { _id: string };
export interface ReservationDoc extends Partial<Omit<ReservationRecord, 'orderId'>> {
  _id: string;
  status: ReservationRecord['status'];
  updatedAt: string;
}

export interface ShopCollections {
  products: Collection<ProductDoc>;
  movements: Collection<MovementDoc>;
  carts: Collection<CartDoc>;
  orders: Collection<OrderDoc>;
  reservations: Collection<ReservationDoc>;
}

/** Reads never carry the bookkeeping: the holds map can be large. */
const WITHOUT_HOLDS = { holds: 0, supplied: 0 } as const;
/** Optimistic retries for stock changes that race with reservations. */
const MAX_ATTEMPTS = 20;
const holdField = (orderId: string) => `holds.${orderId}`;

function toProduct(doc: ProductDoc): Product {
  return { id: doc._id, name: doc.name, description: doc.description, priceCents: doc.priceCents, stock: doc.stock, image: doc.image };
}

function catalogFields(p: Product): Omit<ProductDoc, '_id' | 'holds'> {
  return { name: p.name, description: p.description, priceCents: p.priceCents, stock: p.stock, image: p.image };
}

function toReservation(doc: ReservationDoc): ReservationRecord {
  // A tombstone written by a release that came first has no items or creation time.
  return { orderId: doc._id, status: doc.status, items: doc.items ?? [], createdAt: doc.createdAt ?? doc.updatedAt, updatedAt: doc.updatedAt };
}

function toOrder({ _id, ...rest }: OrderDoc): Order {
  return { id: _id, ...rest };
}

/** A case-insensitive substring match; a RegExp object, which both stores accept. */
function nameContains(q: string): RegExp {
  return new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
}

export class DocumentStore implements ShopStore {
  private readonly products: Collection<ProductDoc>;
  private readonly movements: Collection<MovementDoc>;
  private readonly carts: Collection<CartDoc>;
  private readonly orders: Collection<OrderDoc>;
  private readonly reservations: Collection<ReservationDoc>;

  constructor(
    collections: ShopCollections,
    private readonly onClose: () => Promise<void>,
  ) {
    ({ products: this.products, movements: this.movements, carts: this.carts, orders: this.orders, reservations: this.reservations } = collections);
  }

  async listProducts({ q, limit, after }: ProductPageQuery): Promise<Product[]> {
    const conditions: object[] = [];
    if (q) conditions.push({ name: nameContains(q) });
    if (after) conditions.push({ $or: [{ name: { $gt: after.name } }, { name: after.name, _id: { $gt: after.id } }] });
    const docs = await this.products.find(conditions.length ? { $and: conditions } : {}, {
      sort: { name: 1, _id: 1 },
      limit,
      projection: WITHOUT_HOLDS,
    });
    return docs.map(toProduct);
  }

  async getProducts(ids: readonly string[]): Promise<Product[]> {
    return (await this.products.find({ _id: { $in: [...ids] } }, { projection: WITHOUT_HOLDS })).map(toProduct);
  }

  countProducts(): Promise<number> {
    return this.products.count({});
  }

  async putProduct(product: Product): Promise<PutOutcome> {
    const fields = catalogFields(product);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await this.products.findOne({ _id: product.id }, { holds: 0 });
      if (!existing) {
        if (await this.products.insertOnce({ _id: product.id, ...fields, holds: {}, supplied: fields.stock })) {
          await this.recordSupply(product.id, fields.stock);
          return 'created';
        }
        continue; // created meanwhile: update it instead
      }
      if ((Object.keys(fields) as (keyof typeof fields)[]).every((k) => existing[k] === fields[k])) return 'unchanged';
      if (await this.replaceStock(existing, { $set: fields }, fields.stock)) return 'updated';
    }
    throw new Error(`Product ${product.id} kept changing; try again`);
  }

  async setStock(productId: string, stock: number): Promise<Product | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await this.products.findOne({ _id: productId }, { holds: 0 });
      if (!existing) return null;
      const updated = await this.replaceStock(existing, { $set: { stock } }, stock);
      if (updated) return toProduct(updated);
    }
    throw new Error(`The stock of ${productId} kept changing; try again`);
  }

  /**
   * Sets the available stock, conditional on it not having moved since it was read, and
   * counts the difference as supplied; null when a reservation got there first.
   */
  private async replaceStock(existing: ProductDoc, update: { $set: object }, stock: number): Promise<ProductDoc | null> {
    const delta = stock - existing.stock;
    const { doc } = await this.products.updateOne({ _id: existing._id, stock: existing.stock }, delta === 0 ? update : { ...update, $inc: { supplied: delta } });
    if (doc && delta !== 0) await this.recordSupply(existing._id, delta);
    return doc;
  }

  private recordSupply(productId: string, quantity: number): Promise<void> {
    return this.recordMovement({ id: `supply:${productId}:${randomUUID()}`, productId, kind: 'supply', quantity, at: new Date().toISOString() });
  }

  async recordMovement({ id, ...movement }: StockMovement): Promise<void> {
    await this.movements.insertOnce({ _id: id, ...movement });
  }

  async listMovements(filter: { productId?: string; orderId?: string; kind?: StockMovement['kind'] } = {}): Promise<StockMovement[]> {
    const query = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined));
    const docs = await this.movements.find(query, { sort: { at: 1, _id: 1 } });
    return docs.map(({ _id, ...m }) => ({ id: _id, ...m }));
  }

  async stockAudit(): Promise<StockAudit[]> {
    const docs = await this.products.find({}, { sort: { _id: 1 }, projection: { stock: 1, holds: 1, supplied: 1 } });
    return docs.map((d) => ({
      productId: d._id,
      stock: d.stock,
      held: Object.values(d.holds ?? {}).reduce((a, b) => a + b, 0),
      supplied: d.supplied ?? d.stock,
    }));
  }

  async allHolds(): Promise<Map<string, OrderLineRequest[]>> {
    const byOrder = new Map<string, OrderLineRequest[]>();
    for (const d of await this.products.find({}, { projection: { holds: 1 } })) {
      for (const [orderId, quantity] of Object.entries(d.holds ?? {})) {
        byOrder.set(orderId, [...(byOrder.get(orderId) ?? []), { productId: d._id, quantity }]);
      }
    }
    return byOrder;
  }

  removeProductsExcept(keep: readonly string[]): Promise<number> {
    return this.products.deleteMany({ _id: { $nin: [...keep] } });
  }

  async holdStock(orderId: string, productId: string, quantity: number): Promise<HoldOutcome> {
    const field = holdField(orderId);
    const { doc } = await this.products.updateOne(
      { _id: productId, stock: { $gte: quantity }, [field]: { $exists: false } },
      { $inc: { stock: -quantity }, $set: { [field]: quantity } },
    );
    if (doc) {
      await this.recordHoldMovement('reserve', orderId, productId, -quantity);
      return { status: 'held', product: toProduct(doc), quantity };
    }
    const current = await this.products.findOne({ _id: productId });
    if (!current) return { status: 'unknown-product' };
    const held = current.holds?.[orderId];
    if (held !== undefined) {
      // Held by an earlier attempt, which may have stopped before recording it.
      await this.recordHoldMovement('reserve', orderId, productId, -held);
      return { status: 'already-held', product: toProduct(current), quantity: held };
    }
    return { status: 'insufficient', available: current.stock };
  }

  async releaseHold(orderId: string, productId: string): Promise<number> {
    const field = holdField(orderId);
    const held = (await this.products.findOne({ _id: productId, [field]: { $exists: true } }))?.holds?.[orderId];
    if (held === undefined) return 0;
    // Conditional on the hold still being there: of two concurrent releases, one returns the units.
    const { doc } = await this.products.updateOne({ _id: productId, [field]: held }, { $inc: { stock: held }, $unset: { [field]: '' } });
    if (!doc) return 0;
    await this.recordHoldMovement('release', orderId, productId, held);
    return held;
  }

  private recordHoldMovement(kind: 'reserve' | 'release', orderId: string, productId: string, quantity: number): Promise<void> {
    return this.recordMovement({ id: `${kind}:${orderId}:${productId}`, productId, kind, quantity, orderId, at: new Date().toISOString() });
  }

  async findHolds(orderId: string): Promise<OrderLineRequest[]> {
    const docs = await this.products.find({ [holdField(orderId)]: { $exists: true } });
    return docs.map((d) => ({ productId: d._id, quantity: d.holds?.[orderId] ?? 0 }));
  }

  async getReservation(orderId: string): Promise<ReservationRecord | null> {
    const doc = await this.reservations.findOne({ _id: orderId });
    return doc && toReservation(doc);
  }

  async recordReservation(record: ReservationRecord): Promise<ReservationRecord> {
    const { orderId, ...rest } = record;
    if (await this.reservations.insertOnce({ _id: orderId, ...rest })) return record;
    return (await this.getReservation(orderId)) ?? record;
  }

  async markReservationReleased(orderId: string, at: string): Promise<void> {
    await this.reservations.updateOne({ _id: orderId }, { $set: { status: 'released', updatedAt: at } }, { upsert: true });
  }

  async findHeldReservations(from: string, to: string, limit: number): Promise<ReservationRecord[]> {
    const docs = await this.reservations.find({ status: 'held', createdAt: { $gte: from, $lt: to } }, { sort: { createdAt: 1 }, limit });
    return docs.map(toReservation);
  }

  async getCart(shopperId: string): Promise<CartRecord> {
    const doc = await this.carts.findOne({ _id: shopperId });
    return { shopperId, lines: doc?.lines ?? [], version: doc?.version ?? 0 };
  }

  async replaceCart(shopperId: string, lines: OrderLineRequest[], version: number): Promise<boolean> {
    if (version === 0) return this.carts.insertOnce({ _id: shopperId, lines, version: 1 });
    const { doc } = await this.carts.updateOne({ _id: shopperId, version }, { $set: { lines, version: version + 1 } });
    return doc !== null;
  }

  async insertOrder(order: Order): Promise<{ inserted: boolean; order: Order }> {
    const { id, ...rest } = order;
    if (await this.orders.insertOnce({ _id: id, ...rest })) return { inserted: true, order };
    const existing = await this.getOrder(id);
    if (!existing) throw new Error(`Order ${id} exists but cannot be read`);
    return { inserted: false, order: existing };
  }

  async getOrder(orderId: string): Promise<Order | null> {
    const doc = await this.orders.findOne({ _id: orderId });
    return doc && toOrder(doc);
  }

  async listOrders(shopperId: string, limit: number): Promise<Order[]> {
    return (await this.orders.find({ shopperId }, { sort: { createdAt: -1, _id: -1 }, limit })).map(toOrder);
  }

  async listRecentOrders(limit: number): Promise<Order[]> {
    return (await this.orders.find({}, { sort: { createdAt: -1, _id: -1 }, limit })).map(toOrder);
  }

  async findOrdersByStatus(status: OrderStatus, before: string, limit: number): Promise<Order[]> {
    return (await this.orders.find({ status, updatedAt: { $lt: before } }, { sort: { updatedAt: 1 }, limit })).map(toOrder);
  }

  async transitionOrder(orderId: string, from: readonly OrderStatus[], changes: Partial<Order>): Promise<Order | null> {
    const { id: _id, ...fields } = changes;
    const { doc } = await this.orders.updateOne({ _id: orderId, status: { $in: [...from] } }, { $set: fields });
    return doc && toOrder(doc);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
