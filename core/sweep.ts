/**
 * Abandoned checkouts. A checkout that stopped half-way (its replica died, the gateway gave
 * up, even the compensation failed) leaves a pending order or held stock behind. The sweep,
 * run every minute (OpenFaaS cron-connector, or the local runtime's timer) or by hand:
 *   1. releases the stock of orders pending for longer than the TTL, then fails them;
 *   2. finishes cancellations whose release failed and that nobody retried;
 *   3. releases reservations held for longer than the TTL whose order is not confirmed;
 *   4. records any stock movement of those orders that the ledger missed because a process
 *      died between a product update and its ledger entry.
 * Every step is idempotent, so overlapping sweeps or a racing checkout change nothing twice.
 */
import { randomUUID } from 'node:crypto';
import type { CheckoutDeps } from './checkout';
import { toShopError } from './errors';
import type { ShopStore, StockMovement } from './store/store';

export const DEFAULT_TTL_SECONDS = 120;

/** RESERVATION_TTL_SECONDS: well above the watchdog's 10 s exec_timeout, so no live checkout is swept. */
export function ttlSecondsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.RESERVATION_TTL_SECONDS);
  return env.RESERVATION_TTL_SECONDS && Number.isInteger(value) && value >= 0 ? value : DEFAULT_TTL_SECONDS;
}
/** How far back, beyond the TTL, held reservations are re-examined. */
const LOOKBACK_MS = 60 * 60_000;
const BATCH = 200;

export interface SweepReport {
  failedOrders: number;
  releasedReservations: number;
  finishedCancellations: number;
  ledgerRepairs: number;
  errors: number;
}

export async function sweepAbandonedCheckouts(deps: CheckoutDeps, ttlSeconds: number): Promise<SweepReport> {
  const { store, inventory, now, callId } = deps;
  const report: SweepReport = { failedOrders: 0, releasedReservations: 0, finishedCancellations: 0, ledgerRepairs: 0, errors: 0 };
  const nowMs = Date.parse(now());
  const expiredBefore = new Date(nowMs - ttlSeconds * 1000).toISOString();
  /** The orders whose stock this sweep moved: the only ones whose ledger can have a gap. */
  const touched: string[] = [];
  const attempt = async (orderId: string, step: () => Promise<void>) => {
    try {
      await step();
      touched.push(orderId);
    } catch (error) {
      report.errors++;
      deps.log?.('sweep-step-failed', { orderId, error: toShopError(error).code });
    }
  };

  for (const order of await store.findOrdersByStatus('pending', expiredBefore, BATCH)) {
    // Release first: if it fails, the order stays pending and the next sweep tries again.
    await attempt(order.id, async () => {
      await inventory.release(order.id, callId);
      const failure = { code: 'CHECKOUT_ABANDONED', message: `The checkout did not finish within ${ttlSeconds} s; nothing was charged and the stock is back` };
      if (await store.transitionOrder(order.id, ['pending'], { status: 'failed', failure, updatedAt: now() })) report.failedOrders++;
    });
  }

  // A cancellation whose release failed, and that nobody retried.
  for (const order of await store.findOrdersByStatus('cancelling', expiredBefore, BATCH)) {
    await attempt(order.id, async () => {
      await inventory.release(order.id, callId);
      if (await store.transitionOrder(order.id, ['cancelling'], { status: 'cancelled', updatedAt: now() })) report.finishedCancellations++;
    });
  }

  const lookbackFrom = new Date(nowMs - ttlSeconds * 1000 - LOOKBACK_MS).toISOString();
  for (const reservation of await store.findHeldReservations(lookbackFrom, expiredBefore, BATCH)) {
    const order = await store.getOrder(reservation.orderId);
    if (order && order.status !== 'failed') continue; // confirmed, being cancelled, or pending (above)
    await attempt(reservation.orderId, async () => {
      await inventory.release(reservation.orderId, callId);
      report.releasedReservations++;
    });
  }

  report.ledgerRepairs = await repairLedger(store, touched, now);
  return report;
}

/**
 * Brings the ledger in line with the products' own accounting (holds and supplied) for the
 * given orders, and for every product's supply. A process that died between a product update
 * and its ledger record leaves such a gap; the orders it was working on are the ones the sweep
 * finishes, and a checkout that resumes records its holds again itself.
 */
export async function repairLedger(store: ShopStore, orderIds: readonly string[], now: () => string): Promise<number> {
  let repairs = 0;
  const record = async (m: StockMovement) => {
    await store.recordMovement(m);
    repairs++;
  };
  for (const orderId of new Set(orderIds)) {
    const movements = await store.listMovements({ orderId });
    const ids = new Set(movements.map((m) => m.id));
    const holds = new Map((await store.findHolds(orderId)).map((h) => [h.productId, h.quantity]));
    for (const [productId, quantity] of holds) {
      if (!ids.has(`reserve:${orderId}:${productId}`)) await record({ id: `reserve:${orderId}:${productId}`, productId, kind: 'reserve', quantity: -quantity, orderId, at: now() });
    }
    for (const m of movements) {
      const reserveId = `reserve:${orderId}:${m.productId}`;
      const releaseId = `release:${orderId}:${m.productId}`;
      // A hold that is gone was released; its release entry may be missing.
      if (m.kind === 'reserve' && !holds.has(m.productId) && !ids.has(releaseId)) {
        await record({ id: releaseId, productId: m.productId, kind: 'release', quantity: -m.quantity, orderId, at: now() });
      }
      // A release implies the hold it gave back, even if the process died before recording it.
      if (m.kind === 'release' && !ids.has(reserveId)) {
        await record({ id: reserveId, productId: m.productId, kind: 'reserve', quantity: -m.quantity, orderId, at: m.at });
      }
    }
  }
  for (const audit of await store.stockAudit()) {
    const supplied = (await store.listMovements({ productId: audit.productId, kind: 'supply' })).reduce((sum, m) => sum + m.quantity, 0);
    if (supplied !== audit.supplied) {
      await record({ id: `supply:${audit.productId}:repair:${randomUUID()}`, productId: audit.productId, kind: 'supply', quantity: audit.supplied - supplied, at: now() });
    }
  }
  return repairs;
}
