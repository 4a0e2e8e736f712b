/**
 * Finishing what died half-way, and dropping what nobody will read again. Run every minute
 * (OpenFaaS cron-connector, or the local runtime's timer) or by hand, the sweep:
 *   1. fails orders pending for longer than the TTL, then gives their stock back;
 *   2. finishes cancellations whose release failed and that nobody retried;
 *   3. finishes the stock of every order left unsettled for longer than the TTL: a confirmed
 *      order's holds become sold units (this also moves holds written before sales were
 *      recorded), anything else gives its stock back;
 *   4. undoes entries that duplicate or late attempts left on products;
 *   5. records ledger movements a process left in a product's outbox when it died;
 *   6. removes carts untouched for CART_TTL_DAYS.
 * Every step is idempotent and works on bounded batches found through indexes (or on the
 * catalog, for steps 4 and 5), so its cost does not grow with the number of orders; a backlog
 * larger than a batch is finished by the next runs (`more` says so).
 */
import type { CheckoutDeps } from './checkout';
import { toShopError } from './errors';
import { finishSale } from './inventory';
import type { Order } from './schemas';
import { UNSETTLED, type ReservationRecord, type ShopStore, type StockEntry } from './store/store';

export const DEFAULT_TTL_SECONDS = 120;
export const DEFAULT_CART_TTL_DAYS = 30;
const BATCH = 200;
const DAY_MS = 24 * 3600 * 1000;

function wholeNumberFromEnv(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value && Number.isInteger(n) && n >= 0 ? n : fallback;
}

export interface SweepSettings {
  /** RESERVATION_TTL_SECONDS: well above the watchdog's 10 s exec_timeout, so no live checkout is swept. */
  ttlSeconds: number;
  /** CART_TTL_DAYS: carts untouched for longer are removed. */
  cartTtlDays: number;
}

export function sweepSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): SweepSettings {
  return {
    ttlSeconds: wholeNumberFromEnv(env.RESERVATION_TTL_SECONDS, DEFAULT_TTL_SECONDS),
    cartTtlDays: wholeNumberFromEnv(env.CART_TTL_DAYS, DEFAULT_CART_TTL_DAYS),
  };
}

export interface SweepReport {
  failedOrders: number;
  finishedCancellations: number;
  /** Reservations of unfulfilled orders whose stock was given back. */
  releasedReservations: number;
  /** Confirmed orders whose holds became sold units. */
  settledSales: number;
  /** Entries of duplicate or late attempts undone. */
  undoneEntries: number;
  /** Movements moved from products' outboxes into the ledger. */
  ledgerRepairs: number;
  removedCarts: number;
  errors: number;
  /** A batch was full: more is left for the next run. */
  more: boolean;
}

export async function sweepAbandonedCheckouts(deps: CheckoutDeps, settings: SweepSettings): Promise<SweepReport> {
  const { store, inventory, now, callId } = deps;
  const report: SweepReport = { failedOrders: 0, finishedCancellations: 0, releasedReservations: 0, settledSales: 0, undoneEntries: 0, ledgerRepairs: 0, removedCarts: 0, errors: 0, more: false };
  const nowMs = Date.parse(now());
  const expiredBefore = new Date(nowMs - settings.ttlSeconds * 1000).toISOString();
  const attempt = async (orderId: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (error) {
      report.errors++;
      deps.log?.('sweep-step-failed', { orderId, error: toShopError(error).code });
    }
  };
  const batch = async <T>(found: Promise<T[]>): Promise<T[]> => {
    const items = await found;
    if (items.length >= BATCH) report.more = true;
    return items;
  };

  for (const order of await batch(store.findOrdersByStatus('pending', expiredBefore, BATCH))) {
    await attempt(order.id, async () => {
      // Failed first, so that nothing can confirm it any more; if the release fails, step 3 retries it.
      const failure = { code: 'CHECKOUT_ABANDONED', message: `The checkout did not finish within ${settings.ttlSeconds} s; nothing was charged and the stock is back` };
      if ((await store.transitionOrder(order.id, ['pending'], { status: 'failed', failure, updatedAt: now() }))?.status === 'failed') report.failedOrders++;
      await inventory.release(order.id, callId);
    });
  }

  for (const order of await batch(store.findOrdersByStatus('cancelling', expiredBefore, BATCH))) {
    await attempt(order.id, async () => {
      await inventory.release(order.id, callId);
      if (await store.transitionOrder(order.id, ['cancelling'], { status: 'cancelled', updatedAt: now() })) report.finishedCancellations++;
    });
  }

  for (const status of UNSETTLED) {
    for (const reservation of await batch(store.findReservations(status, expiredBefore, BATCH))) {
      await attempt(reservation.orderId, () => settle(deps, reservation, report));
    }
  }

  for (const product of await store.openEntries()) {
    for (const entry of [...product.holds.map((e) => ({ ...e, kind: 'hold' as const })), ...product.returns.map((e) => ({ ...e, kind: 'return' as const }))]) {
      if (entry.at !== null && entry.at >= expiredBefore) continue; // its attempt may still be running
      await attempt(entry.orderId, async () => {
        if (await undoStray(store, product.productId, entry)) report.undoneEntries++;
      });
    }
  }

  report.ledgerRepairs = await store.flushLedger();
  report.removedCarts = await store.removeCartsUntouchedSince(new Date(nowMs - settings.cartTtlDays * DAY_MS).toISOString(), BATCH);
  if (report.removedCarts >= BATCH || (await store.dateUndatedCarts(now(), BATCH)) >= BATCH) report.more = true;
  return report;
}

/** An order's stock left unsettled: sold if the order is confirmed, given back if it never will be. */
async function settle(deps: CheckoutDeps, reservation: ReservationRecord, report: SweepReport): Promise<void> {
  const order: Order | null = await deps.store.getOrder(reservation.orderId);
  if (order?.status === 'pending') return; // its checkout may still finish; step 1 fails it once it is too old
  if (order?.status === 'confirmed') {
    if (reservation.status === 'held' || reservation.status === 'selling') {
      await finishSale(deps.store, reservation.orderId, deps.now);
      report.settledSales++;
    }
    return;
  }
  await deps.inventory.release(reservation.orderId, deps.callId);
  report.releasedReservations++;
}

/**
 * An entry that the order's reservation does not count (a duplicate or late attempt's, whose
 * process died before undoing it) is undone: a hold goes back to stock, a take-back back to sold.
 */
async function undoStray(store: ShopStore, productId: string, entry: StockEntry & { kind: 'hold' | 'return' }): Promise<boolean> {
  const reservation = await store.getReservation(entry.orderId);
  if (entry.kind === 'hold') {
    const status = reservation?.status;
    if (status === 'holding') return false; // in flight, or abandoned: step 3 releases it whole
    const counted = (status === 'held' || status === 'selling') && reservation?.holdTokens?.[productId] === entry.token;
    return !counted && (await store.releaseHold(entry.orderId, productId, entry.token)) > 0;
  }
  if (entry.token === null || (reservation?.status !== 'returning' && reservation?.status !== 'returned')) return false;
  if (reservation.status === 'returning' && reservation.returnTokens?.[productId] === entry.token) return false;
  return store.keepSold(entry.orderId, productId, entry.token);
}
