/**
 * The storefront: server-rendered pages (EJS) over the shop's functions. Every backend call
 * goes through the shop client (gateway + the functions' schemas); every form is validated
 * here first and carries a CSRF token; nothing a shopper sends sets a price or names another
 * shopper. When the backend is down the page says so (503) and the next request tries again.
 * Browsing pages make one call at most: catalog pages are cached for a second and the
 * header's cart count comes from a signed cookie.
 *
 * Under a rush it serves what fits at full speed and refuses the rest at once: a bound on the
 * pages in flight (admission.ts), every page's calls held to its budget (shop-client.ts), and a
 * busy page (503 + Retry-After) that changes nothing, so the cart is kept and a checkout sent
 * again is still one order.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import ejs from 'ejs';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from '../core/zod';
import { isShopError, type ShopError } from '../core/errors';
import { logger } from '../core/log';
import { Customer, IdempotencyKey, MAX_LINE_QUANTITY, OrderId, ProductId, type ProductPage } from '../core/schemas';
import { admission, ConcurrencyLimit, type ConcurrencyLimitOptions } from './admission';
import { mountAdmin, type LoginThrottle } from './admin';
import { localHistory } from './history';
import { prometheusHistory } from './history-prometheus';
import { placeholderSvg } from './placeholder';
import { checkoutOutcome, shopMetrics, type ShopMetrics } from './shop-metrics';
import { createSessions, type Flash } from './session';
import { busy, createShopClient, PAGE_BUDGET_MS, refusalOf, type PageCall, type Refusal, type ShopClient } from './shop-client';
import { createSystemClient, type GatewayCredentials } from './system-client';
import { storefrontMetrics } from './workers';

export interface StorefrontConfig {
  gatewayUrl: string;
  cookieSecret: string;
  /** Behind nginx: trust X-Forwarded-* from it (Express's trust proxy setting). */
  trustProxy?: boolean | string;
  /** The longest single call to the gateway (default 2.5 s), within the page's budget. */
  gatewayTimeoutMs?: number;
  /** How long a page may wait for the gateway, its calls and their retries together (default PAGE_BUDGET_MS). */
  pageBudgetMs?: number;
  /** The bound on pages in flight (admission.ts; default CONCURRENCY_DEFAULTS). */
  concurrency?: Partial<ConcurrencyLimitOptions>;
  /** How long a catalog page may be reused (default 1 s); 0 asks every time. */
  catalogCacheMs?: number;
  /**
   * Credentials that may list and scale functions and nothing else (the runtime's `scaler` user,
   * or the scaler in front of the cluster's gateway: k3s/scaler.yaml), for the operator page's
   * replicas; optional. At `scalerUrl` (default: gatewayUrl).
   */
  gatewayCredentials?: GatewayCredentials;
  scalerUrl?: string;
  /**
   * The cluster's Prometheus (OpenFaaS's), for the charts of /admin/functions; without it they
   * come from the local runtime's window, through the scaler's credentials.
   */
  prometheusUrl?: string;
  /** Wrong operator passwords per address before 429 (default LOGIN_THROTTLE). */
  loginThrottle?: LoginThrottle;
}

const VIEWS = join(__dirname, 'views');
const PUBLIC = join(__dirname, 'public');

const Quantity = z.string().regex(/^\d{1,2}$/, 'Choose a quantity from 1 to 99').transform(Number).pipe(z.number().int().min(1).max(MAX_LINE_QUANTITY));
// The pages' own forms send exactly these fields (and _csrf): anything else is a forged request.
const Csrf = z.string();
const AddForm = z.strictObject({ _csrf: Csrf, productId: ProductId, quantity: Quantity });
const UpdateForm = z.strictObject({
  _csrf: Csrf,
  productId: ProductId,
  quantity: z.string().regex(/^\d{1,2}$/).transform(Number).pipe(z.number().int().min(0).max(MAX_LINE_QUANTITY)),
});
const CheckoutForm = z.strictObject({ _csrf: Csrf, name: z.string(), email: z.string(), address: z.string(), idempotencyKey: IdempotencyKey });
const CancelForm = z.strictObject({ _csrf: Csrf });
/**
 * The Retry-After of the storefront's own busy page: 1-3 s, drawn at random, since shoppers
 * refused in one burst would otherwise come back in one and be refused again together; a few
 * seconds, since a rush's admitted pages free their permits within one (p99 0.4-0.7 s).
 */
