/**
 * The ShopStore, written once over five collections (products, movements, carts, orders,
 * reservations). See core/store/store.ts for the guarantees; every stock move here is one
 * conditional update of one product document, and every change of stock for sale goes through
 * the product's outbox (`journal`) into the ledger.
 */
import { randomUUID } from 'node:crypto';
import type { Order, OrderLineRequest, OrderStatus, Product } from '../schemas';
import type { Collection, Projection } from './collection';
import type {
  CartRecord,
  CatalogFields,
  HoldOutcome,
  ProductEntries,
  ProductPageQuery,
  PutOutcome,
  ReservationRecord,
  ReservationStatus,
  ShopStore,
  StockAudit,
  StockEntry,
  StockMovement,
  TakeBackOutcome,
} from './store';

/** An order's entry on a product; a bare number is a hold written before entries had tokens. */
export interface EntryDoc {
  q: number;
  t: string;
  at: string;
}
type JournalDoc = Omit<StockMovement, 'id' | 'productId'>;

export interface ProductDoc extends Omit<Product, 'id'> {
  _id: string;
  /** Every unit ever put on sale: stock + held + returning + sold. */
  supplied?: number;
  sold?: number;
  holds?: Record<string, EntryDoc | number>;
  returns?: Record<string, EntryDoc>;
  /** Movements written with the update that made them, not yet in the ledger. */
  journal?: Record<string, JournalDoc>;
}
export type MovementDoc = Omit<StockMovement, 'id'> & { _id: string };
export interface CartDoc {
  _id: string;
  lines: OrderLineRequest[];
  version: number;
  /** Absent on carts written before carts kept it. */
  updatedAt?: string;
}
export type OrderDoc = Omit<Order, 'id'> & { _id: string };
/** Older records have only status, items and dates. */
export type ReservationDoc = Omit<Partial<ReservationRecord>, 'orderId'> & { _id: string; status: ReservationStatus; updatedAt: string };

export interface ShopCollections {
  products: Collection<ProductDoc>;
  movements: Collection<MovementDoc>;
  carts: Collection<CartDoc>;
  orders: Collection<OrderDoc>;
  reservations: Collection<ReservationDoc>;
}

/** The indexes the shop's queries use, the same for both adapters. */
export const SHOP_INDEXES = {
  products: [{ name: 1, _id: 1 }],
  movements: [{ productId: 1, at: 1, _id: 1 }, { orderId: 1, at: 1, _id: 1 }],
  carts: [{ updatedAt: 1 }],
  orders: [{ shopperId: 1, createdAt: -1, _id: -1 }, { status: 1, updatedAt: 1 }, { createdAt: -1, _id: -1 }],
  reservations: [{ status: 1, updatedAt: 1 }],
} as const;

const CATALOG: Projection = { name: 1, description: 1, priceCents: 1, stock: 1, image: 1 };
/** Optimistic retries for stock changes that race with reservations. */
const MAX_ATTEMPTS = 20;

const now = () => new Date().toISOString();
const holdField = (orderId: string) => `holds.${orderId}`;
const returnField = (orderId: string) => `returns.${orderId}`;
const quantityOf = (entry: EntryDoc | number) => (typeof entry === 'number' ? entry : entry.q);
const tokenOf = (entry: EntryDoc | number): string | null => (typeof entry === 'number' ? null : entry.t);
/** A condition that matches exactly this entry: its token, or for an old entry its value. */
const sameEntry = (field: string, entry: EntryDoc | number) => (typeof entry === 'number' ? { [field]: entry } : { [`${field}.t`]: entry.t });

function toProduct(doc: ProductDoc): Product {
  return { id: doc._id, name: doc.name, description: doc.description, priceCents: doc.priceCents, stock: doc.stock, image: doc.image };
}

function toCatalogFields(doc: Pick<ProductDoc, '_id' | 'name' | 'priceCents'>): CatalogFields {
  return { id: doc._id, name: doc.name, priceCents: doc.priceCents };
}

function catalogFields(p: Product): Omit<Product, 'id'> {
  return { name: p.name, description: p.description, priceCents: p.priceCents, stock: p.stock, image: p.image };
}

function toEntries(map: Record<string, EntryDoc | number> | undefined): StockEntry[] {
  return Object.entries(map ?? {}).map(([orderId, entry]) => ({
    orderId,
    quantity: quantityOf(entry),
    token: tokenOf(entry),
    at: typeof entry === 'number' ? null : entry.at,
  }));
}

