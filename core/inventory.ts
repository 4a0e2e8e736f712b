/**
 * An order's stock, from reservation to sale or return: all items or none, idempotent per order
 * id, safe under concurrent, duplicate and late attempts.
 *
 * The reservation record (one per order, core/store/store.ts) says where the order's stock is:
 *   holding -> held -> selling -> sold -> taking-back -> returning -> returned
 *   holding | held -> released
 * Each move of units is one atomic update of one product, and each entry a product carries for
 * an order exists only while that move is in flight. Every attempt (a request, a retry, a
 * duplicate) marks its entries with its own random token; the record names the tokens that
 * count, written once by the first attempt to finish its step. An attempt that finds its step
 * already finished undoes its own extra entries, and the sweep undoes those of attempts that
 * died (core/sweep.ts). So a late duplicate that holds after the order was sold, or takes back
 * after it was returned, is undone instead of counted twice.
 */
import { randomBytes } from 'node:crypto';
import { conflict } from './errors';
import type { Order, OrderLineRequest, PricedLine, Release, Reservation } from './schemas';
import type { ReservationRecord, ShopStore } from './store/store';

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

/** The states in which an order's stock is held or sold for it: a reservation returns its lines. */
const RESERVED: readonly ReservationRecord['status'][] = ['held', 'selling', 'sold'];

export async function reserveStock(store: ShopStore, orderId: string, requested: readonly OrderLineRequest[], now: () => string): Promise<Reservation> {
  const record = await store.openReservation(orderId, mergeLines(requested), now());
  if (RESERVED.includes(record.status)) return { orderId, items: record.items };
  if (record.status !== 'holding') throw released(orderId);

  // Every attempt holds the request as first recorded, so that concurrent attempts agree.
  const token = attemptToken();
  const mine: string[] = [];
  const items: PricedLine[] = [];
  const holdTokens: Record<string, string | null> = {};
  const shortages: Shortage[] = [];
  for (const line of record.requested) {
    if (shortages.length) {
      // Already failing: report the rest without holding more.
      const [p] = await store.getProducts([line.productId]);
      if (!p || p.stock < line.quantity) shortages.push({ productId: line.productId, requested: line.quantity, available: p?.stock ?? 0 });
      continue;
    }
    const hold = await store.holdStock(orderId, line.productId, line.quantity, token);
    if (hold.status === 'held') {
      mine.push(line.productId);
      holdTokens[line.productId] = token;
      items.push({ productId: line.productId, name: hold.product.name, priceCents: hold.product.priceCents, quantity: line.quantity });
    } else if (hold.status === 'already-held') {
      // Held by a concurrent attempt for the same order: the same hold, adopted.
      holdTokens[line.productId] = hold.token;
      items.push({ productId: line.productId, name: hold.product.name, priceCents: hold.product.priceCents, quantity: hold.quantity });
    } else {
      shortages.push({ productId: line.productId, requested: line.quantity, available: hold.status === 'insufficient' ? hold.available : 0 });
    }
  }
  if (shortages.length) {
    await releaseHolds(store, orderId, now);
    throw conflict('OUT_OF_STOCK', describeShortages(shortages), shortages);
  }

  if (await store.updateReservation(orderId, ['holding'], { status: 'held', items, holdTokens, updatedAt: now() })) return { orderId, items };
  // Another attempt finished first, or the checkout was released meanwhile: undo what only this attempt holds.
  const current = await store.getReservation(orderId);
  for (const productId of mine) {
    if (!current || !RESERVED.includes(current.status) || current.holdTokens?.[productId] !== token) await store.releaseHold(orderId, productId, token);
  }
  if (!current || !RESERVED.includes(current.status)) throw released(orderId);
  return { orderId, items: current.items };
}

/**
 * Claims the order's holds for its sale, before the order is confirmed: from here on they can
 * no longer be released by a failing duplicate. False when they were released already.
 */
export async function claimSale(store: ShopStore, orderId: string, now: () => string): Promise<boolean> {
  const claimed = await store.updateReservation(orderId, ['held'], { status: 'selling', updatedAt: now() });
  if (claimed) return true;
  const current = await store.getReservation(orderId);
  return current !== null && RESERVED.includes(current.status);
}

/** Turns a confirmed order's holds into sold units; idempotent, and a no-op once sold. */
export async function finishSale(store: ShopStore, orderId: string, now: () => string): Promise<void> {
  let record = await store.getReservation(orderId);
  // A reservation held before sales were claimed ahead of confirming.
  if (record?.status === 'held') record = (await store.updateReservation(orderId, ['held'], { status: 'selling', updatedAt: now() })) ?? (await store.getReservation(orderId));
  if (record?.status !== 'selling') return;
  for (const item of record.items) await store.sellHold(orderId, item.productId, item.quantity, record.holdTokens?.[item.productId] ?? null);
  // Sold: any hold left for it is a stray, whatever its token, and its request is its items.
  await store.updateReservation(orderId, ['selling'], { status: 'sold', updatedAt: now(), holdTokens: undefined, requested: undefined });
}

