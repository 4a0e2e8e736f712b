/**
 * The one store interface, in the shop's terms. Two adapters implement it: MongoDB
 * (core/store/mongo.ts) and the embedded SQLite store (core/store/embedded.ts); one contract
 * suite (test/store.contract.test.ts) holds both to it.
 *
 * Stock lives on the product document in four buckets: `stock` (for sale), `holds` (units held
 * by checkouts in flight, one entry per order), `returns` (units of a cancelled order on their
 * way back to stock, one entry per order) and `sold`. Every stock operation below is one atomic
 * conditional update of one product, moving units between two buckets, so
 *   supplied = stock + held + returning + sold
 * holds for every product at every moment, crash or not. An entry exists only while its
 * checkout or cancellation is in flight: a product's document does not grow with its history.
 *
 * Each entry carries the token of the attempt that made it. The order, written once when its
 * checkout is decided, names the tokens that count; an entry with any other token was made by a
 * duplicate or late attempt and is undone, never counted (core/inventory.ts has the whole flow).
 *
 * Every change of `stock` is also written to the stock ledger, through an outbox on the product
 * (`journal`, set in the same atomic update) that is moved to the ledger a batch at a time: a
 * process that dies in between leaves the entries on the product, and the next flush records
 * each of them once.
 */
import type { Order, OrderLineRequest, OrderStatus, Product } from '../schemas';

/** The catalog fields of a product, without its stock bookkeeping. */
export type CatalogFields = Pick<Product, 'id' | 'name' | 'priceCents'>;

export type HoldOutcome =
  | { status: 'held'; product: CatalogFields }
  /** This order already holds units of the product: by this attempt or another one (its token). */
  | { status: 'already-held'; product: CatalogFields; token: string | null; quantity: number }
  | { status: 'insufficient'; available: number }
  | { status: 'unknown-product' };

export type TakeBackOutcome = { status: 'taken' } | { status: 'already-taken'; token: string | null } | { status: 'not-sold' };

/** Per product, the token of the hold an order counts; null: a hold written before tokens existed. */
export type HoldTokens = Record<string, string | null>;

/**
 * An order as its stock sees it. The order document is the one record of a checkout: it is
 * written once, when the checkout is decided (confirmed with the holds it counts, or failed),
 * and a cancellation records on it which take-backs count.
 */
export interface OrderStock {
  order: Order;
  holdTokens: HoldTokens;
  /** Per product, the token of the returning entry that counts; set once by the first attempt of a cancellation to get there. */
  returnTokens?: Record<string, string>;
}

/**
 * What an order id stands for: an order, or a checkout the sweep gave up on before it was
 * decided (its holds were old and no order had been written). Taking the id for it means a late
 * attempt of that checkout can no longer confirm it.
 */
export type Decision = { kind: 'order'; stock: OrderStock } | { kind: 'abandoned'; at: string };

export interface CartRecord {
  shopperId: string;
  lines: OrderLineRequest[];
  /** Optimistic concurrency: a cart is replaced only if nobody changed it since it was read. */
  version: number;
}

export interface ProductPageQuery {
  /** Case-insensitive substring of the name. */
  q?: string;
  limit: number;
  /** Keyset position: products strictly after this (name, id) pair. */
  after?: { name: string; id: string };
}

export type PutOutcome = 'created' | 'updated' | 'unchanged';

/**
 * One record per change of a product's stock for sale: units supplied (a new product, a
 * restock), held for an order, released by a failed checkout, or returned by a cancelled order.
 * Ids are derived from what moved and the attempt that moved it, so recording twice keeps one.
 */
export interface StockMovement {
  id: string;
  productId: string;
  kind: 'supply' | 'reserve' | 'release' | 'return';
  /** The change of stock for sale: negative for a reservation. */
  quantity: number;
  orderId?: string;
  at: string;
}

/** A product's units by bucket, as its document holds them: supplied = stock + held + returning + sold. */
export interface StockAudit {
  productId: string;
  stock: number;
  held: number;
  returning: number;
  sold: number;
  supplied: number;
}

/** An order's entry on a product: units held by a checkout, or on their way back from a cancellation. */
export interface StockEntry {
  orderId: string;
  quantity: number;
  /** null: written by the version before tokens. */
  token: string | null;
  /** When it was made; null for entries written before this was kept. */
  at: string | null;
}

