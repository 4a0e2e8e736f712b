/**
 * An order's stock, from reservation to sale or return: all items or none, safe under
 * concurrent, duplicate and late attempts, with the fewest writes that keep it so.
 *
 * Units move between the buckets of a product (core/store/store.ts), each move one atomic update
 * of one product: stock -> held (reserveStock) -> sold (sellStock, once the order is confirmed),
 * or held -> stock (releaseStock, for an order that failed); sold -> returning -> stock for a
 * cancelled order. Each entry a product carries for an order exists only while its move is in
 * flight.
 *
 * Every attempt (a request, a retry, a duplicate) marks its entries with its own random token.
 * The order, written once when its checkout is decided, names the hold tokens that count; a
 * cancellation records the take-back tokens that count on the order the same way. An attempt
 * that finds the decision made by another undoes its own extra entries, and the sweep undoes
 * those of attempts that died (core/sweep.ts). So a late duplicate that holds after the order
 * was sold, or takes back after it was returned, is undone instead of counted twice.
 */
import { randomBytes } from 'node:crypto';
import { conflict } from './errors';
import type { OrderLineRequest, PricedLine, Release, Reservation } from './schemas';
import type { HoldTokens, OrderStock, ShopStore } from './store/store';

/** Adds up lines naming the same product, in a stable order (pure). */
export function mergeLines(lines: readonly OrderLineRequest[]): OrderLineRequest[] {
  const merged = new Map<string, number>();
  for (const l of lines) merged.set(l.productId, (merged.get(l.productId) ?? 0) + l.quantity);
  return [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([productId, quantity]) => ({ productId, quantity }));
}

export interface Shortage {
  productId: string;
  requested: number;
  available: number;
}

const attemptToken = () => randomBytes(12).toString('base64url');

/**
 * Holds every line for the order, or none: a shortage gives back what this attempt held and
 * answers 409. A line the order already holds (a concurrent attempt's) is adopted, with its
 * token. Writes nothing but the holds: the order records which of them count when it is decided.
 */
export async function reserveStock(store: ShopStore, orderId: string, requested: readonly OrderLineRequest[]): Promise<Reservation> {
  const attempt = attemptToken();
  const items: PricedLine[] = [];
  const holds: HoldTokens = {};
  const shortages: Shortage[] = [];
  for (const line of mergeLines(requested)) {
    if (shortages.length) {
      // Already failing: report the rest without holding more.
      const [p] = await store.getProducts([line.productId]);
      if (!p || p.stock < line.quantity) shortages.push({ productId: line.productId, requested: line.quantity, available: p?.stock ?? 0 });
      continue;
    }
    const hold = await store.holdStock(orderId, line.productId, line.quantity, attempt);
    if (hold.status === 'held' || hold.status === 'already-held') {
      holds[line.productId] = hold.status === 'held' ? attempt : hold.token;
      const quantity = hold.status === 'held' ? line.quantity : hold.quantity;
      items.push({ productId: line.productId, name: hold.product.name, priceCents: hold.product.priceCents, quantity });
    } else {
      shortages.push({ productId: line.productId, requested: line.quantity, available: hold.status === 'insufficient' ? hold.available : 0 });
    }
  }
  if (shortages.length) {
    await undoHolds(store, orderId, holds, attempt, {});
    throw conflict('OUT_OF_STOCK', describeShortages(shortages), shortages);
  }
  // A caller that gave up may have decided the order meanwhile: then this attempt's holds must not linger.
  const decision = await store.getDecision(orderId);
  if (!decision) return { orderId, items, holds, attempt };
  if (decision.kind === 'abandoned' || decision.stock.order.status === 'failed') {
    await undoHolds(store, orderId, holds, attempt, {});
    throw conflict('RESERVATION_RELEASED', `The checkout of ${orderId} was already given up; start a new checkout`, { orderId });
  }
  const { order, holdTokens } = decision.stock;
  await undoHolds(store, orderId, holds, attempt, holdTokens);
  return { orderId, items: order.items, holds: holdTokens, attempt };
}

