/**
 * The operator page, /admin: stock levels as a bar chart, the storefront's calls, refusals and
 * latency per function and the pages it refused itself, recent orders, and forms to restock or add
 * a product; /admin/functions: each function's last 15 minutes as charts (frontend/history.ts). Behind HTTP basic
 * auth: user `admin`, password the shop-admin-token. The storefront keeps no admin secret of
 * its own; it passes the operator's token on, and the functions decide (401/403 ask again).
 */
import basicAuth from 'basic-auth';
import type { Express, NextFunction, Request, Response } from 'express';
import { rateLimit, type Store } from 'express-rate-limit';
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import { isShopError, unavailable } from '../core/errors';
import { replicaBounds } from '../core/replica-bounds';
import { z } from '../core/zod';
import { Product, ProductId, type Product as ProductType } from '../core/schemas';
import { CHART } from './history-charts';
import { historyView, type HistorySource } from './history';
import { rateLimitStore } from './workers';
import type { PageCall, ShopClient } from './shop-client';
import type { FunctionSummary, SystemClient } from './system-client';

const RestockForm = z.strictObject({ _csrf: z.string(), productId: ProductId, stock: z.string().regex(/^\d{1,7}$/) });
const ScaleForm = z.strictObject({ _csrf: z.string(), name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/), replicas: z.string().regex(/^[1-5]$/) });
const ProductForm = z.strictObject({
  _csrf: z.string(),
  id: z.string(),
  name: z.string(),
  description: z.string(),
  price: z.string().regex(/^\d{1,6}(\.\d{1,2})?$/),
  stock: z.string().regex(/^\d{1,7}$/),
  image: z.string(),
});

declare module 'express-serve-static-core' {
  interface Request {
    adminToken?: string;
  }
}

function challenge(res: Response): void {
  res.set('WWW-Authenticate', 'Basic realm="Shop operator", charset="UTF-8"').status(401).render('error', { title: 'Sign in', message: 'The operator page needs the admin user and the shop-admin-token.' });
}

/** Reads basic auth; the token is checked by the functions on every admin call. */
function operator(req: Request, res: Response, next: NextFunction): void {
  const credentials = basicAuth(req);
  if (credentials?.name !== 'admin' || !credentials.pass) return challenge(res);
  req.adminToken = credentials.pass;
  next();
}

/** Every product, straight from the inventory (the operator must see a restock at once). */
async function allProducts(shop: ShopClient, page: PageCall): Promise<ProductType[]> {
  const products: ProductType[] = [];
  let cursor: string | undefined;
  do {
    const list = await shop.listProducts({ limit: 100, cursor }, page, true);
    products.push(...list.items);
    cursor = list.nextCursor;
  } while (cursor && products.length < 2_000);
  return products;
}

/** What the operator page shows of the storefront's metrics. */
const OPERATOR_PAGE_METRICS = ['storefront_function_seconds', 'storefront_function_calls_total', 'storefront_concurrency_limit', 'storefront_pages_in_flight', 'storefront_refusals_total'];
/** A histogram's samples name their series (_bucket, _sum, _count). */
type Samples = (MetricValue<string> & { metricName?: string })[];
/** One metric's samples from the storefront's metrics (every worker's, added up), by name. */
const samplesOf = (all: MetricObjectWithValues<MetricValue<string>>[], name: string): Samples => all.find((metric) => metric.name === name)?.values ?? [];

/** The storefront's calls per function: how many, how many were refused (429, 503) and their mean duration. */
function callsPerFunction(durations: Samples, calls: Samples): { fn: string; count: number; refused: number; meanMs: number }[] {
  const refused = new Map<string, number>();
  for (const sample of calls) {
    if (sample.labels.code === '429' || sample.labels.code === '503') refused.set(String(sample.labels.function_name), (refused.get(String(sample.labels.function_name)) ?? 0) + sample.value);
  }
  const totals = new Map<string, { count: number; sum: number }>();
  for (const sample of durations) {
    const fn = String(sample.labels.function_name ?? '');
    const total = totals.get(fn) ?? { count: 0, sum: 0 };
    if (sample.metricName?.endsWith('_count')) total.count = sample.value;
    else if (sample.metricName?.endsWith('_sum')) total.sum = sample.value;
    else continue;
    totals.set(fn, total);
  }
  return [...totals]
    .map(([fn, t]) => ({ fn, count: t.count, refused: refused.get(fn) ?? 0, meanMs: t.count ? (t.sum / t.count) * 1000 : 0 }))
    .sort((a, b) => a.fn.localeCompare(b.fn));
}

