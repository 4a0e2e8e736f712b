/**
 * Everything the storefront asks of the backend, through the OpenFaaS gateway, on the one
 * gateway client (core/gateway.ts) and the functions' own schemas. Every call is bounded by its
 * page's budget: an attempt never outlasts what is left of it, and a call safe to repeat (a
 * read; a write keyed by an id or an Idempotency-Key; never an add to cart) is tried again after
 * a failure (no answer, 502, 504) only when the wait and a useful attempt still fit. A refusal
 * (429 or 503: every replica busy, none ready, a function shedding load) is never tried again
 * here: it goes back to the shopper at once as a BUSY error carrying the refusal's Retry-After.
 */
import type { z } from '../core/zod';
import { shopError, type ShopError } from '../core/errors';
import { createGatewayClient, type CallFailure, type FunctionCall, type GatewayOptions } from '../core/gateway';
import { Cart, Order, OrderList, Product, ProductPage, type Customer } from '../core/schemas';

export type ShopClient = ReturnType<typeof createShopClient>;

export const CATALOG_TTL_MS = 1_000;
const CATALOG_ENTRIES = 500;
/** A page's budget for its calls to the gateway (README, "The storefront"). */
export const PAGE_BUDGET_MS = 4_000;
/** A Retry-After passed to shoppers: the refusal's own, held to 1-30 s; 2 s when it gave none. */
export const RETRY_AFTER_S = { min: 1, max: 30, default: 2 } as const;

/** What a page passes to each of its calls: its call id and the time (Date.now()) by which it must have its answers. */
export interface PageCall {
  callId?: string;
  deadline?: number;
}

/** Why a page was refused: the storefront's own limit, a refusal from upstream, or its budget ran out. */
export type RefusalReason = 'busy' | 'upstream_429' | 'upstream_503' | 'deadline';
export interface Refusal {
  reason: RefusalReason;
  retryAfterS: number;
  function?: string;
  /** The order a refused checkout decided (failed): its Idempotency-Key is spent. */
  orderId?: string;
}

export const busy = (refusal: Refusal, message = 'The shop is busy'): ShopError => shopError(503, 'BUSY', message, refusal);
export const refusalOf = (error: unknown): Refusal | undefined => ((error as ShopError | undefined)?.code === 'BUSY' ? ((error as ShopError).details as Refusal) : undefined);

/** The Retry-After told to a shopper: what upstream asked, held to RETRY_AFTER_S. */
export const shopperRetryAfter = (seconds: number | undefined): number =>
  seconds === undefined ? RETRY_AFTER_S.default : Math.min(RETRY_AFTER_S.max, Math.max(RETRY_AFTER_S.min, seconds));

export interface ShopClientOptions {
  gatewayUrl: string;
  /** The longest single attempt (default 2.5 s), never longer than what is left of the page's budget. */
  timeoutMs?: number;
  /** The budget of a call made without a page's deadline (default PAGE_BUDGET_MS). */
  budgetMs?: number;
  catalogCacheMs?: number;
  onCall?: GatewayOptions['onCall'];
  /** The clock the catalog cache reads (tests set it). */
  now?: () => number;
}

/** A refusal from upstream or a budget spent, as the shopper's BUSY; any other failure as it is. */
function asRefusal(error: unknown): unknown {
  const failure = (error as ShopError).code === 'DEPENDENCY_UNAVAILABLE' ? ((error as ShopError).details as CallFailure | undefined) : undefined;
  if (!failure) return error;
  if (failure.status === 429 || failure.status === 503) {
    const orderId = (failure.upstream as { orderId?: unknown } | undefined)?.orderId;
    const refusal: Refusal = { reason: failure.status === 429 ? 'upstream_429' : 'upstream_503', retryAfterS: shopperRetryAfter(failure.retryAfterSeconds), function: failure.function };
    return busy(typeof orderId === 'string' ? { ...refusal, orderId } : refusal, `${failure.function} answered ${failure.status}${failure.code ? ` (${failure.code})` : ''}`);
  }
  if (failure.outOfTime) return busy({ reason: 'deadline', retryAfterS: RETRY_AFTER_S.default, function: failure.function }, `${failure.function} did not answer within the page's budget`);
  return error;
}

