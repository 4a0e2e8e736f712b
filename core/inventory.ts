/**
 * Reserving and releasing stock for an order: all items or none, idempotent per order id.
 *
 * Each item is one atomic hold on its product (core/store/store.ts). If any item cannot be
 * held, every hold of the order is returned before answering. A released reservation leaves
 * a tombstone, and a reservation checks for it after holding, so a late duplicate reserve
 * (a retried request arriving after the order failed) gives its units back instead of
 * leaking them.
 */
import { conflict } from './errors';
import type { OrderLineRequest, PricedLine, Release, Reservation } from './schemas';
import type { ShopStore } from './store/store';

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

export async function reserveStock(store: ShopStore, orderId: string, requested: readonly OrderLineRequest[], now: () => string): Promise<Reservation> {
  const existing = await store.getReservation(orderId);
  if (existing?.status === 'held') return { orderId, items: existing.items };
  if (existing?.status === 'released') throw released(orderId);

  const items: PricedLine[] = [];
  const shortages: Shortage[] = [];
  for (const line of mergeLines(requested)) {
    if (shortages.length) {
      // Already failing: report the rest without holding more.
      const [p] = await store.getProducts([line.productId]);
      if (!p || p.stock < line.quantity) shortages.push({ productId: line.productId, requested: line.quantity, available: p?.stock ?? 0 });
      continue;
    }
    const hold = await store.holdStock(orderId, line.productId, line.quantity);
    if (hold.status === 'held' || hold.status === 'already-held') {
      items.push({ productId: hold.product.id, name: hold.product.name, priceCents: hold.product.priceCents, quantity: hold.quantity });
    } else {
      shortages.push({ productId: line.productId, requested: line.quantity, available: hold.status === 'insufficient' ? hold.available : 0 });
    }
  }
  if (shortages.length) {
    await releaseStock(store, orderId, now);
    throw conflict('OUT_OF_STOCK', describeShortages(shortages), shortages);
  }

  const at = now();
  const record = await store.recordReservation({ orderId, status: 'held', items, createdAt: at, updatedAt: at });
  if (record.status === 'released') {
    await releaseStock(store, orderId, now);
    throw released(orderId);
  }
  return { orderId, items: record.items };
}

export async function releaseStock(store: ShopStore, orderId: string, now: () => string): Promise<Release> {
  await store.markReservationReleased(orderId, now());
  const released: OrderLineRequest[] = [];
  for (const hold of await store.findHolds(orderId)) {
    const quantity = await store.releaseHold(orderId, hold.productId);
    if (quantity > 0) released.push({ productId: hold.productId, quantity });
  }
  return { orderId, released };
}

function describeShortages(shortages: readonly Shortage[]): string {
  const parts = shortages.map((s) => (s.available === 0 ? `${s.productId} is sold out` : `only ${s.available} of ${s.productId} left`));
  return `Not enough stock: ${parts.join(', ')}`;
}

const released = (orderId: string) =>
  conflict('RESERVATION_RELEASED', `The reservation for ${orderId} was already released; start a new checkout`, { orderId });