/** The pages the storefront answered busy, by reason (every reason listed, zero or not). */
function refusalsByReason(refusals: Samples): Record<string, number> {
  const byReason: Record<string, number> = { busy: 0, upstream_429: 0, upstream_503: 0, deadline: 0 };
  for (const sample of refusals) byReason[String(sample.labels.reason)] = sample.value;
  return byReason;
}

/** A function's row on the page: its replicas and the bounds its labels give. */
function replicaRow(fn: FunctionSummary) {
  return { ...fn, ...replicaBounds(fn.labels ?? {}) };
}

/**
 * Wrong passwords per client address before the operator page answers 429 (with Retry-After)
 * for the rest of the window, without asking a function. An operator who mistypes needs a few
 * tries; a guesser needs millions, and gets `attempts` per window per address.
 */
export interface LoginThrottle {
  attempts: number;
  windowMs: number;
  /** Where the attempts are counted: by default this process, or the primary when it is one of several workers (workers.ts). */
  store?: Store;
}
export const LOGIN_THROTTLE: LoginThrottle = { attempts: 10, windowMs: 15 * 60_000 };

function loginThrottle(limits: LoginThrottle) {
  return rateLimit({
    store: limits.store ?? rateLimitStore('admin-login'),
    windowMs: limits.windowMs,
    limit: limits.attempts,
    // Only a request that offers credentials can be a guess; the browser's first, bare request is not.
    skip: (req) => !req.headers.authorization,
    // Only refused credentials count: an operator who signs in is not held back by a 503.
    skipSuccessfulRequests: true,
    requestWasSuccessful: (_req, res) => res.statusCode !== 401 && res.statusCode !== 403,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (_req, res) => res.status(429).render('error', { title: 'Too many attempts', message: `Too many wrong passwords from your address. Try again in ${res.get('Retry-After')} seconds.` }),
  });
}

/** How often the charts' page reloads itself (a meta refresh: no script, the CSP stays strict). */
export const HISTORY_REFRESH_SECONDS = 15;

