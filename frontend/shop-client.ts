/**
 * Everything the storefront asks of the backend, through the OpenFaaS gateway, on the one
 * gateway client (core/gateway.ts) and the functions' own schemas. Reads and writes that are
 * safe to repeat (set a quantity, empty a cart, an order with its Idempotency-Key) are
 * retried; adding to a cart is not.
 */
import type { z } from '../core/zod';
import { createGatewayClient, type GatewayClient, type GatewayOptions } from '../core/gateway';
import { Cart, Order, OrderList, Product, ProductPage, type Customer } from '../core/schemas';

export type ShopClient = ReturnType<typeof createShopClient>;

export const CATALOG_TTL_MS = 1_000;
const CATALOG_ENTRIES = 500;

export interface ShopClientOptions {
  gatewayUrl: string;
  timeoutMs?: number;
  catalogCacheMs?: number;
  onCall?: GatewayOptions['onCall'];
  /** The clock the catalog cache reads (tests set it). */
  now?: () => number;
}

export function createShopClient(options: ShopClientOptions) {
  const now = options.now ?? Date.now;
  // 400, 404, 409 and 413 tell the shopper something, 401 and 403 the operator; anything else
  // is "the shop is unavailable".
  const gateway: GatewayClient = createGatewayClient({
    baseUrl: options.gatewayUrl,
    timeoutMs: options.timeoutMs ?? 4_000,
    passThrough: [400, 401, 403, 404, 409, 413],
    onCall: options.onCall,
  });
  const get = <T>(fn: string, query: Record<string, string | undefined>, schema: z.ZodType<T>, callId?: string) =>
    gateway.call(fn, { query, callId, idempotent: true }, schema);
  const post = <T>(fn: string, body: unknown, schema: z.ZodType<T>, opts: { callId?: string; idempotent: boolean; headers?: Record<string, string> }) =>
    gateway.call(fn, { method: 'POST', body, ...opts }, schema);

  // Catalog pages are the same for every shopper: kept for a second, so new inventory shows
  // on the next page load at most a second late while the busiest page costs one call a second.
  const catalog = new Map<string, { at: number; page: Promise<z.infer<typeof ProductPage>> }>();
  const listProducts = (query: { q?: string; cursor?: string; limit?: number }, callId?: string, fresh = false) => {
    const key = JSON.stringify([query.q, query.cursor, query.limit]);
    const cached = catalog.get(key);
    if (!fresh && cached && now() - cached.at < (options.catalogCacheMs ?? CATALOG_TTL_MS)) return cached.page;
    const page = get('inventory-list', { q: query.q, cursor: query.cursor, limit: query.limit?.toString() }, ProductPage, callId);
    if (catalog.size >= CATALOG_ENTRIES) catalog.clear();
    catalog.set(key, { at: now(), page });
    page.catch(() => catalog.delete(key));
    return page;
  };

  return {
    listProducts,
    getProduct: (id: string, callId?: string) => get('inventory-get', { id }, Product, callId),
    getCart: (shopperId: string, callId?: string) => get('cart-get', { shopperId }, Cart, callId),
    addToCart: (shopperId: string, productId: string, quantity: number, callId?: string) =>
      post('cart-add', { shopperId, productId, quantity }, Cart, { callId, idempotent: false }),
    setCartQuantity: (shopperId: string, productId: string, quantity: number, callId?: string) =>
      post('cart-update', { shopperId, productId, quantity }, Cart, { callId, idempotent: true }),
    placeOrder: (shopperId: string, customer: Customer, idempotencyKey: string, callId?: string) =>
      post('order-create', { shopperId, customer }, Order, { callId, idempotent: true, headers: { 'idempotency-key': idempotencyKey } }),
    listOrders: (shopperId: string, callId?: string) => get('order-list', { shopperId }, OrderList, callId),
    getOrder: (id: string, shopperId: string, callId?: string) => get('order-get', { id, shopperId }, Order, callId),
    cancelOrder: (orderId: string, shopperId: string, callId?: string) =>
      post('order-cancel', { orderId, shopperId }, Order, { callId, idempotent: true }),
    // The operator's calls carry the admin token the operator signed in with.
    recentOrders: (adminToken: string, callId?: string) =>
      gateway.call('order-recent', { headers: { authorization: `Bearer ${adminToken}` }, callId, idempotent: true }, OrderList),
    restock: (adminToken: string, body: { productId: string; stock: number } | { product: Product }, callId?: string) =>
      post('inventory-restock', body, Product, { callId, idempotent: true, headers: { authorization: `Bearer ${adminToken}` } }),
  };
}