/**
 * Gives an order's stock back: its holds if it was never sold, its sold units if the order is
 * failed or being cancelled. The sale of a pending or confirmed order is never undone here: a
 * failing attempt may race a duplicate that confirmed it (409 RESERVATION_SOLD).
 */
export async function releaseStock(store: ShopStore, orderId: string, now: () => string): Promise<Release> {
  const order = await store.getOrder(orderId);
  const settled = !order || isUnfulfilled(order);
  for (;;) {
    const record = await store.getReservation(orderId);
    switch (record?.status) {
      case undefined:
      case 'holding':
      case 'held': {
        const claimed = await store.releaseReservation(orderId, now());
        if (claimed?.status === 'released') return giveBackHolds(store, claimed);
        continue; // moved on meanwhile (claimed for its sale): look again
      }
      case 'released':
        return giveBackHolds(store, record);
      case 'selling':
      case 'sold':
      case 'taking-back':
      case 'returning':
        if (!settled) throw conflict('RESERVATION_SOLD', `The stock of ${orderId} is sold; cancel the order to return it`, { orderId });
        return takeBack(store, record, now);
      case 'returned':
        return { orderId, released: [] };
    }
  }
}

const isUnfulfilled = (order: Order) => order.status === 'failed' || order.status === 'cancelling' || order.status === 'cancelled';

/** Releases the holds of a failing checkout (never sold: holding or held). */
async function releaseHolds(store: ShopStore, orderId: string, now: () => string): Promise<Release> {
  const claimed = await store.releaseReservation(orderId, now());
  return claimed?.status === 'released' ? giveBackHolds(store, claimed) : { orderId, released: [] };
}

async function giveBackHolds(store: ShopStore, record: ReservationRecord): Promise<Release> {
  const products = new Set([...record.requested, ...record.items].map((l) => l.productId));
  const released: OrderLineRequest[] = [];
  for (const productId of products) {
    const quantity = await store.releaseHold(record.orderId, productId);
    if (quantity > 0) released.push({ productId, quantity });
  }
  return { orderId: record.orderId, released };
}

/** Sold units back to stock: take back (sold -> returning), then restock, each entry once. */
async function takeBack(store: ShopStore, record: ReservationRecord, now: () => string): Promise<Release> {
  const { orderId } = record;
  if (record.status === 'selling') await finishSale(store, orderId, now);
  let current = (await store.getReservation(orderId)) ?? record;
  if (current.status === 'sold') current = (await store.updateReservation(orderId, ['sold'], { status: 'taking-back', updatedAt: now() })) ?? (await store.getReservation(orderId)) ?? current;
  if (current.status === 'taking-back') {
    const token = attemptToken();
    const mine: string[] = [];
    const returnTokens: Record<string, string> = {};
    for (const item of current.items) {
      const taken = await store.takeBackSold(orderId, item.productId, item.quantity, token);
      if (taken.status === 'taken') {
        mine.push(item.productId);
        returnTokens[item.productId] = token;
      } else if (taken.status === 'already-taken' && taken.token !== null) {
        returnTokens[item.productId] = taken.token;
      }
      // not-sold: no units of it are sold; nothing to take back, never units made up.
    }
    current = (await store.updateReservation(orderId, ['taking-back'], { status: 'returning', returnTokens, updatedAt: now() })) ?? (await store.getReservation(orderId)) ?? current;
    for (const productId of mine) if (current.returnTokens?.[productId] !== token) await store.keepSold(orderId, productId, token);
  }
  const released: OrderLineRequest[] = [];
  if (current.status === 'returning') {
    for (const [productId, token] of Object.entries(current.returnTokens ?? {})) {
      const quantity = await store.restockReturn(orderId, productId, token);
      if (quantity > 0) released.push({ productId, quantity });
    }
    await store.updateReservation(orderId, ['returning'], { status: 'returned', updatedAt: now(), returnTokens: undefined });
  }
  return { orderId, released };
}

function describeShortages(shortages: readonly Shortage[]): string {
  const parts = shortages.map((s) => (s.available === 0 ? `${s.productId} is sold out` : `only ${s.available} of ${s.productId} left`));
  return `Not enough stock: ${parts.join(', ')}`;
}

const released = (orderId: string) =>
  conflict('RESERVATION_RELEASED', `The reservation for ${orderId} was already released; start a new checkout`, { orderId });