/** Gives back this attempt's holds that the decided order does not count (all of them when it counts none). */
export async function undoHolds(store: ShopStore, orderId: string, holds: HoldTokens, attempt: string, counted: HoldTokens): Promise<void> {
  for (const [productId, token] of Object.entries(holds)) {
    if (token === attempt && counted[productId] !== attempt) await store.releaseHold(orderId, productId, attempt);
  }
}

/** Turns a confirmed order's holds into sold units; idempotent (a hold sold already is gone). */
export async function sellStock(store: ShopStore, { order, holdTokens }: OrderStock): Promise<void> {
  for (const item of order.items) {
    const token = holdTokens[item.productId];
    if (token !== undefined) await store.sellHold(order.id, item.productId, item.quantity, token);
  }
}

/**
 * Gives an order's stock back: a failed order's holds, or the sold units of an order being
 * cancelled. The stock of a confirmed order is never given back here (409 RESERVATION_SOLD:
 * cancel the order first). An order id that stands for no order holds nothing the order knows
 * of: holds made for it are strays, which the sweep gives back.
 */
export async function releaseStock(store: ShopStore, orderId: string): Promise<Release> {
  const decision = await store.getDecision(orderId);
  if (decision?.kind !== 'order') return { orderId, released: [] };
  const { order } = decision.stock;
  switch (order.status) {
    case 'failed':
      return giveBackHolds(store, decision.stock);
    case 'cancelling':
    case 'cancelled':
      return takeBack(store, decision.stock);
    case 'pending':
      throw conflict('ORDER_IN_PROGRESS', `The checkout of ${orderId} is still being decided`, { orderId });
    case 'confirmed':
      throw conflict('RESERVATION_SOLD', `The stock of ${orderId} is sold; cancel the order to return it`, { orderId });
  }
}

/** Every hold of a failed order, whatever attempt made it: none of them counts. */
async function giveBackHolds(store: ShopStore, { order }: OrderStock): Promise<Release> {
  const products = new Set([...order.requested, ...order.items].map((l) => l.productId));
  const released: OrderLineRequest[] = [];
  for (const productId of products) {
    const quantity = await store.releaseHold(order.id, productId);
    if (quantity > 0) released.push({ productId, quantity });
  }
  return { orderId: order.id, released };
}

/** Sold units back to stock: take back (sold -> returning), record which take-backs count, restock them. */
async function takeBack(store: ShopStore, stock: OrderStock): Promise<Release> {
  const { order } = stock;
  let returnTokens = stock.returnTokens;
  if (!returnTokens) {
    // A checkout that died before recording its sale: what is taken back must be this order's.
    await sellStock(store, stock);
    const attempt = attemptToken();
    const mine: string[] = [];
    const tokens: Record<string, string> = {};
    for (const item of order.items) {
      const taken = await store.takeBackSold(order.id, item.productId, item.quantity, attempt);
      if (taken.status === 'taken') {
        mine.push(item.productId);
        tokens[item.productId] = attempt;
      } else if (taken.status === 'already-taken' && taken.token !== null) {
        tokens[item.productId] = taken.token;
      }
      // not-sold: no units of it are sold; nothing to take back, never units made up.
    }
    // The first attempt to record its take-backs decides which count; null: the order is no longer being cancelled.
    returnTokens = (await store.recordReturns(order.id, tokens)) ?? {};
    for (const productId of mine) if (returnTokens[productId] !== attempt) await store.keepSold(order.id, productId, attempt);
  }
  const released: OrderLineRequest[] = [];
  for (const [productId, token] of Object.entries(returnTokens)) {
    const quantity = await store.restockReturn(order.id, productId, token);
    if (quantity > 0) released.push({ productId, quantity });
  }
  return { orderId: order.id, released };
}

function describeShortages(shortages: readonly Shortage[]): string {
  const parts = shortages.map((s) => (s.available === 0 ? `${s.productId} is sold out` : `only ${s.available} of ${s.productId} left`));
  return `Not enough stock: ${parts.join(', ')}`;
}
