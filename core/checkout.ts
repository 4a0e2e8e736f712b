/**
 * Checkout and cancellation.
 *
 * One Idempotency-Key is one order: the order id is derived from the shopper and the key,
 * so every attempt with that key, concurrent or later, works on the same order. Each step is
 * idempotent (insert-if-absent, reserve per order id, conditional state transitions), so
 * duplicates simply run the same steps and end with the same order, with stock taken once.
 *
 *   pending --reserve ok--> confirmed --cancel--> cancelling --release--> cancelled
 *      \--out of stock / dependency down (after releasing)--> failed
 *
 * The order's holds are claimed for its sale before the order is confirmed, and turned into sold
 * units right after (core/inventory.ts): from the claim on, only a failed or cancelled order
 * gives its stock back. Prices and names come from the inventory's reservation, never from the
 * caller or the cart.
 */
import { createHash } from 'node:crypto';
import { emptyCart, linesTotal } from './cart';
import { conflict, notFound, shopError, toShopError, type ShopError } from './errors';
import type { Call } from './fn';
import { createInventoryClient, type InventoryClient } from './gateway';
import { claimSale, finishSale } from './inventory';
import { SECRET_NAMES, readSecret } from './secrets';
import type { Customer, Order, OrderStatus, Reservation } from './schemas';
import type { ShopStore } from './store/store';

export interface CheckoutDeps {
  store: ShopStore;
  inventory: InventoryClient;
  now: () => string;
  callId?: string;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export async function checkoutDeps(call: Call): Promise<CheckoutDeps> {
  const inventory = inventoryClient(process.env.GATEWAY_URL || 'http://gateway.openfaas:8080');
  return { store: await call.store(), inventory, now: call.now, callId: call.callId, log: call.log };
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
  const status = f.code === 'DEPENDENCY_UNAVAILABLE' || f.code === 'NOT_CONFIGURED' ? 503 : 409;
  return shopError(status, f.code as ShopError['code'], f.message, { orderId: order.id, ...(f.details === undefined ? {} : { reasons: f.details }) });
}

export async function placeOrder(
  deps: CheckoutDeps,
  request: { shopperId: string; customer: Customer; idempotencyKey: string },
): Promise<{ order: Order; replayed: boolean }> {
  const { store, now } = deps;
  const id = orderIdFor(request.shopperId, request.idempotencyKey);
  let order = await store.getOrder(id);
  let replayed = order !== null;
  if (!order) {
    const cart = await store.getCart(request.shopperId);
    if (cart.lines.length === 0) throw conflict('CART_EMPTY', 'The cart is empty');
    const at = now();
    const inserted = await store.insertOrder({
      id,
      shopperId: request.shopperId,
      status: 'pending',
      customer: request.customer,
      requested: cart.lines,
      items: [],
      totalCents: 0,
      createdAt: at,
      updatedAt: at,
    });
    order = inserted.order;
    replayed = !inserted.inserted;
  }
  if (!sameCustomer(order.customer, request.customer)) {
    throw conflict('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for a different order', { orderId: id });
  }
  if (order.status === 'pending') order = await completeCheckout(deps, order);
  if (order.status === 'failed') throw failureError(order);
  return { order, replayed };
}

async function completeCheckout(deps: CheckoutDeps, order: Order): Promise<Order> {
  const { store, inventory, now, callId } = deps;
  let reservation: Reservation;
  try {
    reservation = await inventory.reserve(order.id, order.requested, callId);
  } catch (error) {
    const failure = toShopError(error);
    // A 409 (out of stock, released) leaves nothing held. Anything else may have held some units: give them back.
    if (failure.status === 409) return markFailed(deps, order, failure);
    if ((await releaseOrLeavePending(deps, order, failure)) === 'released') return markFailed(deps, order, failure);
    // A duplicate attempt got the reservation through and claimed it for the sale: carry on with it.
    reservation = { orderId: order.id, items: (await store.getReservation(order.id))?.items ?? [] };
  }
  if (!(await claimSale(store, order.id, now))) {
    return markFailed(deps, order, conflict('RESERVATION_RELEASED', 'The reservation was released before the order could be confirmed; start a new checkout'));
  }

  const changes = { status: 'confirmed' as const, items: reservation.items, totalCents: linesTotal(reservation.items), updatedAt: now() };
  let confirmed: Order | null;
  try {
    confirmed = (await store.transitionOrder(order.id, ['pending'], changes)) ?? (await store.getOrder(order.id));
  } catch (error) {
    // The write may have landed even though we saw an error: look before giving up on it.
    const failure = toShopError(error);
    const current = await store.getOrder(order.id).catch(() => null);
    if (current && current.status !== 'pending') return current;
    // Failed first, so that nothing can confirm it any more; then its stock comes back.
    const failed = await markFailed(deps, order, failure).catch(() => null);
    if (!failed) throw failure;
    if (failed.status !== 'failed') return failed;
    await deps.inventory.release(order.id, callId).catch((releaseError: unknown) => deps.log?.('release-failed', { orderId: order.id, error: toShopError(releaseError).code }));
    return failed;
  }
  if (!confirmed) throw shopError(500, 'INTERNAL', `Order ${order.id} vanished during checkout`);
  if (confirmed.status === 'confirmed') {
    await settleAfterOrder(deps, confirmed);
    await clearCartAfterOrder(deps, confirmed);
  }
  return confirmed;
}

/**
 * Compensation. 'released' when the stock is back; 'sold' when a duplicate attempt claimed it
 * for the sale meanwhile. If even the release cannot be done, the order stays pending: a replay
 * with the same key resumes it, and the sweep fails it in the end.
 */
async function releaseOrLeavePending(deps: CheckoutDeps, order: Order, cause: ShopError): Promise<'released' | 'sold'> {
  try {
    await deps.inventory.release(order.id, deps.callId);
    return 'released';
  } catch (error) {
    const failure = toShopError(error);
    if (failure.code === 'RESERVATION_SOLD') return 'sold';
    deps.log?.('release-failed', { orderId: order.id, cause: cause.code, error: failure.code });
    throw cause;
  }
}

/** The sold units are recorded whether or not this works now: the sweep finishes a sale left half-way. */
async function settleAfterOrder(deps: CheckoutDeps, order: Order): Promise<void> {
  try {
    await finishSale(deps.store, order.id, deps.now);
  } catch (error) {
    deps.log?.('sale-not-settled', { orderId: order.id, error: toShopError(error).code });
  }
}

async function markFailed(deps: CheckoutDeps, order: Order, failure: ShopError): Promise<Order> {
  const changes = {
    status: 'failed' as const,
    updatedAt: deps.now(),
    failure: failure.details === undefined ? { code: failure.code, message: failure.message } : { code: failure.code, message: failure.message, details: failure.details },
  };
  const failed = (await deps.store.transitionOrder(order.id, ['pending'], changes)) ?? (await deps.store.getOrder(order.id));
  if (!failed) throw failure;
  return failed;
}

/** The order stands whether or not this works; a failure is logged and the shopper can empty the cart by hand. */
async function clearCartAfterOrder(deps: CheckoutDeps, order: Order): Promise<void> {
  try {
    await emptyCart(deps.store, order.shopperId, deps.now);
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