export function createShopClient(options: ShopClientOptions) {
  const now = options.now ?? Date.now;
  // 400, 404, 409 and 413 tell the shopper something, 401 and 403 the operator; anything else is "the shop is unavailable".
  const gateway = createGatewayClient({
    baseUrl: options.gatewayUrl,
    timeoutMs: options.timeoutMs ?? 2_500,
    budgetMs: options.budgetMs ?? PAGE_BUDGET_MS,
    retryRefusals: false,
    passThrough: [400, 401, 403, 404, 409, 413],
    onCall: options.onCall,
  });
  const call = <T>(fn: string, request: FunctionCall, schema: z.ZodType<T>, page: PageCall) =>
    gateway.call(fn, { ...request, ...page }, schema).catch((error: unknown) => Promise.reject(asRefusal(error)));
  const get = <T>(fn: string, query: Record<string, string | undefined>, schema: z.ZodType<T>, page: PageCall = {}) => call(fn, { query, idempotent: true }, schema, page);
  const post = <T>(fn: string, body: unknown, schema: z.ZodType<T>, page: PageCall, opts: { idempotent: boolean; headers?: Record<string, string> }) =>
    call(fn, { method: 'POST', body, ...opts }, schema, page);

  // Catalog pages are the same for every shopper: kept for a second, so new inventory shows
  // on the next page load at most a second late while the busiest page costs one call a second.
  const catalog = new Map<string, { at: number; page: Promise<z.infer<typeof ProductPage>> }>();
  const listProducts = (query: { q?: string; cursor?: string; limit?: number }, page: PageCall = {}, fresh = false) => {
    const key = JSON.stringify([query.q, query.cursor, query.limit]);
    const cached = catalog.get(key);
    if (!fresh && cached && now() - cached.at < (options.catalogCacheMs ?? CATALOG_TTL_MS)) return cached.page;
    const products = get('inventory-list', { q: query.q, cursor: query.cursor, limit: query.limit?.toString() }, ProductPage, page);
    if (catalog.size >= CATALOG_ENTRIES) catalog.clear();
    catalog.set(key, { at: now(), page: products });
    products.catch(() => catalog.delete(key));
    return products;
  };

  return {
    listProducts,
    getProduct: (id: string, page?: PageCall) => get('inventory-get', { id }, Product, page),
    getCart: (shopperId: string, page?: PageCall) => get('cart-get', { shopperId }, Cart, page),
    addToCart: (shopperId: string, productId: string, quantity: number, page: PageCall = {}) => post('cart-add', { shopperId, productId, quantity }, Cart, page, { idempotent: false }),
    setCartQuantity: (shopperId: string, productId: string, quantity: number, page: PageCall = {}) =>
      post('cart-update', { shopperId, productId, quantity }, Cart, page, { idempotent: true }),
    placeOrder: (shopperId: string, customer: Customer, idempotencyKey: string, page: PageCall = {}) =>
      post('order-create', { shopperId, customer }, Order, page, { idempotent: true, headers: { 'idempotency-key': idempotencyKey } }),
    listOrders: (shopperId: string, page?: PageCall) => get('order-list', { shopperId }, OrderList, page),
    getOrder: (id: string, shopperId: string, page?: PageCall) => get('order-get', { id, shopperId }, Order, page),
    cancelOrder: (orderId: string, shopperId: string, page: PageCall = {}) => post('order-cancel', { orderId, shopperId }, Order, page, { idempotent: true }),
    // The operator's calls carry the admin token the operator signed in with.
    recentOrders: (adminToken: string, page: PageCall = {}) => call('order-recent', { headers: { authorization: `Bearer ${adminToken}` }, idempotent: true }, OrderList, page),
    restock: (adminToken: string, body: { productId: string; stock: number } | { product: Product }, page: PageCall = {}) =>
      post('inventory-restock', body, Product, page, { idempotent: true, headers: { authorization: `Bearer ${adminToken}` } }),
  };
}
