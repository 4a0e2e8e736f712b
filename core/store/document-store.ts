/**
 * The ShopStore, written once over five collections (products, movements, carts, orders,
 * reservations). See core/store/store.ts for the guarantees; every stock move here is one
 * conditional update of one product document, and every change of stock for sale goes through
 * the product's outbox (`journal`) into the ledger.
 */
import { randomUUID } from 'node:crypto';
import type { Order, OrderLineRequest, OrderStatus, PricedLine, Product } from '../schemas';
import type { Collection, Projection } from './collection';
import type {
  CartRecord,
  CatalogFields,
  Decision,
  HoldOutcome,
  HoldTokens,
  OrderStock,
  ProductEntries,
  ProductPageQuery,
  PutOutcome,
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
/** An order, written when its checkout is decided; orders of older versions lack the tokens. */
export type OrderDoc = Omit<Order, 'id'> & { _id: string; holdTokens?: HoldTokens; returnTokens?: Record<string, string> };
/** An id taken by the sweep for a checkout that was never decided. */
export interface AbandonedDoc {
  _id: string;
  status: 'abandoned';
  createdAt: string;
  updatedAt: string;
}
/**
 * What versions before orders recorded their own stock kept per order (read, never written):
 * the state of its stock and the tokens that counted.
 */
export interface ReservationDoc {
  _id: string;
  status: 'holding' | 'held' | 'selling' | 'sold' | 'taking-back' | 'returning' | 'returned' | 'released';
  items?: PricedLine[];
  holdTokens?: HoldTokens;
  returnTokens?: Record<string, string>;
  updatedAt: string;
}

export interface ShopCollections {
  products: Collection<ProductDoc>;
  movements: Collection<MovementDoc>;
  carts: Collection<CartDoc>;
  orders: Collection<OrderDoc | AbandonedDoc>;
  /** Written by earlier versions only: read for their orders' tokens. */
  reservations: Collection<ReservationDoc>;
}

/** The indexes the shop's queries use, the same for both adapters. */
export const SHOP_INDEXES = {
  products: [{ name: 1, _id: 1 }],
  movements: [{ productId: 1, at: 1, _id: 1 }, { orderId: 1, at: 1, _id: 1 }],
  carts: [{ updatedAt: 1 }],
  orders: [{ shopperId: 1, createdAt: -1, _id: -1 }, { status: 1, updatedAt: 1 }, { createdAt: -1, _id: -1 }],
  reservations: [],
} as const;

const CATALOG: Projection = { name: 1, description: 1, priceCents: 1, stock: 1, image: 1 };
/** Optimistic retries for stock changes that race with reservations. */
const MAX_ATTEMPTS = 20;
/**
 * A product's outbox is moved to the ledger once it holds this many movements (and by the
 * sweep): two writes per batch instead of two per movement, and the product's document stays
 * within a few kilobytes.
 */
export const LEDGER_BATCH = 32;
/** The outbox's entries, returned by the updates that add to it so that a full one is flushed at once. */
const WITH_JOURNAL: Projection = { journal: 1 };

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

/** The tokens of an order written before orders kept them, from its reservation record (if any). */
function legacyTokens(order: Order, record: ReservationDoc | null): Pick<OrderStock, 'holdTokens' | 'returnTokens'> {
  // Holds written before tokens existed are the products' bare numbers.
  const holdTokens = record?.holdTokens ?? Object.fromEntries((record?.items ?? order.items).map((i) => [i.productId, null]));
  switch (record?.status) {
    case 'returning':
      return { holdTokens, returnTokens: record.returnTokens ?? {} };
    case 'returned':
    case 'released':
      // Nothing of it is sold any more: nothing to take back.
      return { holdTokens, returnTokens: {} };
    default:
      return { holdTokens };
  }
}

function toOrder({ _id, holdTokens: _h, returnTokens: _r, ...rest }: OrderDoc): Order {
  return { id: _id, ...rest };
}

const isOrder = (doc: OrderDoc | AbandonedDoc): doc is OrderDoc => doc.status !== 'abandoned';
/** Orders only, not the ids the sweep took for abandoned checkouts. */
const ORDERS_ONLY = { status: { $ne: 'abandoned' } };

/** A case-insensitive substring match; a RegExp object, which both stores accept. */
function nameContains(q: string): RegExp {
  return new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
}

export class DocumentStore implements ShopStore {
  private readonly products: Collection<ProductDoc>;
  private readonly movements: Collection<MovementDoc>;
  private readonly carts: Collection<CartDoc>;
  private readonly orders: Collection<OrderDoc | AbandonedDoc>;
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
          await this.flushProduct(product.id, { [supply.id]: supply.entry });
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
    const { doc } = await this.products.updateOne({ _id: existing._id, stock: existing.stock }, update, { projection: { ...CATALOG, ...WITH_JOURNAL } });
    // A supply is recorded at once: an operator's restock shows in the ledger right away.
    if (doc?.journal && supply) await this.flushProduct(existing._id, doc.journal);
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
      { projection: { name: 1, priceCents: 1, ...WITH_JOURNAL } },
    );
    if (doc) {
      await this.flushWhenFull(doc);
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
      { projection: WITH_JOURNAL },
    );
    if (!doc) return 0;
    await this.flushWhenFull(doc);
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
      { projection: WITH_JOURNAL },
    );
    if (!doc) return 0;
    await this.flushWhenFull(doc);
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
    const recorded = (await this.movements.find(query, { sort: { at: 1, _id: 1 } })).map(({ _id, ...m }): StockMovement => ({ id: _id, ...m }));
    // Movements still in an outbox are the ledger's too: the ledger reads the same whenever it is read.
    const seen = new Set(recorded.map((m) => m.id));
    const outboxes = await this.products.find(filter.productId ? { _id: filter.productId } : {}, { projection: WITH_JOURNAL });
    const waiting = outboxes.flatMap((doc) => Object.entries(doc.journal ?? {}).map(([id, entry]): StockMovement => ({ id, productId: doc._id, ...entry })));
    const matching = waiting.filter((m) => !seen.has(m.id) && (['productId', 'orderId', 'kind'] as const).every((k) => filter[k] === undefined || m[k] === filter[k]));
    return [...recorded, ...matching].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async flushLedger(): Promise<number> {
    let flushed = 0;
    for (const doc of await this.products.find({ journal: { $exists: true } }, { projection: WITH_JOURNAL })) flushed += await this.flushProduct(doc._id, doc.journal ?? {});
    return flushed;
  }

  private async flushWhenFull(doc: Pick<ProductDoc, '_id' | 'journal'>): Promise<void> {
    if (doc.journal && Object.keys(doc.journal).length >= LEDGER_BATCH) await this.flushProduct(doc._id, doc.journal);
  }

  /**
   * Moves movements from a product's outbox into the ledger: recorded first (recording twice
   * keeps one), then taken out of the outbox, so a process that dies in between loses nothing.
   */
  private async flushProduct(productId: string, journal: Record<string, JournalDoc>): Promise<number> {
    const ids = Object.keys(journal);
    if (ids.length === 0) return 0;
    await this.movements.insertMany(ids.map((id) => ({ _id: id, productId, ...(journal[id] as JournalDoc) })));
    await this.products.updateOne({ _id: productId }, { $unset: Object.fromEntries(ids.map((id) => [`journal.${id}`, ''])) });
    return ids.length;
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

  async decideOrder(order: Order, holdTokens: HoldTokens): Promise<{ decided: boolean; decision: Decision }> {
    const { id, ...rest } = order;
    const doc: OrderDoc = { _id: id, ...rest, holdTokens };
    if (await this.orders.insertOnce(doc)) return { decided: true, decision: { kind: 'order', stock: { order, holdTokens } } };
    // An older version wrote a pending order before reserving: deciding it is moving it on.
    const { doc: moved } = await this.orders.updateOne({ _id: id, status: 'pending' }, { $set: { ...rest, holdTokens } }, { projection: {} });
    if (moved) return { decided: true, decision: { kind: 'order', stock: { order, holdTokens } } };
    return { decided: false, decision: await this.existingDecision(id) };
  }

  async abandonCheckout(orderId: string, at: string): Promise<{ decided: boolean; decision: Decision }> {
    if (await this.orders.insertOnce({ _id: orderId, status: 'abandoned', createdAt: at, updatedAt: at })) return { decided: true, decision: { kind: 'abandoned', at } };
    return { decided: false, decision: await this.existingDecision(orderId) };
  }

  private async existingDecision(orderId: string): Promise<Decision> {
    const decision = await this.getDecision(orderId);
    if (!decision) throw new Error(`Order ${orderId} exists but cannot be read`);
    return decision;
  }

  async getDecision(orderId: string): Promise<Decision | null> {
    const doc = await this.orders.findOne({ _id: orderId });
    if (!doc) return null;
    if (!isOrder(doc)) return { kind: 'abandoned', at: doc.createdAt };
    const order = toOrder(doc);
    if (doc.holdTokens) return { kind: 'order', stock: { order, holdTokens: doc.holdTokens, ...(doc.returnTokens ? { returnTokens: doc.returnTokens } : {}) } };
    return { kind: 'order', stock: { order, ...legacyTokens(order, await this.reservations.findOne({ _id: orderId })) } };
  }

  async recordReturns(orderId: string, returnTokens: Record<string, string>): Promise<Record<string, string> | null> {
    const { doc } = await this.orders.updateOne({ _id: orderId, status: 'cancelling', returnTokens: { $exists: false } }, { $set: { returnTokens } }, { projection: {} });
    if (doc) return returnTokens;
    const decision = await this.getDecision(orderId);
    return decision?.kind === 'order' ? (decision.stock.returnTokens ?? null) : null;
  }

  async getOrder(orderId: string): Promise<Order | null> {
    const doc = await this.orders.findOne({ _id: orderId });
    return doc && isOrder(doc) ? toOrder(doc) : null;
  }

  async listOrders(shopperId: string, limit: number): Promise<Order[]> {
    return (await this.orders.find({ shopperId }, { sort: { createdAt: -1, _id: -1 }, limit })).filter(isOrder).map(toOrder);
  }

  async listRecentOrders(limit: number): Promise<Order[]> {
    return (await this.orders.find(ORDERS_ONLY, { sort: { createdAt: -1, _id: -1 }, limit })).filter(isOrder).map(toOrder);
  }

  async findOrdersByStatus(status: OrderStatus, before: string, limit: number): Promise<Order[]> {
    return (await this.orders.find({ status, updatedAt: { $lt: before } }, { sort: { updatedAt: 1 }, limit })).filter(isOrder).map(toOrder);
  }

  async transitionOrder(orderId: string, from: readonly OrderStatus[], changes: Partial<Order>): Promise<Order | null> {
    const { id: _id, ...fields } = changes;
    const { doc } = await this.orders.updateOne({ _id: orderId, status: { $in: [...from] } }, { $set: fields }, { projection: {} });
    return doc && isOrder(doc) ? toOrder(doc) : null;
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