export interface ProductEntries {
  productId: string;
  holds: StockEntry[];
  returns: StockEntry[];
}

export interface ShopStore {
  // catalog
  listProducts(query: ProductPageQuery): Promise<Product[]>;
  getProducts(ids: readonly string[]): Promise<Product[]>;
  countProducts(): Promise<number>;
  /** Adds a product or replaces its catalog fields; units held, returning or sold are kept. */
  putProduct(product: Product): Promise<PutOutcome>;
  /** Sets the units available for sale; null when the product is unknown. */
  setStock(productId: string, stock: number): Promise<Product | null>;
  /** Deletes products not in `keep` (a catalog reset); returns how many went. */
  removeProductsExcept(keep: readonly string[]): Promise<number>;

  // stock moves, each one atomic conditional update of one product
  /** stock -> holds[order], if the order holds none of it yet and there is enough. */
  holdStock(orderId: string, productId: string, quantity: number, token: string): Promise<HoldOutcome>;
  /** holds[order] -> stock; only the entry with this token when one is given. Returns the units given back. */
  releaseHold(orderId: string, productId: string, token?: string | null): Promise<number>;
  /** holds[order] -> sold, for the entry with this token and quantity. */
  sellHold(orderId: string, productId: string, quantity: number, token: string | null): Promise<boolean>;
  /** sold -> returns[order], if the order has no returning entry there yet. */
  takeBackSold(orderId: string, productId: string, quantity: number, token: string): Promise<TakeBackOutcome>;
  /** returns[order] -> stock, for the entry with this token. Returns the units restocked. */
  restockReturn(orderId: string, productId: string, token: string): Promise<number>;
  /** returns[order] -> sold: undoes a take-back made by a duplicate attempt. */
  keepSold(orderId: string, productId: string, token: string): Promise<boolean>;
  /** Every entry in flight, product by product (products without entries are left out). */
  openEntries(): Promise<ProductEntries[]>;

  // stock accounting
  stockAudit(): Promise<StockAudit[]>;
  /** Movements matching every given field, oldest first: those recorded, and those still waiting in an outbox. */
  listMovements(filter?: { productId?: string; orderId?: string; kind?: StockMovement['kind'] }): Promise<StockMovement[]>;
  /** Records every movement still waiting in a product's outbox; returns how many. */
  flushLedger(): Promise<number>;

  // carts
  getCart(shopperId: string): Promise<CartRecord>;
  /** Replaces the lines if the cart is still at `version`; false when someone got there first. */
  replaceCart(shopperId: string, lines: OrderLineRequest[], version: number, at: string): Promise<boolean>;
  /** Removes up to `limit` carts last changed before `before`; returns how many went. */
  removeCartsUntouchedSince(before: string, limit: number): Promise<number>;
  /** Dates up to `limit` carts written before carts kept a change date; returns how many. */
  dateUndatedCarts(at: string, limit: number): Promise<number>;

  // orders
  /**
   * Writes the decision of a checkout: the order, confirmed or failed, with the holds it counts.
   * Only the first decision for an id is kept (an older version's pending order counts as not
   * decided yet); `decided` says whether it was this one, and `decision` is the one stored.
   */
  decideOrder(order: Order, holdTokens: HoldTokens): Promise<{ decided: boolean; decision: Decision }>;
  /** Takes an undecided checkout's id for good (the sweep, before it gives the checkout's holds back). */
  abandonCheckout(orderId: string, at: string): Promise<{ decided: boolean; decision: Decision }>;
  getDecision(orderId: string): Promise<Decision | null>;
  /** Records which take-backs count for a cancelling order, unless some are recorded already; returns the ones that count. */
  recordReturns(orderId: string, returnTokens: Record<string, string>): Promise<Record<string, string> | null>;
  getOrder(orderId: string): Promise<Order | null>;
  listOrders(shopperId: string, limit: number): Promise<Order[]>;
  /** Every shopper's orders, newest first (the operator's view). */
  listRecentOrders(limit: number): Promise<Order[]>;
  /** Orders in `status` last changed before `before`, oldest first (for the sweep). */
  findOrdersByStatus(status: OrderStatus, before: string, limit: number): Promise<Order[]>;
  /** Applies `changes` only if the order is in one of `from`; returns the new order or null. */
  transitionOrder(orderId: string, from: readonly OrderStatus[], changes: Partial<Order>): Promise<Order | null>;

  close(): Promise<void>;
}
