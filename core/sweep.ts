/**
 * Finishing what died half-way, and dropping what nobody will read again. Run every minute
 * (OpenFaaS cron-connector, or the local runtime's timer) or by hand, the sweep:
 *   1. fails orders an older version left pending for longer than the TTL, and gives their stock back;
 *   2. finishes cancellations whose release failed and that nobody retried;
 *   3. settles every entry a product still carries for an order, by what the order decided:
 *      a hold the order counts becomes sold units (its checkout died before recording the sale),
 *      a hold of a failed order goes back to stock, a hold of a checkout that was never decided
 *      goes back once the checkout is older than the TTL (its id is taken first, so that a late
 *      attempt cannot confirm it any more), and entries of duplicate or late attempts are undone;
 *   4. records ledger movements still waiting in the products' outboxes;
 *   5. removes carts untouched for CART_TTL_DAYS.
 * Every step is idempotent and works on bounded batches found through indexes (or on the
 * catalog, for steps 3 and 4), so its cost does not grow with the number of orders; a backlog
 * larger than a batch is finished by the next runs (`more` says so).
 */
import type { CheckoutDeps } from './checkout';
import { toShopError } from './errors';
import type { Decision, ShopStore, StockEntry } from './store/store';

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
  /** Checkouts (failed, or never decided and abandoned) whose held stock was given back. */
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

type Entry = StockEntry & { productId: string; kind: 'hold' | 'return' };

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
      // Failed first, so that nothing can confirm it any more; if the release fails, step 3 gives the holds back.
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

  const entries: Entry[] = (await store.openEntries()).flatMap((p) => [
    ...p.holds.map((e) => ({ ...e, productId: p.productId, kind: 'hold' as const })),
    ...p.returns.map((e) => ({ ...e, productId: p.productId, kind: 'return' as const })),
  ]);
  const released = new Set<string>();
  for (const entry of entries) {
    // An entry younger than the TTL may belong to an attempt still running; one without a date is from an older version.
    const expired = entry.at === null || entry.at < expiredBefore;
    await attempt(entry.orderId, async () => {
      const outcome = await settleEntry(store, entry, expired, now);
      if (outcome === 'sold') report.settledSales++;
      if (outcome === 'undone') report.undoneEntries++;
      if (outcome === 'released' && !released.has(entry.orderId)) {
        released.add(entry.orderId);
        report.releasedReservations++;
      }
    });
  }

  report.ledgerRepairs = await store.flushLedger();
  report.removedCarts = await store.removeCartsUntouchedSince(new Date(nowMs - settings.cartTtlDays * DAY_MS).toISOString(), BATCH);
  if (report.removedCarts >= BATCH || (await store.dateUndatedCarts(now(), BATCH)) >= BATCH) report.more = true;
  return report;
}

/** One entry left on a product, settled by what its order decided. */
async function settleEntry(store: ShopStore, entry: Entry, expired: boolean, now: () => string): Promise<'sold' | 'released' | 'undone' | 'left'> {
  let decision: Decision | null = await store.getDecision(entry.orderId);
  if (!decision) {
    if (!expired || entry.kind === 'return') return 'left';
    // Never decided and too old to be running: the id is taken first, so that no late attempt confirms it.
    decision = (await store.abandonCheckout(entry.orderId, now())).decision;
  }
  if (decision.kind === 'abandoned') return entry.kind === 'hold' && (await store.releaseHold(entry.orderId, entry.productId, entry.token)) > 0 ? 'released' : 'left';
  const { order, holdTokens, returnTokens } = decision.stock;
  if (order.status === 'pending') return 'left'; // an older version's checkout: step 1 fails it once it is too old

  if (entry.kind === 'hold') {
    if (order.status === 'failed') return (await store.releaseHold(order.id, entry.productId, entry.token)) > 0 ? 'released' : 'left';
    if (!expired) return 'left';
    const counted = entry.productId in holdTokens && holdTokens[entry.productId] === entry.token;
    if (counted) return (await store.sellHold(order.id, entry.productId, entry.quantity, entry.token)) ? 'sold' : 'left';
    return (await store.releaseHold(order.id, entry.productId, entry.token)) > 0 ? 'undone' : 'left';
  }
  // A take-back: counted ones are restocked by the cancellation (step 2 finishes stuck ones); others go back to sold.
  if (!returnTokens || !expired || entry.token === null || returnTokens[entry.productId] === entry.token) return 'left';
  return (await store.keepSold(order.id, entry.productId, entry.token)) ? 'undone' : 'left';
}
