/**
 * Checkout and cancellation.
 *
 * One Idempotency-Key is one order: the order id is derived from the shopper and the key, so
 * every attempt with that key, concurrent or later, works on the same order. A checkout holds
 * its stock (inventory-reserve), then writes its order once, decided: confirmed with the holds
 * it counts, or failed. The first decision for an id is the only one; an attempt that finds
 * another's decision gives back what it held itself and answers that decision. Then the holds
 * become sold units and the cart is emptied: four writes for a one-line cart, two more per
 * further line (core/inventory.ts has how the stock stays exact).
 *
 *   (holding) --all held--> confirmed --cancel--> cancelling --stock returned--> cancelled
 *       \--out of stock / dependency down--> failed (its holds given back)
 *
 * Prices and names come from the inventory's holds, never from the caller or the cart.
 */
import { createHash } from 'node:crypto';
import { emptyCart, linesTotal } from './cart';
import { conflict, notFound, shopError, toShopError, type ShopError } from './errors';
import { DEFAULT_EXEC_TIMEOUT_MS, parseDuration } from './duration';
import type { Call } from './fn';
import { createInventoryClient, type CallFailure, type InventoryClient } from './gateway';
import { sellStock, undoHolds } from './inventory';
import { SECRET_NAMES, readSecret } from './secrets';
import type { Customer, Order, OrderStatus, Reservation } from './schemas';
import type { CartRecord, Decision, OrderStock, ShopStore } from './store/store';

export interface CheckoutDeps {
  store: ShopStore;
  inventory: InventoryClient;
  now: () => string;
  callId?: string;
  /** When the checkout must have its stock (ms since the epoch): the call to inventory-reserve, retries included, ends by then. */
  deadline?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * The part of order-create's exec_timeout the reservation may use: the rest (a quarter, at most
 * 2 s) is kept to write the decision and give back stock, so that the watchdog never cuts a
 * checkout off half-way.
 */
export function reservationBudgetMs(execTimeoutMs: number): number {
  return execTimeoutMs - Math.min(2_000, execTimeoutMs / 4);
}

export async function checkoutDeps(call: Call): Promise<CheckoutDeps> {
  const inventory = inventoryClient(process.env.GATEWAY_URL || 'http://gateway.openfaas:8080');
  const deadline = Date.now() + reservationBudgetMs(parseDuration(process.env.exec_timeout, DEFAULT_EXEC_TIMEOUT_MS));
  return { store: await call.store(), inventory, now: call.now, callId: call.callId, deadline, log: call.log };
}

const clients = new Map<string, InventoryClient>();
/**
 * One client (and keep-alive pool) per gateway per process, made here so that only the
 * functions that call the inventory carry got in their bundle. GATEWAY_TIMEOUT_MS sets the
 * per-attempt timeout.
 */
function inventoryClient(baseUrl: string): InventoryClient {
  let client = clients.get(baseUrl);
  if (!client) {
    const timeoutMs = Number(process.env.GATEWAY_TIMEOUT_MS) || undefined;
    client = createInventoryClient({ baseUrl, timeoutMs, token: () => readSecret(SECRET_NAMES.internalToken) });
    clients.set(baseUrl, client);
  }
  return client;
}

export function orderIdFor(shopperId: string, idempotencyKey: string): string {
  return `ord_${createHash('sha256').update(`${shopperId}\n${idempotencyKey}`).digest('base64url').slice(0, 22)}`;
}

const sameCustomer = (a: Customer, b: Customer) => a.name === b.name && a.email === b.email && a.address === b.address;

/** The answer a failed order gives, on the first attempt and on every replay. */
export function failureError(order: Order): ShopError {
  const f = order.failure ?? { code: 'ORDER_FAILED', message: 'The order failed' };
  if (f.code === 'BUSY') return { ...shopError(503, 'BUSY', f.message, { orderId: order.id }), retryAfterSeconds: BUSY_RETRY_AFTER_S };
  const status = f.code === 'DEPENDENCY_UNAVAILABLE' || f.code === 'NOT_CONFIGURED' ? 503 : 409;
  return shopError(status, f.code as ShopError['code'], f.message, { orderId: order.id, ...(f.details === undefined ? {} : { reasons: f.details }) });
}