export function mountAdmin(
  app: Express,
  deps: {
    shop: ShopClient;
    system?: SystemClient;
    /** The storefront's metrics, every worker's added up (workers.ts). */
    metrics: (names: string[]) => Promise<Registry>;
    /** Where the charts of /admin/functions come from (frontend/history.ts). */
    history?: HistorySource;
    flash: (req: Request, res: Response, text: string, kind?: 'success' | 'error') => void;
    loginThrottle?: LoginThrottle;
  },
): void {
  const { shop, system } = deps;
  // A throttle that cannot count (its store, in the primary, did not answer) is a 503, never a page let through or a 500.
  const throttle = loginThrottle(deps.loginThrottle ?? LOGIN_THROTTLE);
  app.use('/admin', (req, res, next) => throttle(req, res, (error?: unknown) => next(error === undefined ? undefined : unavailable('The operator page could not count sign-in attempts; try again.'))));

  const guarded = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) =>
    fn(req, res).catch((error: unknown) => {
      if (isShopError(error) && (error.status === 401 || error.status === 403)) return challenge(res);
      next(error);
    });

  app.get(
    '/admin',
    operator,
    guarded(async (req, res) => {
      // The admin call first: a wrong token stops here, before anything is shown.
      const orders = await shop.recentOrders(req.adminToken as string, res.locals.page);
      const products = await allProducts(shop, res.locals.page);
      // The storefront's own figures, or none when one of its workers did not give them in time (a rush): the rest of the page still shows.
      const metrics = await deps.metrics(OPERATOR_PAGE_METRICS).then((registry) => registry.getMetricsAsJSON(), () => undefined);
      const gauge = (name: string) => samplesOf(metrics ?? [], name)[0]?.value ?? 0;
      const calls = metrics && callsPerFunction(samplesOf(metrics, 'storefront_function_seconds'), samplesOf(metrics, 'storefront_function_calls_total'));
      const admission = metrics && { limit: gauge('storefront_concurrency_limit'), inflight: gauge('storefront_pages_in_flight'), refusals: refusalsByReason(samplesOf(metrics, 'storefront_refusals_total')) };
      // The replicas need the gateway's own credentials: without them (or if it is down) the page says so.
      const functions = system ? await system.functions().then((list) => list.map(replicaRow), () => null) : undefined;
      res.set('Cache-Control', 'no-store').render('admin', { title: 'Operator', products, orders: orders.items, calls, admission, functions, maxStock: Math.max(1, ...products.map((p) => p.stock)) });
    }),
  );

  app.get(
    '/admin/functions',
    operator,
    guarded(async (req, res) => {
      // The operator's token is checked by a function call: the charts are for the operator only.
      await shop.recentOrders(req.adminToken as string, res.locals.page);
      const view = await historyView(deps.history);
      res.set('Cache-Control', 'no-store').render('admin-functions', { title: 'Functions over time', ...view, chart: CHART, refreshSeconds: HISTORY_REFRESH_SECONDS });
    }),
  );

  app.post(
    '/admin/restock',
    operator,
    guarded(async (req, res) => {
      const form = RestockForm.safeParse(req.body);
      if (!form.success) return void res.status(400).render('error', { title: 'Sorry', message: 'Choose a product and a stock from 0 to 1000000.' });
      const product = await shop.restock(req.adminToken as string, { productId: form.data.productId, stock: Number(form.data.stock) }, res.locals.page);
      deps.flash(req, res, `${product.name}: stock set to ${product.stock}.`);
      res.redirect(303, '/admin');
    }),
  );

  app.post(
    '/admin/scale',
    operator,
    guarded(async (req, res) => {
      const form = ScaleForm.safeParse(req.body);
      if (!form.success || !system) return void res.status(400).render('error', { title: 'Sorry', message: 'Choose a function and from 1 to 5 replicas.' });
      // The operator's token is checked by a function call first: scaling needs the operator, not only the storefront's credentials.
      await shop.recentOrders(req.adminToken as string, res.locals.page);
      try {
        await system.scale(form.data.name, Number(form.data.replicas));
        deps.flash(req, res, `${form.data.name}: scaling to ${form.data.replicas} replicas (held to its bounds).`);
      } catch (error) {
        if (!isShopError(error) || error.status !== 409) throw error;
        deps.flash(req, res, `${form.data.name}: ${error.message}`, 'error');
      }
      res.redirect(303, '/admin');
    }),
  );

  app.post(
    '/admin/products',
    operator,
    guarded(async (req, res) => {
      const form = ProductForm.safeParse(req.body);
      const candidate = form.success
        ? Product.safeParse({
            id: form.data.id,
            name: form.data.name,
            description: form.data.description,
            priceCents: Math.round(Number(form.data.price) * 100),
            stock: Number(form.data.stock),
            image: form.data.image || `/images/${form.data.id}.svg`,
          })
        : undefined;
      if (!candidate?.success) {
        const fields = candidate ? [...new Set(candidate.error.issues.map((i) => String(i.path[0])))].join(', ') : 'the form';
        return void res.status(400).render('error', { title: 'Sorry', message: `Check ${fields}.` });
      }
      const product = await shop.restock(req.adminToken as string, { product: candidate.data }, res.locals.page);
      deps.flash(req, res, `${product.name} is in the catalog (${product.stock} in stock).`);
      res.redirect(303, '/admin');
    }),
  );
}
