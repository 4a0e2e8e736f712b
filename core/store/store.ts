/**
 * The one store interface, in the shop's terms. Two adapters implement it: MongoDB
 * (core/store/mongo.ts) and the embedded, file-backed store (core/store/embedded.ts); one
 * contract suite (test/store.contract.test.ts) holds both to it.
 *
 * Every operation that moves stock is a single atomic update of one product document, so it
 * cannot oversell and can be retried: a product carries `holds`, the units each order has
 * taken from it, keyed by order id. Holding twice for the same order, or releasing twice,
 * changes nothing the second time. The multi-item rules (all or nothing, compensation) are
 * built on these in core/inventory.ts.
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

  // stock holds, one atomic update each
  holdStock(orderId: string, productId: string, quantity: number): Promise<HoldOutcome>;
  /** Returns the order's held units of one product to stock; 0 if it held none. */
  releaseHold(orderId: string, productId: string): Promise<number>;
  findHolds(orderId: string): Promise<OrderLineRequest[]>;

  // reservations: what an order's holds were priced at, and whether they were released
  getReservation(orderId: string): Promise<ReservationRecord | null>;
  /** Inserts the record unless one exists; returns whichever is stored. */
  recordReservation(record: ReservationRecord): Promise<ReservationRecord>;
  /** Marks (or creates) the reservation as released, so a late hold for it is undone. */
  markReservationReleased(orderId: string, at: string): Promise<void>;

  // carts
  getCart(shopperId: string): Promise<CartRecord>;
  /** Replaces the lines if the cart is still at `version`; false when someone got there first. */
  replaceCart(shopperId: string, lines: OrderLineRequest[], version: number): Promise<boolean>;

  // orders
  /** Inserts the order unless one with its id exists; returns whichever is stored. */
  insertOrder(order: Order): Promise<{ inserted: boolean; order: Order }>;
  getOrder(orderId: string): Promise<Order | null>;
  listOrders(shopperId: string, limit: number): Promise<Order[]>;
  /** Applies `changes` only if the order is in one of `from`; returns the new order or null. */
  transitionOrder(orderId: string, from: readonly OrderStatus[], changes: Partial<Order>): Promise<Order | null>;

  close(): Promise<void>;
}