/** Retry-After of a checkout refused because the inventory turned it away for load until its deadline. */
const BUSY_RETRY_AFTER_S = 2;

/** The inventory refused the reservation for load (429, or 503 from the gateway) every time it was asked within the deadline. */
const refusedForLoad = (failure: ShopError) => {
  const details = failure.details as CallFailure | undefined;
  return failure.code === 'DEPENDENCY_UNAVAILABLE' && (details?.status === 429 || details?.refused === true);
};

export async function placeOrder(
  deps: CheckoutDeps,
  request: { shopperId: string; customer: Customer; idempotencyKey: string },
): Promise<{ order: Order; replayed: boolean }> {
  const { store } = deps;
  const id = orderIdFor(request.shopperId, request.idempotencyKey);
  const existing = await store.getDecision(id);
  // An older version's checkout still pending is decided here like a new one.
  const pending = existing?.kind === 'order' && existing.stock.order.status === 'pending' ? existing.stock.order : null;
  if (existing && !pending) return answer(existing, request.customer, true);
  if (pending && !sameCustomer(pending.customer, request.customer)) throw keyReused(id);

  const cart = await store.getCart(request.shopperId);
  const requested = pending?.requested ?? cart.lines;
  if (requested.length === 0) throw conflict('CART_EMPTY', 'The cart is empty');
  const draft = { id, shopperId: request.shopperId, customer: request.customer, requested, createdAt: pending?.createdAt ?? deps.now() };

  let reservation: Reservation;
  try {
    reservation = await deps.inventory.reserve(id, requested, { callId: deps.callId, deadline: deps.deadline });
  } catch (error) {
    return failCheckout(deps, draft, toShopError(error), request.customer);
  }
  const confirmed: Order = { ...draft, status: 'confirmed', items: reservation.items, totalCents: linesTotal(reservation.items), updatedAt: deps.now() };
  const { decided, decision } = await decideOrUndo(deps, confirmed, reservation);
  if (!decided) return answer(decision, request.customer, true);
  const stock = (decision as Extract<Decision, { kind: 'order' }>).stock;
  await settleAfterOrder(deps, stock);
  await clearCartAfterOrder(deps, confirmed, cart);
  return { order: confirmed, replayed: false };
}

/** The answer a decided checkout gives to every attempt after the one that decided it. */
function answer(decision: Decision, customer: Customer, replayed: boolean): { order: Order; replayed: boolean } {
  if (decision.kind === 'abandoned') throw conflict('CHECKOUT_ABANDONED', 'This checkout did not finish in time and was given up; nothing was charged. Start a new checkout');
  const { order } = decision.stock;
  if (!sameCustomer(order.customer, customer)) throw keyReused(order.id);
  if (order.status === 'failed') throw failureError(order);
  return { order, replayed };
}

const keyReused = (orderId: string) => conflict('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different order', { orderId });

/**
 * Writes the confirmed order with the holds it counts. If another attempt decided first, this
 * attempt's own holds that the stored order does not count go back to stock.
 */
async function decideOrUndo(deps: CheckoutDeps, order: Order, reservation: Reservation): Promise<{ decided: boolean; decision: Decision }> {
  let outcome: { decided: boolean; decision: Decision };
  try {
    outcome = await deps.store.decideOrder(order, reservation.holds);
  } catch (error) {
    // Not decided (the store did not answer): the holds stay for a retry with the same key, or the sweep.
    deps.log?.('order-not-written', { orderId: order.id, error: toShopError(error).code });
    throw error;
  }
  if (!outcome.decided) {
    const counted = outcome.decision.kind === 'order' && outcome.decision.stock.order.status !== 'failed' ? outcome.decision.stock.holdTokens : {};
    await undoHolds(deps.store, order.id, reservation.holds, reservation.attempt, counted).catch((error: unknown) =>
      deps.log?.('holds-not-undone', { orderId: order.id, error: toShopError(error).code }),
    );
  }
  return outcome;
}

