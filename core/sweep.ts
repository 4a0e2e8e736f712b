/**
 * Abandoned checkouts. A checkout that stopped half-way (its replica died, the gateway gave
 * up, even the compensation failed) leaves a pending order or held stock behind. The sweep,
 * run every minute (OpenFaaS cron-connector, or the local runtime's timer) or by hand:
 *   1. releases the stock of orders pending for longer than the TTL, then fails them;
 *   2. releases reservations held for longer than the TTL whose order is not confirmed;
 *   3. records any stock movement the ledger missed because a process died between a
 *      product update and its ledger entry.
 * Every step is idempotent, so overlapping sweeps or a racing checkout change nothing twice.
 */
import { randomUUID } from 'node:crypto';
import type { CheckoutDeps } from './checkout';
import { toShopError } from './errors';
import type { ShopStore } from './store/store';

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
  ledgerRepairs: number;
  errors: number;
}

export async function sweepAbandonedCheckouts(deps: CheckoutDeps, ttlSeconds: number): Promise<SweepReport> {
  const { store, inventory, now, callId } = deps;
  const report: SweepReport = { failedOrders: 0, releasedReservations: 0, ledgerRepairs: 0, errors: 0 };
  const nowMs = Date.parse(now());
  const expiredBefore = new Date(nowMs - ttlSeconds * 1000).toISOString();

  for (const order of await store.findOrdersByStatus('pending', expiredBefore, BATCH)) {
    try {
      // Release first: if it fails, the order stays pending and the next sweep tries again.
      await inventory.release(order.id, callId);
      const failure = { code: 'CHECKOUT_ABANDONED', message: `The checkout did not finish within ${ttlSeconds} s; nothing was charged and the stock is back` };
      if (await store.transitionOrder(order.id, ['pending'], { status: 'failed', failure, updatedAt: now() })) report.failedOrders++;
    } catch (error) {
      report.errors++;
      deps.log?.('sweep-order-failed', { orderId: order.id, error: toShopError(error).code });
    }
  }

  const lookbackFrom = new Date(nowMs - ttlSeconds * 1000 - LOOKBACK_MS).toISOString();
  for (const reservation of await store.findHeldReservations(lookbackFrom, expiredBefore, BATCH)) {
    const order = await store.getOrder(reservation.orderId);
    if (order && order.status !== 'failed') continue; // confirmed, being cancelled, or pending (step 1)
    try {
      await inventory.release(reservation.orderId, callId);
      report.releasedReservations++;
    } catch (error) {
      report.errors++;
      deps.log?.('sweep-release-failed', { orderId: reservation.orderId, error: toShopError(error).code });
    }
  }

  report.ledgerRepairs = await repairLedger(store, now);
  return report;
}

/** Brings the ledger in line with the products' own accounting (holds and supplied). */
export async function repairLedger(store: ShopStore, now: () => string): Promise<number> {
  let repairs = 0;
  const holds = await store.allHolds();
  const heldBy = new Map<string, Map<string, number>>(); // product -> order -> units
  for (const [orderId, lines] of holds) for (const l of lines) heldBy.set(l.productId, (heldBy.get(l.productId) ?? new Map()).set(orderId, l.quantity));

  for (const audit of await store.stockAudit()) {
    const movements = await store.listMovements(audit.productId);
    const ids = new Set(movements.map((m) => m.id));
    const record = async (m: Parameters<ShopStore['recordMovement']>[0]) => {
      await store.recordMovement(m);
      repairs++;
    };
    const productHolds = heldBy.get(audit.productId) ?? new Map<string, number>();
    for (const [orderId, quantity] of productHolds) {
      if (!ids.has(`reserve:${orderId}:${audit.productId}`)) {
        await record({ id: `reserve:${orderId}:${audit.productId}`, productId: audit.productId, kind: 'reserve', quantity: -quantity, orderId, at: now() });
      }
    }
    for (const m of movements) {
      if (!m.orderId) continue;
      const reserveId = `reserve:${m.orderId}:${audit.productId}`;
      const releaseId = `release:${m.orderId}:${audit.productId}`;
      // A hold that is gone was released; its release entry may be missing.
      if (m.kind === 'reserve' && !productHolds.has(m.orderId) && !ids.has(releaseId)) {
        await record({ id: releaseId, productId: audit.productId, kind: 'release', quantity: -m.quantity, orderId: m.orderId, at: now() });
      }
      // A release implies the hold it gave back, even if the process died before recording it.
      if (m.kind === 'release' && !ids.has(reserveId)) {
        await record({ id: reserveId, productId: audit.productId, kind: 'reserve', quantity: -m.quantity, orderId: m.orderId, at: m.at });
      }
    }
    const supplied = movements.filter((m) => m.kind === 'supply').reduce((sum, m) => sum + m.quantity, 0);
    if (supplied !== audit.supplied) {
      await record({ id: `supply:${audit.productId}:repair:${randomUUID()}`, productId: audit.productId, kind: 'supply', quantity: audit.supplied - supplied, at: now() });
    }
  }
  return repairs;
}