function toReservation(doc: ReservationDoc): ReservationRecord {
  const items = doc.items ?? [];
  const record: ReservationRecord = {
    orderId: doc._id,
    status: doc.status,
    requested: doc.requested ?? items.map((i) => ({ productId: i.productId, quantity: i.quantity })),
    items,
    // A tombstone written by a release that came first has no creation time of its own.
    createdAt: doc.createdAt ?? doc.updatedAt,
    updatedAt: doc.updatedAt,
  };
  // Records held before tokens existed: their holds are the products' bare numbers.
  const holdTokens = doc.holdTokens ?? (doc.status === 'held' || doc.status === 'selling' ? Object.fromEntries(items.map((i) => [i.productId, null])) : undefined);
  if (holdTokens) record.holdTokens = holdTokens;
  if (doc.returnTokens) record.returnTokens = doc.returnTokens;
  return record;
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

  // ---- catalog ------------------------------------------------------------------------------

  async listProducts({ q, limit, after }: ProductPageQuery): Promise<Product[]> {
    const conditions: object[] = [];
    if (q) conditions.push({ name: nameContains(q) });
    if (after) conditions.push({ $or: [{ name: { $gt: after.name } }, { name: after.name, _id: { $gt: after.id } }] });
    const docs = await this.products.find(conditions.length ? { $and: conditions } : {}, { sort: { name: 1, _id: 1 }, limit, projection: CATALOG });
    return docs.map(toProduct);
  }

  async getProducts(ids: readonly string[]): Promise<Product[]> {
    return (await this.products.find({ _id: { $in: [...ids] } }, { projection: CATALOG })).map(toProduct);
  }

  countProducts(): Promise<number> {
    return this.products.count({});
  }

  async putProduct(product: Product): Promise<PutOutcome> {
    const fields = catalogFields(product);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await this.products.findOne({ _id: product.id }, CATALOG);
      if (!existing) {
        const supply = this.supply(product.id, fields.stock);
        if (await this.products.insertOnce({ _id: product.id, ...fields, supplied: fields.stock, sold: 0, journal: { [supply.id]: supply.entry } })) {
          await this.record(product.id, supply.id, supply.entry);
          return 'created';
        }
        continue; // created meanwhile: update it instead
      }
      if ((Object.keys(fields) as (keyof typeof fields)[]).every((k) => existing[k] === fields[k])) return 'unchanged';
      if (await this.replaceStock(existing, fields, fields.stock)) return 'updated';
    }
    throw new Error(`Product ${product.id} kept changing; try again`);
  }

  async setStock(productId: string, stock: number): Promise<Product | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await this.products.findOne({ _id: productId }, CATALOG);
      if (!existing) return null;
      const updated = await this.replaceStock(existing, { stock }, stock);
      if (updated) return toProduct(updated);
    }
    throw new Error(`The stock of ${productId} kept changing; try again`);
  }

  /**
   * Sets the stock for sale, conditional on it not having moved since it was read, and counts
   * the difference as supplied; null when a checkout got there first.
   */
  private async replaceStock(existing: ProductDoc, fields: Partial<Omit<Product, 'id'>>, stock: number): Promise<ProductDoc | null> {
    const delta = stock - existing.stock;
    const supply = delta === 0 ? undefined : this.supply(existing._id, delta);
    const update = supply ? { $set: { ...fields, [`journal.${supply.id}`]: supply.entry }, $inc: { supplied: delta } } : { $set: fields };
    const { doc } = await this.products.updateOne({ _id: existing._id, stock: existing.stock }, update, { projection: CATALOG });
    if (doc && supply) await this.record(existing._id, supply.id, supply.entry);
    return doc;
  }

  private supply(productId: string, quantity: number): { id: string; entry: JournalDoc } {
    return { id: `supply:${productId}:${randomUUID()}`, entry: { kind: 'supply', quantity, at: now() } };
  }

  removeProductsExcept(keep: readonly string[]): Promise<number> {
    return this.products.deleteMany({ _id: { $nin: [...keep] } });
  }

  // ---- stock moves --------------------------------------------------------------------------

  async holdStock(orderId: string, productId: string, quantity: number, token: string): Promise<HoldOutcome> {
    const field = holdField(orderId);
    const at = now();
    const movement = { id: `reserve:${orderId}:${productId}:${token}`, entry: { kind: 'reserve', quantity: -quantity, orderId, at } as JournalDoc };
    const { doc } = await this.products.updateOne(
      { _id: productId, stock: { $gte: quantity }, [field]: { $exists: false } },
      { $inc: { stock: -quantity }, $set: { [field]: { q: quantity, t: token, at }, [`journal.${movement.id}`]: movement.entry } },
      { projection: { name: 1, priceCents: 1 } },
    );
    if (doc) {
      await this.record(productId, movement.id, movement.entry);
      return { status: 'held', product: toCatalogFields(doc) };
    }
    const current = await this.products.findOne({ _id: productId }, { name: 1, priceCents: 1, stock: 1, [field]: 1 });
    if (!current) return { status: 'unknown-product' };
    const held = current.holds?.[orderId];
    if (held !== undefined) return { status: 'already-held', product: toCatalogFields(current), token: tokenOf(held), quantity: quantityOf(held) };
    return { status: 'insufficient', available: current.stock };
  }

  async releaseHold(orderId: string, productId: string, token?: string | null): Promise<number> {
    const field = holdField(orderId);
    const entry = (await this.products.findOne({ _id: productId, [field]: { $exists: true } }, { [field]: 1 }))?.holds?.[orderId];
    if (entry === undefined || (token !== undefined && tokenOf(entry) !== token)) return 0;
    const quantity = quantityOf(entry);
    const entryToken = tokenOf(entry);
    const movementId = entryToken === null ? `release:${orderId}:${productId}` : `release:${orderId}:${productId}:${entryToken}`;
    const journal: JournalDoc = { kind: 'release', quantity, orderId, at: now() };
    // Conditional on this very entry: of two concurrent releases, one gives the units back.
    const { doc } = await this.products.updateOne(
      { _id: productId, ...sameEntry(field, entry) },
      { $inc: { stock: quantity }, $unset: { [field]: '' }, $set: { [`journal.${movementId}`]: journal } },
    );
    if (!doc) return 0;
    await this.record(productId, movementId, journal);
    return quantity;
  }

  async sellHold(orderId: string, productId: string, quantity: number, token: string | null): Promise<boolean> {
    const field = holdField(orderId);
    const entry = token === null ? { [field]: quantity } : { [`${field}.t`]: token, [`${field}.q`]: quantity };
    const { doc } = await this.products.updateOne({ _id: productId, ...entry }, { $unset: { [field]: '' }, $inc: { sold: quantity } });
    return doc !== null;
  }

  async takeBackSold(orderId: string, productId: string, quantity: number, token: string): Promise<TakeBackOutcome> {
    const field = returnField(orderId);
    const { doc } = await this.products.updateOne(
      { _id: productId, sold: { $gte: quantity }, [field]: { $exists: false } },
      { $inc: { sold: -quantity }, $set: { [field]: { q: quantity, t: token, at: now() } } },
    );
    if (doc) return { status: 'taken' };
    const entry = (await this.products.findOne({ _id: productId }, { [field]: 1 }))?.returns?.[orderId];
    return entry ? { status: 'already-taken', token: entry.t } : { status: 'not-sold' };
  }

  async restockReturn(orderId: string, productId: string, token: string): Promise<number> {
    const field = returnField(orderId);
    const entry = (await this.products.findOne({ _id: productId, [`${field}.t`]: token }, { [field]: 1 }))?.returns?.[orderId];
    if (!entry) return 0;
    const movementId = `return:${orderId}:${productId}:${token}`;
    const journal: JournalDoc = { kind: 'return', quantity: entry.q, orderId, at: now() };
    const { doc } = await this.products.updateOne(
      { _id: productId, [`${field}.t`]: token },
      { $inc: { stock: entry.q }, $unset: { [field]: '' }, $set: { [`journal.${movementId}`]: journal } },
    );
    if (!doc) return 0;
    await this.record(productId, movementId, journal);
    return entry.q;
  }

  async keepSold(orderId: string, productId: string, token: string): Promise<boolean> {
    const field = returnField(orderId);
    const entry = (await this.products.findOne({ _id: productId, [`${field}.t`]: token }, { [field]: 1 }))?.returns?.[orderId];
    if (!entry) return false;
    const { doc } = await this.products.updateOne({ _id: productId, [`${field}.t`]: token }, { $inc: { sold: entry.q }, $unset: { [field]: '' } });
    return doc !== null;
  }

  async openEntries(): Promise<ProductEntries[]> {
    // Catalog-sized: every product, but only its entries in flight.
    const docs = await this.products.find({}, { projection: { holds: 1, returns: 1 } });
    return docs
      .map((d) => ({ productId: d._id, holds: toEntries(d.holds), returns: toEntries(d.returns) }))
      .filter((p) => p.holds.length > 0 || p.returns.length > 0);
  }

  // ---- stock accounting ---------------------------------------------------------------------

  async stockAudit(): Promise<StockAudit[]> {
    const docs = await this.products.find({}, { sort: { _id: 1 }, projection: { stock: 1, supplied: 1, sold: 1, holds: 1, returns: 1 } });
    const sum = (entries: StockEntry[]) => entries.reduce((n, e) => n + e.quantity, 0);
    return docs.map((d) => {
      const held = sum(toEntries(d.holds));
      const sold = d.sold ?? 0;
      return { productId: d._id, stock: d.stock, held, returning: sum(toEntries(d.returns)), sold, supplied: d.supplied ?? d.stock + held + sold };
    });
  }

  async listMovements(filter: { productId?: string; orderId?: string; kind?: StockMovement['kind'] } = {}): Promise<StockMovement[]> {
    const query = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined));
    const docs = await this.movements.find(query, { sort: { at: 1, _id: 1 } });
    return docs.map(({ _id, ...m }) => ({ id: _id, ...m }));
  }

  async flushLedger(): Promise<number> {
    let flushed = 0;
    for (const doc of await this.products.find({}, { projection: { journal: 1 } })) {
      for (const [id, entry] of Object.entries(doc.journal ?? {})) {
        await this.record(doc._id, id, entry);
        flushed++;
      }
    }
    return flushed;
  }

  /** Moves one movement from a product's outbox into the ledger (recording twice keeps one). */
  private async record(productId: string, id: string, entry: JournalDoc): Promise<void> {
    await this.movements.insertOnce({ _id: id, productId, ...entry });
    await this.products.updateOne({ _id: productId }, { $unset: { [`journal.${id}`]: '' } });
  }

  // ---- reservations -------------------------------------------------------------------------

  async openReservation(orderId: string, requested: OrderLineRequest[], at: string): Promise<ReservationRecord> {
    const doc: ReservationDoc = { _id: orderId, status: 'holding', requested, items: [], createdAt: at, updatedAt: at };
    if (await this.reservations.insertOnce(doc)) return toReservation(doc);
    const stored = await this.getReservation(orderId);
    if (!stored) throw new Error(`Reservation ${orderId} exists but cannot be read`);
    return stored;
  }

  async getReservation(orderId: string): Promise<ReservationRecord | null> {
    const doc = await this.reservations.findOne({ _id: orderId });
    return doc && toReservation(doc);
  }

  async updateReservation(orderId: string, from: readonly ReservationStatus[], changes: Partial<Omit<ReservationRecord, 'orderId'>>): Promise<ReservationRecord | null> {
    // A field given as undefined is removed: what a settled record no longer needs is not kept.
    const entries = Object.entries(changes);
    const $set = Object.fromEntries(entries.filter(([, v]) => v !== undefined));
    const $unset = Object.fromEntries(entries.filter(([, v]) => v === undefined).map(([k]) => [k, '']));
    const update = Object.keys($unset).length ? { $set, $unset } : { $set };
    const { doc } = await this.reservations.updateOne({ _id: orderId, status: { $in: [...from] } }, update, { projection: {} });
    return doc && toReservation(doc);
  }

  async releaseReservation(orderId: string, at: string): Promise<ReservationRecord | null> {
    const released = await this.updateReservation(orderId, ['holding', 'held'], { status: 'released', updatedAt: at });
    if (released) return released;
    // No record yet (the release came before any hold): a tombstone, so that a late hold is undone.
    const tombstone: ReservationDoc = { _id: orderId, status: 'released', requested: [], items: [], createdAt: at, updatedAt: at };
    if (await this.reservations.insertOnce(tombstone)) return toReservation(tombstone);
    return this.getReservation(orderId);
  }

  async findReservations(status: ReservationStatus, before: string, limit: number): Promise<ReservationRecord[]> {
    const docs = await this.reservations.find({ status, updatedAt: { $lt: before } }, { sort: { updatedAt: 1 }, limit });
    return docs.map(toReservation);
  }

  // ---- carts --------------------------------------------------------------------------------

  async getCart(shopperId: string): Promise<CartRecord> {
    const doc = await this.carts.findOne({ _id: shopperId });
    return { shopperId, lines: doc?.lines ?? [], version: doc?.version ?? 0 };
  }

  async replaceCart(shopperId: string, lines: OrderLineRequest[], version: number, at: string): Promise<boolean> {
    if (version === 0) return this.carts.insertOnce({ _id: shopperId, lines, version: 1, updatedAt: at });
    const { doc } = await this.carts.updateOne({ _id: shopperId, version }, { $set: { lines, version: version + 1, updatedAt: at } });
    return doc !== null;
  }

  async removeCartsUntouchedSince(before: string, limit: number): Promise<number> {
    const stale = await this.carts.find({ updatedAt: { $lt: before } }, { sort: { updatedAt: 1 }, limit, projection: { _id: 1 } });
    if (stale.length === 0) return 0;
    // Still untouched: a cart changed since it was found stays.
    return this.carts.deleteMany({ _id: { $in: stale.map((c) => c._id) }, updatedAt: { $lt: before } });
  }

  async dateUndatedCarts(at: string, limit: number): Promise<number> {
    const undated = await this.carts.find({ updatedAt: null }, { limit, projection: { _id: 1 } });
    let dated = 0;
    for (const { _id } of undated) if ((await this.carts.updateOne({ _id, updatedAt: null }, { $set: { updatedAt: at } })).doc) dated++;
    return dated;
  }

  // ---- orders -------------------------------------------------------------------------------

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
    const { doc } = await this.orders.updateOne({ _id: orderId, status: { $in: [...from] } }, { $set: fields }, { projection: {} });
    return doc && toOrder(doc);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