/**
 * The reservation failed. Out of stock (409) holds nothing. Anything else may have held some
 * units: the order is failed first, so that nothing can confirm it any more, and its stock is
 * given back (compensation); if that cannot get through, the sweep gives it back. If even the
 * failure cannot be written, nothing is decided: a retry with the same key completes the checkout.
 */
async function failCheckout(deps: CheckoutDeps, draft: Omit<Order, 'status' | 'items' | 'totalCents' | 'updatedAt'>, failure: ShopError, customer: Customer): Promise<never> {
  const record = refusedForLoad(failure) ? { code: 'BUSY', message: 'The shop is too busy to take this order now; nothing was charged. Try again in a moment' } : failureRecord(failure);
  const failed: Order = { ...draft, status: 'failed', items: [], totalCents: 0, updatedAt: deps.now(), failure: record };
  const { decided, decision } = await deps.store.decideOrder(failed, {}).catch(() => {
    throw failure;
  });
  if (!decided) return answer(decision, customer, true) as never;
  if (failure.status !== 409) {
    await deps.inventory.release(draft.id, deps.callId).catch((error: unknown) => deps.log?.('release-failed', { orderId: draft.id, cause: failure.code, error: toShopError(error).code }));
  }
  throw failureError(failed);
}

const failureRecord = (failure: ShopError) => (failure.details === undefined ? { code: failure.code, message: failure.message } : { code: failure.code, message: failure.message, details: failure.details });

/** The sold units are recorded whether or not this works now: the sweep finishes a sale left half-way. */
async function settleAfterOrder(deps: CheckoutDeps, stock: OrderStock): Promise<void> {
  try {
    await sellStock(deps.store, stock);
  } catch (error) {
    deps.log?.('sale-not-settled', { orderId: stock.order.id, error: toShopError(error).code });
  }
}

/** The order stands whether or not this works; a failure is logged and the shopper can empty the cart by hand. */
async function clearCartAfterOrder(deps: CheckoutDeps, order: Order, cart: CartRecord): Promise<void> {
  try {
    await emptyCart(deps.store, order.shopperId, deps.now, cart);
  } catch (error) {
    deps.log?.('cart-clear-failed', { orderId: order.id, error: toShopError(error).code });
  }
}

export async function findOrder(store: ShopStore, orderId: string, shopperId: string): Promise<Order> {
  const order = await store.getOrder(orderId);
  // Another shopper's order is indistinguishable from no order.
  if (!order || order.shopperId !== shopperId) throw notFound('ORDER_NOT_FOUND', `There is no order ${orderId}`);
  return order;
}

const CANCELLABLE: readonly OrderStatus[] = ['confirmed', 'cancelling'];

export async function cancelOrder(deps: CheckoutDeps, request: { orderId: string; shopperId: string }): Promise<Order> {
  const { store, inventory, now, callId } = deps;
  let order = await findOrder(store, request.orderId, request.shopperId);
  if (order.status === 'cancelled') return order;
  if (!CANCELLABLE.includes(order.status)) {
    throw conflict('ORDER_NOT_CANCELLABLE', `A ${order.status} order cannot be cancelled`, { orderId: order.id, status: order.status });
  }
  // cancelling first: if the release below fails, a retry finds the order half-way and finishes it.
  order = (await store.transitionOrder(order.id, ['confirmed'], { status: 'cancelling', updatedAt: now() })) ?? order;
  await inventory.release(order.id, callId);
  return (await store.transitionOrder(order.id, ['cancelling'], { status: 'cancelled', updatedAt: now() })) ?? findOrder(store, order.id, order.shopperId);
}