const BUSY_PAGE_RETRY_AFTER_S = { min: 1, max: 3 } as const;
const busyRetryAfterS = () => BUSY_PAGE_RETRY_AFTER_S.min + Math.floor(Math.random() * (BUSY_PAGE_RETRY_AFTER_S.max - BUSY_PAGE_RETRY_AFTER_S.min + 1));
/**
 * Where a cached catalog page (catalogPage below) takes each shopper's own values. The token's
 * slot is written raw and contains `<`, which escaped values never do; the count's is escaped
 * like the count, so it is a random word no product text can hold.
 */
const CSRF_SLOT = '<csrf-token>';
const CART_COUNT_SLOT = `cart-count-${randomBytes(12).toString('hex')}`;
const CATALOG_SLOTS = new RegExp(`(${CSRF_SLOT}|${CART_COUNT_SLOT})`);
/** A catalog page: its text as UTF-8 bytes, and between them the slots (CSRF_SLOT, CART_COUNT_SLOT) by name. */
type CatalogPage = Array<Buffer | string>;
const CatalogQuery = z.object({
  q: z.string().max(100).optional(),
  cursor: z.string().max(200).regex(/^[A-Za-z0-9_-]+$/).optional(),
});

/** Wraps an async route so a rejection reaches the error handler. */
const route = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

