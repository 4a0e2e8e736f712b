/**
 * Everything the storefront asks of the backend, through the OpenFaaS gateway, with the
 * functions' own schemas. Every call is bounded by its page's budget: an attempt never outlasts
 * what is left of it, and a call safe to repeat (a read; a write keyed by an id or an
 * Idempotency-Key; never an add to cart) is tried again after a failure (no answer, 502, 504)
 * only when the wait and a useful attempt still fit. A refusal (429 or 503: every replica busy,
 * none ready, a function shedding load) is never tried again here: it goes back to the shopper
 * at once as a BUSY error carrying the refusal's Retry-After.
 */
import got, { type Got } from 'got';
import { Agent } from 'node:http';
import type { z } from '../core/zod';
import { shopError, unavailable, type ErrorCode, type ShopError } from '../core/errors';
import { parseJson, type FunctionCall, type GatewayOptions } from '../core/gateway';
import { Cart, ErrorBody, Order, OrderList, Product, ProductPage, type Customer } from '../core/schemas';

export type ShopClient = ReturnType<typeof createShopClient>;

export const CATALOG_TTL_MS = 1_000;
const CATALOG_ENTRIES = 500;
/** A page's budget for its calls to the gateway (README, "The storefront"). */
export const PAGE_BUDGET_MS = 4_000;
const ATTEMPT_MS = 2_500;
const RETRIES = 2;
/** An attempt given less than this is not worth sending. */
const USEFUL_ATTEMPT_MS = 100;
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

/** Seconds from a Retry-After header (seconds or an HTTP date), held to RETRY_AFTER_S. */
export function retryAfterSeconds(header: string | undefined, now = Date.now()): number {
  const text = header?.trim() ?? '';
  const seconds = /^\d+$/.test(text) ? Number(text) : text ? Math.ceil((Date.parse(text) - now) / 1000) : NaN;
  return Number.isFinite(seconds) ? Math.min(RETRY_AFTER_S.max, Math.max(RETRY_AFTER_S.min, seconds)) : RETRY_AFTER_S.default;
}

// 400, 404, 409 and 413 tell the shopper something, 401 and 403 the operator; anything else is "the shop is unavailable".
const PASS_THROUGH = new Set([400, 401, 403, 404, 409, 413]);

function gatewayCaller(options: ShopClientOptions) {
  const attemptMs = options.timeoutMs ?? ATTEMPT_MS;
  const http: Got = got.extend({
    prefixUrl: options.gatewayUrl.replace(/\/+$/, ''),
    agent: { http: new Agent({ keepAlive: true, maxSockets: 256 }) },
    retry: { limit: 0 },
    throwHttpErrors: false,
    responseType: 'text',
  });
  /** Waits before another attempt (backoff with full jitter); false when it and a useful attempt do not fit. */
  const backoff = async (attempt: number, deadline: number) => {
    const delay = Math.random() * 50 * 2 ** attempt;
    if (Date.now() + delay + USEFUL_ATTEMPT_MS > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, delay));
    return true;
  };

  return async function call<T>(fn: string, request: FunctionCall, schema: z.ZodType<T>, page: PageCall): Promise<T> {
    const deadline = page.deadline ?? Date.now() + (options.budgetMs ?? PAGE_BUDGET_MS);
    const retries = request.idempotent ? RETRIES : 0;
    for (let attempt = 0; ; attempt++) {
      const left = deadline - Date.now();
      if (left < 1) throw outOfTime(fn);
      const timeout = Math.min(attemptMs, left);
      const started = process.hrtime.bigint();
      const observe = (status: number) => options.onCall?.(fn, status, Number(process.hrtime.bigint() - started) / 1e9);
      let response;
      try {
        response = await http(`function/${fn}`, {
          method: request.method ?? 'GET',
          searchParams: request.query ? definedOnly(request.query) : undefined,
          json: request.body,
          headers: { ...request.headers, ...(page.callId ? { 'x-call-id': page.callId } : {}) },
          timeout: { request: timeout },
        });
      } catch (error) {
        observe(0);
        // An attempt that timed out with no room left for another: the page ran out of its budget.
        const timedOut = (error as { code?: unknown }).code === 'ETIMEDOUT';
        let budgetSpent = timedOut && timeout === left;
        if (!budgetSpent && attempt < retries) {
          if (await backoff(attempt, deadline)) continue;
          budgetSpent = timedOut;
        }
        if (budgetSpent) throw outOfTime(fn);
        throw unavailable(`${fn} could not be reached`, { function: fn, reason: (error as Error).message });
      }
      const status = response.statusCode;
      observe(status);
      const body = parseJson(response.body);
      if (status >= 200 && status < 300) {
        const result = schema.safeParse(body);
        if (result.success) return result.data;
        throw unavailable(`${fn} sent an answer the shop does not understand`, { function: fn });
      }
      if (status === 429 || status === 503) throw refused(fn, status, response.headers['retry-after'], body);
      if ((status === 502 || status === 504) && attempt < retries && (await backoff(attempt, deadline))) continue;
      throw fromErrorResponse(fn, status, body);
    }
  };
}

const outOfTime = (fn: string) => busy({ reason: 'deadline', retryAfterS: RETRY_AFTER_S.default, function: fn }, `${fn} did not answer within the page's budget`);

function refused(fn: string, status: 429 | 503, retryAfter: string | undefined, body: unknown): ShopError {
  const error = ErrorBody.safeParse(body);
  const orderId = (error.data?.error.details as { orderId?: unknown } | undefined)?.orderId;
  return busy(
    { reason: status === 429 ? 'upstream_429' : 'upstream_503', retryAfterS: retryAfterSeconds(retryAfter), function: fn, ...(typeof orderId === 'string' ? { orderId } : {}) },
    `${fn} answered ${status}${error.success ? ` (${error.data.error.code})` : ''}`,
  );
}

function fromErrorResponse(fn: string, status: number, body: unknown): ShopError {
  const error = ErrorBody.safeParse(body);
  if (error.success && PASS_THROUGH.has(status)) {
    const { code, message, details } = error.data.error;
    return shopError(status, code as ErrorCode, message, details);
  }
  return unavailable(`${fn} answered ${status}`, { function: fn, status, ...(error.success ? { code: error.data.error.code } : {}) });
}

function definedOnly(query: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

export function createShopClient(options: ShopClientOptions) {
  const now = options.now ?? Date.now;
  const call = gatewayCaller(options);
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
