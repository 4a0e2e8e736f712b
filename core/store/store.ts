/**
 * The one store interface, in the shop's terms. Two adapters implement it: MongoDB
 * (core/store/mongo.ts) and the embedded, file-backed store (core/store/embedded.ts); one
 * contract suite (test/store.contract.test.ts) holds both to it.
 *
 * Every operation that moves stock is a single atomic update of one product document, so it
 * cannot oversell and can be retried: a product carries `holds`, the units each order has
 * taken from it, keyed by order id, and `supplied`, every unit ever put on sale. Holding twice
 * for the same order, or releasing twice, changes nothing the second time, and
 * supplied = stock + sum(holds) holds for every product at every moment, crash or not.
 * Each movement is also recorded in a ledger, right after the update it describes. The
 * multi-item rules (all or nothing, compensation) are built on these in core/inventory.ts.
 */
import type { Order, OrderLineRequest, OrderStatus, PricedLine, Product } from '../schemas';

export type HoldOutcome =
  | { status: 'held'; product: Product; quantity: number }
  | { status: 'already-held'; product: Product; quantity: number }
  | { status: 'insufficient'; available: number }
  | { status: 'unknown-product' };

export interface ReservationRecord {
  orderId: string;
  status: 'held' | 'released';
  items: PricedLine[];
  createdAt: string;
  updatedAt: string;
}

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
 * One record per change of a product's available stock: units supplied (a new product, a
 * restock), reserved for an order, or released by one. Ids are derived from what moved
 * (reserve:ORDER:PRODUCT ...), so recording a movement twice keeps one record.
 */
export interface StockMovement {
  id: string;
  productId: string;
  kind: 'supply' | 'reserve' | 'release';
  /** The change of available stock: negative for a reservation. */
  quantity: number;
  orderId?: string;
  at: string;
}

/** A product's stock as the documents hold it: supplied = stock + held, always. */
export interface StockAudit {
  productId: string;
  stock: number;
  /** Units held by orders (pending reservations and confirmed orders). */
  held: number;
  /** Every unit ever put on sale: the initial stock plus restocks. */
  supplied: number;
}

export interface ShopStore {
  // catalog
  listProducts(query: ProductPageQuery): Promise<Product[]>;
  getProducts(ids: readonly string[]): Promise<Product[]>;
  countProducts(): Promise<number>;
  /** Adds a product or replaces its catalog fields; units held by orders are kept. */
  putProduct(product: Product): Promise<PutOutcome>;
  /** Sets the units available for sale; null when the product is unknown. */
  setStock(productId: string, stock: number): Promise<Product | null>;
  /** Deletes products not in `keep` (a catalog reset); returns how many went. */
  removeProductsExcept(keep: readonly string[]): Promise<number>;

  // stock accounting
  /** Records a movement unless one with its id exists. */
  recordMovement(movement: StockMovement): Promise<void>;
  /** Movements matching every given field, oldest first. */
  listMovements(filter?: { productId?: string; orderId?: string; kind?: StockMovement['kind'] }): Promise<StockMovement[]>;
  stockAudit(): Promise<StockAudit[]>;

  // stock holds, one atomic update each
  holdStock(orderId: string, productId: string, quantity: number): Promise<HoldOutcome>;
  /** Returns the order's held units of one product to stock; 0 if it held none. */
  releaseHold(orderId: string, productId: string): Promise<number>;
  findHolds(orderId: string): Promise<OrderLineRequest[]>;

  /** The orders of every product hold: which products each order holds, and how many units. */
  allHolds(): Promise<Map<string, OrderLineRequest[]>>;

  // reservations: what an order's holds were priced at, and whether they were released
  getReservation(orderId: string): Promise<ReservationRecord | null>;
  /** Inserts the record unless one exists; returns whichever is stored. */
  recordReservation(record: ReservationRecord): Promise<ReservationRecord>;
  /** Marks (or creates) the reservation as released, so a late hold for it is undone. */
  markReservationReleased(orderId: string, at: string): Promise<void>;
  /** Held reservations created in [from, to), oldest first (for the sweep). */
  findHeldReservations(from: string, to: string, limit: number): Promise<ReservationRecord[]>;

  // carts
  getCart(shopperId: string): Promise<CartRecord>;
  /** Replaces the lines if the cart is still at `version`; false when someone got there first. */
  replaceCart(shopperId: string, lines: OrderLineRequest[], version: number): Promise<boolean>;

  // orders
  /** Inserts the order unless one with its id exists; returns whichever is stored. */
  insertOrder(order: Order): Promise<{ inserted: boolean; order: Order }>;
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