export function createStorefront(config: StorefrontConfig): express.Express {
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const registers = [metrics];
  const requests = new Counter({ name: 'http_requests_total', help: 'Storefront requests by method, route and status', labelNames: ['method', 'route', 'code'], registers });
  const requestSeconds = new Histogram({ name: 'http_request_duration_seconds', help: 'Storefront request duration in seconds', labelNames: ['method', 'route'], registers });
  const functionCalls = new Counter({ name: 'storefront_function_calls_total', help: 'Calls from the storefront to each function, by status (0: no answer)', labelNames: ['function_name', 'code'], registers });
  const functionSeconds = new Histogram({ name: 'storefront_function_seconds', help: 'Duration of the storefront’s calls to each function', labelNames: ['function_name'], registers });
  const refusals = new Counter({ name: 'storefront_refusals_total', help: 'Pages answered busy (503 + Retry-After): the storefront’s own limit, a refusal from upstream, or the page’s budget ran out', labelNames: ['reason'], registers });
  const limit = new ConcurrencyLimit(config.concurrency);
  new Gauge({ name: 'storefront_concurrency_limit', help: 'Pages the storefront works on at once before it answers busy (it adapts)', registers, collect() { this.set(limit.limit); } });
  new Gauge({ name: 'storefront_pages_in_flight', help: 'Pages the storefront is working on now', registers, collect() { this.set(limit.inflight); } });
  const budgetMs = config.pageBudgetMs ?? PAGE_BUDGET_MS;
  const shop: ShopClient = createShopClient({
    gatewayUrl: config.gatewayUrl,
    timeoutMs: config.gatewayTimeoutMs,
    budgetMs,
    catalogCacheMs: config.catalogCacheMs,
    onCall: (fn, status, seconds) => {
      functionCalls.inc({ function_name: fn, code: String(status) });
      functionSeconds.observe({ function_name: fn }, seconds);
    },
  });
  const system = config.gatewayCredentials ? createSystemClient({ gatewayUrl: config.scalerUrl ?? config.gatewayUrl, credentials: config.gatewayCredentials, timeoutMs: config.gatewayTimeoutMs }) : undefined;
  const shopEvents = shopMetrics(metrics, system);
  const sessions = createSessions(config.cookieSecret);
  const app = express();

  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy ?? 'loopback');
  // Templates are compiled once and cached: they ship with the app and never change under it.
  // Includes name their file from the views folder (`/partials/header`): resolved without a look at the disk on every render.
  app.engine('ejs', (path, data, done) => ejs.renderFile(path, data as ejs.Data, { cache: true, root: VIEWS }, done as (err: Error | null, html?: string) => void));
  app.set('view engine', 'ejs');
  app.set('views', VIEWS);
  // Templates compiled once per process, in development too (Express caches them only under
  // NODE_ENV=production): npm start runs a new storefront process on a change under frontend/.
  app.set('view cache', true);
  // Pages carry the shopper's CSRF token and cart: an ETag (a hash of every page) never matches.
  app.set('etag', false);
  app.locals.money = (cents: number) => `€${(cents / 100).toFixed(2)}`;
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
        },
      },
      // Served over plain HTTP on the LAN too: only send HSTS when nginx terminates TLS.
      strictTransportSecurity: false,
      // Same-origin Referer lets a form send the shopper back to the page it came from.
      referrerPolicy: { policy: 'same-origin' },
    }),
  );
  app.use('/static', express.static(PUBLIC, { maxAge: '1h', fallthrough: false }));
  app.get('/images/:name', (req, res) => {
    const name = /^([a-z0-9][a-z0-9-]{0,62})\.svg$/.exec(req.params.name)?.[1];
    if (!name) return void res.status(404).type('text/plain').send('Not found');
    res.type('image/svg+xml').set('Cache-Control', 'public, max-age=86400').send(placeholderSvg(name));
  });
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  // Every worker's, added up, when the storefront runs on several processes (workers.ts).
  const allMetrics = storefrontMetrics(metrics);
  app.get(
    '/metrics',
    route(async (_req, res) => {
      const registry = await allMetrics();
      res.type(registry.contentType).send(await registry.metrics());
    }),
  );

  app.use((req, res, next) => {
    // What every page's header needs, even an error page rendered before the session exists.
    Object.assign(res.locals, { session: { csrfToken: '' }, flash: undefined, cartCount: 0, q: '' });
    // One id per page view, passed to every function it calls and in every log line about it.
    const callId = typeof req.headers['x-call-id'] === 'string' ? req.headers['x-call-id'].slice(0, 100) : randomUUID();
    res.locals.callId = callId;
    // The page's budget starts when it arrives: every call it makes is held to it.
    res.locals.page = { callId, deadline: Date.now() + budgetMs } satisfies PageCall;
    res.set('X-Call-Id', callId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeOf(req);
      requests.inc({ method: req.method, route, code: String(res.statusCode) });
      requestSeconds.observe({ method: req.method, route }, seconds);
      // One line per request, under the page view's call id (checked first: nothing is built when info is off).
      if (logger.isLevelEnabled('info')) logger.info({ callId, method: req.method, route, status: res.statusCode, durationMs: Math.round(seconds * 100_000) / 100 }, 'request');
    });
    next();
  });

  app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }));
  app.use(sessions.middleware);
  app.use((req, res, next) => {
    res.locals.session = req.session;
    res.locals.flash = req.session.flash;
    res.locals.cartCount = req.session.cartCount;
    next();
  });
  app.use((req, res, next) => {
    if (req.method !== 'POST' || sessions.csrfValid(req)) return next();
    res.status(403).render('error', { title: 'Form expired', message: 'This form has expired. Go back, reload the page and try again.' });
  });
  // Every page a shopper opens counts against the limit; the operator's page does not, so that
  // it shows what is going on in the middle of a rush (nginx and its login throttle bound it).
  const admit = admission(limit, () => busy({ reason: 'busy', retryAfterS: busyRetryAfterS() }));
  app.use((req, res, next) => (/^\/admin(\/|$)/i.test(req.path) ? next() : admit(req, res, next)));

  /**
   * The cart, for the pages that show it; its size is remembered in a signed cookie, so that
   * the other pages show the header's count without a call to the backend.
   */
  const loadCart = async (req: Request, res: Response) => {
    const cart = await shop.getCart(req.session.shopperId, res.locals.page);
    sessions.cartSeen(req, res, unitsIn(cart));
    return cart;
  };
  const back = (req: Request, fallback: string) => {
    const referer = req.get('referer');
    try {
      const url = referer ? new URL(referer) : undefined;
      return url && url.host === req.get('host') ? `${url.pathname}${url.search}` : fallback;
    } catch {
      return fallback;
    }
  };

  /**
   * A catalog page is the same for every shopper but for the CSRF token in its forms and the
   * header's cart count: rendered and encoded once per page of products the shop client hands out
   * (the same object for as long as its catalog cache keeps it, so the page lives exactly as long)
   * and cut where those go; a page carrying a flash message is rendered for its one view.
   */
  const catalogPages = new WeakMap<ProductPage, CatalogPage>();
  const catalogPage = async (page: ProductPage, q: string, flash: Flash | undefined): Promise<CatalogPage> => {
    const cached = flash ? undefined : catalogPages.get(page);
    if (cached) return cached;
    const locals = { title: q ? `Search: ${q}` : 'Shop', q, page, flash, csrfSlot: CSRF_SLOT, cartCount: CART_COUNT_SLOT };
    const html = await new Promise<string>((resolve, reject) => app.render('catalog', locals, (error, out) => (error ? reject(error) : resolve(out))));
    // split() with a capturing pattern: the text at even places, the slots between. The text is
    // encoded into one buffer, its pieces views of it (small buffers of their own would each hold
    // a slab of Node's shared pool).
    const pieces = html.split(CATALOG_SLOTS);
    const bytes = Buffer.from(pieces.filter((_, i) => i % 2 === 0).join(''));
    let at = 0;
    const built = pieces.map((piece, i) => {
      if (i % 2) return piece;
      const start = at;
      at += Buffer.byteLength(piece);
      return bytes.subarray(start, at);
    });
    if (!flash) catalogPages.set(page, built);
    return built;
  };

  app.get(
    '/',
    route(async (req, res) => {
      const query = CatalogQuery.safeParse(req.query);
      if (!query.success) return renderError(res, 400, 'That search is not valid.');
      const q = query.data.q?.trim() || undefined;
      const page = await shop.listProducts({ q, cursor: query.data.cursor }, res.locals.page);
      const parts = await catalogPage(page, q ?? '', req.session.flash);
      // The token is read only where the page has a form: a page of sold-out products sets no CSRF cookie.
      let token: Buffer | undefined;
      const count = Buffer.from(String(req.session.cartCount));
      const value = (slot: string) => (slot === CSRF_SLOT ? (token ??= Buffer.from(ejs.escapeXML(req.session.csrfToken))) : count);
      res.type('html').send(Buffer.concat(parts.map((part) => (typeof part === 'string' ? value(part) : part))));
    }),
  );

  app.get(
    '/products/:id',
    route(async (req, res) => {
      const id = ProductId.safeParse(req.params.id);
      if (!id.success) return renderError(res, 404, 'There is no such product.');
      const product = await shop.getProduct(id.data, res.locals.page);
      res.render('product', { title: product.name, product });
    }),
  );

  app.post(
    '/cart/add',
    route(async (req, res) => {
      // The page's own form cannot send anything else: a bad value is a forged request.
      const form = AddForm.safeParse(req.body);
      if (!form.success) return renderError(res, 400, 'Choose a quantity from 1 to 99.');
      try {
        const cart = await shop.addToCart(req.session.shopperId, form.data.productId, form.data.quantity, res.locals.page);
        sessions.cartSeen(req, res, unitsIn(cart));
        const line = cart.items.find((i) => i.productId === form.data.productId);
        sessions.flash(req, res, { kind: 'success', text: `Added ${form.data.quantity} × ${line?.name ?? 'item'} to your cart.` });
      } catch (error) {
        if (await refusedCartChange(req, res, error)) return;
      }
      res.redirect(303, back(req, '/'));
    }),
  );

  app.get(
    '/cart',
    route(async (req, res) => {
      const cart = await loadCart(req, res);
      res.render('cart', { title: 'Your cart', cart });
    }),
  );

  app.post(
    '/cart/update',
    route(async (req, res) => {
      const form = UpdateForm.safeParse(req.body);
      if (!form.success) return renderError(res, 400, 'Choose a quantity from 0 to 99.');
      try {
        sessions.cartSeen(req, res, unitsIn(await shop.setCartQuantity(req.session.shopperId, form.data.productId, form.data.quantity, res.locals.page)));
        sessions.flash(req, res, { kind: 'success', text: form.data.quantity === 0 ? 'Removed from your cart.' : 'Cart updated.' });
      } catch (error) {
        if (await refusedCartChange(req, res, error)) return;
      }
      res.redirect(303, '/cart');
    }),
  );

  /**
   * A cart change the backend refused: out of stock and the like become a message on the next
   * page; an unknown product has no page to go back to, so it gets the 404 page. True when
   * the response is sent.
   */
  const refusedCartChange = async (req: Request, res: Response, error: unknown): Promise<boolean> => {
    if (isShopError(error) && error.status === 404) {
      renderError(res, 404, 'That product is not sold here.');
      return true;
    }
    sessions.flash(req, res, { kind: 'error', text: await shopperMessage(error, shop, res.locals.page, shopEvents) });
    return false;
  };

  const renderCheckout = async (req: Request, res: Response, status: number, form: Record<string, string>, errors: Record<string, string>) => {
    const cart = await loadCart(req, res);
    if (cart.items.length === 0) return res.redirect(303, '/cart');
    res.status(status).render('checkout', { title: 'Checkout', cart, form, errors });
  };

  app.get(
    '/checkout',
    route(async (req, res) => {
      // The key is minted with the form: submitting it twice (double click, retry) places one order.
      await renderCheckout(req, res, 200, { name: '', email: '', address: '', idempotencyKey: randomUUID() }, {});
    }),
  );

  app.post(
    '/checkout',
    route(async (req, res) => {
      const form = CheckoutForm.safeParse(req.body);
      if (!form.success) return renderError(res, 400, 'This checkout form is not valid. Go back and reload the page.');
      const { idempotencyKey, _csrf, ...fields } = form.data;
      const customer = Customer.safeParse(fields);
      if (!customer.success) {
        const errors = Object.fromEntries(customer.error.issues.map((i) => [String(i.path[0]), fieldMessage(String(i.path[0]))]));
        return renderCheckout(req, res, 400, form.data, errors);
      }
      try {
        const order = await shop.placeOrder(req.session.shopperId, customer.data, idempotencyKey, res.locals.page);
        shopEvents.checkout('placed');
        sessions.cartSeen(req, res, 0); // a confirmed order empties the cart
        sessions.flash(req, res, { kind: 'success', text: `Thank you! Your order ${order.id} is placed.` });
        res.redirect(303, `/orders/${order.id}`);
      } catch (error) {
        shopEvents.checkout(checkoutOutcome(error));
        if (isShopError(error) && error.status === 409) {
          sessions.flash(req, res, { kind: 'error', text: await shopperMessage(error, shop, res.locals.page, shopEvents) });
          return res.redirect(303, '/cart');
        }
        throw error;
      }
    }),
  );

  app.get(
    '/orders',
    route(async (req, res) => {
      const orders = await shop.listOrders(req.session.shopperId, res.locals.page);
      res.render('orders', { title: 'My orders', orders: orders.items });
    }),
  );

  app.get(
    '/orders/:id',
    route(async (req, res) => {
      const id = OrderId.safeParse(req.params.id);
      if (!id.success) return renderError(res, 404, 'There is no such order.');
      const order = await shop.getOrder(id.data, req.session.shopperId, res.locals.page);
      res.render('order', { title: `Order ${order.id}`, order });
    }),
  );

  app.post(
    '/orders/:id/cancel',
    route(async (req, res) => {
      const id = OrderId.safeParse(req.params.id);
      if (!id.success) return renderError(res, 404, 'There is no such order.');
      if (!CancelForm.safeParse(req.body).success) return renderError(res, 400, 'That request was not valid.');
      try {
        await shop.cancelOrder(id.data, req.session.shopperId, res.locals.page);
        sessions.flash(req, res, { kind: 'success', text: `Order ${id.data} is cancelled.` });
      } catch (error) {
        // Not this shopper's order (404) goes to the error page; "cannot be cancelled" is news for the list.
        if (!isShopError(error) || error.status !== 409) throw error;
        sessions.flash(req, res, { kind: 'error', text: error.message });
      }
      res.redirect(303, '/orders');
    }),
  );

  mountAdmin(app, { shop, system, history: config.prometheusUrl ? prometheusHistory({ url: config.prometheusUrl, timeoutMs: config.gatewayTimeoutMs }) : system && localHistory(system), metrics: allMetrics, loginThrottle: config.loginThrottle, flash: (req, res, text, kind = 'success') => sessions.flash(req, res, { kind, text }) });

  app.use((_req, res) => renderError(res, 404, 'There is nothing at this address.'));

  // Express's signature for error handlers needs all four parameters.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const refusal = refusalOf(error);
    if (refusal) return refuse(req, res, refusal);
    const status = statusOf(error);
    if (status >= 500) {
      logger[status === 503 ? 'warn' : 'error'](
        { callId: res.locals.callId, path: req.path, status, error: isShopError(error) ? error.code : error instanceof Error ? error.message : String(error) },
        'storefront request failed',
      );
    }
    if (res.headersSent) return;
    if (status === 503) {
      res.set('Retry-After', '5');
      return renderError(res, 503, 'The shop is taking a short break. Please try again in a moment.', 'We’ll be right back');
    }
    if (status === 404) return renderError(res, 404, isShopError(error) ? error.message : 'Not found.');
    if (status === 413) return renderError(res, 413, 'That form was too large.');
    if (status < 500) return renderError(res, status, 'That request was not valid.');
    renderError(res, 500, 'Something went wrong on our side.');
  });

  /**
   * A page refused for load: 503 with a bounded Retry-After, and nothing changed. A refused
   * checkout gets its form back with the shopper's input and the same Idempotency-Key, so that
   * placing it again is still one order; only when the refused attempt decided its order
   * (failed: nothing held, nothing charged) does the form carry a new key, since that key now
   * answers the failure.
   */
  function refuse(req: Request, res: Response, refusal: Refusal): void {
    refusals.inc({ reason: refusal.reason });
    if (refusal.reason !== 'busy') {
      res.locals.overloaded = true; // a sample of overload for the limit (admission.ts)
      logger.info({ callId: res.locals.callId, path: req.path, ...refusal }, 'refused upstream');
    }
    if (res.headersSent) return;
    const seconds = refusal.retryAfterS;
    const inSeconds = seconds === 1 ? '1 second' : `${seconds} seconds`;
    res.status(503).set('Retry-After', String(seconds));
    const form = req.method === 'POST' && /^\/checkout\/?$/i.test(req.path) ? CheckoutForm.safeParse(req.body) : undefined;
    if (form?.success) {
      const { _csrf, ...fields } = form.data;
      const spent = refusal.orderId !== undefined;
      res.locals.flash = {
        kind: 'error',
        text: spent
          ? `The shop was too busy to place your order: nothing was charged, and your cart and details are kept. Place it again in ${inSeconds}.`
          : `The shop is very busy: your order is not placed yet. Your cart and details are kept; place it again in ${inSeconds} and it will be placed once.`,
      };
      return res.render('checkout', { title: 'Checkout', cart: undefined, form: spent ? { ...fields, idempotencyKey: randomUUID() } : fields, errors: {} });
    }
    res.render('busy', { title: 'The shop is busy', inSeconds, again: req.method === 'GET' ? req.originalUrl : undefined });
  }

  return app;
}

/** The route a request matched, as the metrics and logs name it. */
const routeOf = (req: Request) => (req.route?.path ? String(req.route.path) : 'unmatched');

const unitsIn = (cart: { items: readonly { quantity: number }[] }) => cart.items.reduce((n, i) => n + i.quantity, 0);

function statusOf(error: unknown): number {
  if (isShopError(error)) return error.status;
  const status = (error as { status?: unknown; statusCode?: unknown })?.status ?? (error as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

function renderError(res: Response, status: number, message: string, title?: string): void {
  res.status(status).render('error', { title: title ?? (status === 404 ? 'Not found' : 'Sorry'), message, status });
}

function fieldMessage(field: string): string {
  return (
    { name: 'Enter your name.', email: 'Enter a valid email address.', address: 'Enter the delivery address.' }[field] ??
    'Check this field.'
  );
}

/** What to tell a shopper about a refused cart change or checkout; names sold-out products. */
async function shopperMessage(error: unknown, shop: ShopClient, page: PageCall, events: ShopMetrics): Promise<string> {
  if (!isShopError(error) || error.status >= 500) throw error;
  if (error.code === 'OUT_OF_STOCK') {
    const shortages = outOfStockDetails(error);
    for (const s of shortages) if (s.available === 0) events.soldOut(s.productId);
    const names = await Promise.all(
      shortages.map(async (s) => {
        const name = await shop.getProduct(s.productId, page).then((p) => p.name, () => s.productId);
        return s.available === 0 ? `${name} is sold out` : `only ${s.available} of ${name} left`;
      }),
    );
    return names.length ? `Sorry, ${names.join('; ')}.` : 'Sorry, some items are out of stock.';
  }
  if (error.code === 'CART_EMPTY') return 'Your cart is empty.';
  return error.message;
}

const Shortages = z.array(z.object({ productId: z.string(), available: z.number() }));
function outOfStockDetails(error: ShopError): z.infer<typeof Shortages> {
  // Straight from inventory (cart-add) or wrapped by order-create as { orderId, reasons }.
  const details = error.details as { reasons?: unknown } | undefined;
  const parsed = Shortages.safeParse(details && typeof details === 'object' && 'reasons' in details ? details.reasons : details);
  return parsed.success ? parsed.data : [];
}
