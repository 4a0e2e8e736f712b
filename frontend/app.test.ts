/**
 * The storefront's routes and its gateway client, with nock standing in for the gateway:
 * good answers, refusals (409; 429 and 503 for load), outages, timeouts and malformed bodies,
 * and its bound on pages in flight.
 */
import http from 'node:http';
import type { ReplyFnContext, ReplyFnResult } from 'nock';
import type { AddressInfo } from 'node:net';
import { createStorefront, type StorefrontConfig } from './app';
import { storefrontConfig } from './server';
import { retryAfterSeconds } from '../core/duration';
import { CATALOG_TTL_MS, createShopClient, shopperRetryAfter } from './shop-client';
import { product } from '../test/support/fixtures';
import { useNock } from '../test/support/nock';

const GATEWAY = 'http://gateway.test:8080';
const SECRET = 'a-cookie-secret-for-unit-tests-only-0123456789';
let base: string;
let server: http.Server;
const nock = useNock();

beforeAll(async () => {
  server = http.createServer(createStorefront({ gatewayUrl: GATEWAY, cookieSecret: SECRET, gatewayTimeoutMs: 300, catalogCacheMs: 0 }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const emptyCart = (shopperId: string) => ({ shopperId, items: [], totalCents: 0 });

/** A browser-like visitor: keeps cookies, does not follow redirects; a path may name another storefront of the same secret. */
async function visitor(at = base) {
  const jar = new Map<string, string>();
  const send = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(path.startsWith('http') ? path : `${at}${path}`, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = (pair as string).split('=');
      if (v) jar.set(k as string, v);
      else jar.delete(k as string);
    }
    return { res, html: await res.text(), cookies: res.headers.getSetCookie() };
  };
  nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product()] });
  const first = await send('/');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(first.html)?.[1] as string;
  const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    send(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams({ _csrf: csrf, ...form }).toString() });
  return { send, post, csrf, first, jar };
}
const csrfCookies = (cookies: string[]) => cookies.filter((c) => c.startsWith('csrf='));
const tokensIn = (html: string) => [...html.matchAll(/name="_csrf" value="([^"]*)"/g)].map((m) => m[1]);

describe('shop client', () => {
  const client = () => createShopClient({ gatewayUrl: GATEWAY, timeoutMs: 200 });

  it('returns answers validated by the functions’ schemas', async () => {
    nock(GATEWAY).get('/function/inventory-get').query({ id: 'test-mug' }).reply(200, product());
    expect(await client().getProduct('test-mug')).toEqual(product());
  });

  it('treats a malformed answer as an outage, never as data', async () => {
    nock(GATEWAY).get('/function/inventory-get').query(true).reply(200, { ...product(), priceCents: '12.50' });
    await expect(client().getProduct('test-mug')).rejects.toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
  });

  it('passes on refusals the shopper must see', async () => {
    const details = [{ productId: 'test-mug', requested: 2, available: 0 }];
    nock(GATEWAY).post('/function/cart-add').reply(409, { error: { code: 'OUT_OF_STOCK', message: 'sold out', details } });
    await expect(client().addToCart('s'.repeat(22), 'test-mug', 2)).rejects.toMatchObject({ status: 409, code: 'OUT_OF_STOCK', details });
  });

  it('retries reads after a failure, but never an add to cart', async () => {
    const reads = nock(GATEWAY).get('/function/cart-get').query(true).reply(502, 'gone').get('/function/cart-get').query(true).replyWithError({ code: 'ECONNRESET' }).get('/function/cart-get').query(true).reply(200, emptyCart('s'.repeat(22)));
    expect((await client().getCart('s'.repeat(22))).items).toEqual([]);
    reads.done();
    const add = nock(GATEWAY).post('/function/cart-add').once().reply(502, 'gone');
    await expect(client().addToCart('s'.repeat(22), 'test-mug', 1)).rejects.toMatchObject({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
    add.done();
  });

  it('never retries a refusal (429, 503): it comes back at once as BUSY with its Retry-After, held to 1-30 s', async () => {
    const reads = nock(GATEWAY)
      .get('/function/cart-get').query(true).reply(429, 'busy', { 'retry-after': '7' })
      .get('/function/cart-get').query(true).reply(503, { error: { code: 'DEPENDENCY_UNAVAILABLE', message: 'db busy' } }, { 'retry-after': '3600' })
      .get('/function/cart-get').query(true).reply(503, 'No endpoints available');
    await expect(client().getCart('s'.repeat(22))).rejects.toMatchObject({ status: 503, code: 'BUSY', details: { reason: 'upstream_429', retryAfterS: 7, function: 'cart-get' } });
    await expect(client().getCart('s'.repeat(22))).rejects.toMatchObject({ code: 'BUSY', details: { reason: 'upstream_503', retryAfterS: 30 } });
    await expect(client().getCart('s'.repeat(22))).rejects.toMatchObject({ code: 'BUSY', details: { reason: 'upstream_503', retryAfterS: 2 } });
    reads.done();
  });

  it('reads Retry-After in seconds or as a date, and holds it to 1-30 s', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(shopperRetryAfter(retryAfterSeconds('12', now))).toBe(12);
    expect(shopperRetryAfter(retryAfterSeconds('0', now))).toBe(1);
    expect(shopperRetryAfter(retryAfterSeconds('Thu, 01 Jan 2026 00:00:05 GMT', now))).toBe(5);
    expect(shopperRetryAfter(retryAfterSeconds('Thu, 01 Jan 2026 01:00:00 GMT', now))).toBe(30);
    expect(shopperRetryAfter(retryAfterSeconds(undefined, now))).toBe(2);
    expect(shopperRetryAfter(retryAfterSeconds('soon', now))).toBe(2);
  });

  it('sends the Idempotency-Key with an order and gives up after timeouts', async () => {
    nock(GATEWAY, { reqheaders: { 'idempotency-key': 'k'.repeat(20) } }).post('/function/order-create').times(3).delay(500).reply(201, {});
    await expect(client().placeOrder('s'.repeat(22), { name: 'A', email: 'a@b.co', address: 'x' }, 'k'.repeat(20))).rejects.toMatchObject({ status: 503 });
  });
});

describe('storefront routes', () => {
  it('gives a new visitor a signed HttpOnly SameSite=Lax shopper cookie and lists products', async () => {
    const { first } = await visitor();
    expect(first.res.status).toBe(200);
    expect(first.cookies.find((c) => c.startsWith('shopper='))).toMatch(/HttpOnly/);
    expect(first.cookies.find((c) => c.startsWith('shopper='))).toMatch(/SameSite=Lax/);
    expect(first.html).toContain('Test Mug');
    expect(first.res.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('marks the cookie Secure when nginx says the request came over HTTPS', async () => {
    nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [] });
    const res = await fetch(`${base}/`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.headers.getSetCookie().find((c) => c.startsWith('shopper='))).toMatch(/Secure/);
  });

  it('keeps the shopper of a cookie signed before cookie-parser, and signs it again the new way', async () => {
    // `id.` + HMAC-SHA256(SECRET, id) in base64url: what the storefront set until it used cookie-parser.
    const legacy = 'LegacyShopper_0123-abc.wO4KIsXvCaZgSWKNnUtbdk4N3bpnEGo4mLY2MWqncD0';
    const cart = nock(GATEWAY).get('/function/cart-get').query({ shopperId: 'LegacyShopper_0123-abc' }).reply(200, emptyCart('LegacyShopper_0123-abc'));
    const res = await fetch(`${base}/cart`, { headers: { cookie: `shopper=${legacy}` } });
    expect(res.status).toBe(200);
    cart.done();
    expect(res.headers.getSetCookie().find((c) => c.startsWith('shopper='))).toMatch(/^shopper=s%3ALegacyShopper_0123-abc\.[^;]+; Max-Age=\d+;.*HttpOnly/);
    // A forged one (another id under that signature) is a new visitor.
    const forged = nock(GATEWAY).get('/function/cart-get').query((q) => q.shopperId !== 'LegacyShopper_0123-abd').reply(200, emptyCart('x'.repeat(22)));
    expect((await fetch(`${base}/cart`, { headers: { cookie: `shopper=${legacy.replace('abc.', 'abd.')}` } })).status).toBe(200);
    forged.done();
  });

  it('refuses a POST without the session’s CSRF token, touching nothing', async () => {
    const v = await visitor();
    const add = nock(GATEWAY).post('/function/cart-add').reply(200, {});
    const res = await v.send('/cart/add', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'productId=test-mug&quantity=1&_csrf=forged' });
    expect(res.res.status).toBe(403);
    expect(add.isDone()).toBe(false);
  });

  it('sets the form token’s cookie once, keeps the token while it is the shopper’s, and replaces one that is not', async () => {
    const [a, b] = [await visitor(), await visitor()];
    expect(csrfCookies(a.first.cookies)).toHaveLength(1);
    nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product()] });
    const again = await a.send('/');
    expect(csrfCookies(again.cookies)).toEqual([]);
    expect(tokensIn(again.html)).toEqual([a.csrf]);
    // Another shopper's token (valid, but bound to them) and a forged one are replaced, and the new token is accepted.
    for (const planted of [b.jar.get('csrf') as string, 'x'.repeat(64)]) {
      a.jar.set('csrf', planted);
      nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product()] });
      const page = await a.send('/');
      expect(csrfCookies(page.cookies)).toHaveLength(1);
      const [token] = tokensIn(page.html) as [string];
      expect([token, page.cookies.join()]).not.toContain(planted);
      nock(GATEWAY).post('/function/cart-add').reply(200, emptyCart('x'.repeat(22)));
      expect((await a.post('/cart/add', { productId: 'test-mug', quantity: '1', _csrf: token })).res.status).toBe(303);
    }
  });

  it('shows a search for a slot’s own text as text: the page takes the shopper’s token in its forms only', async () => {
    const v = await visitor();
    nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product()] });
    const page = await v.send(`/?q=${encodeURIComponent('<csrf-token>')}`);
    expect(page.res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.html).toContain('Results for “&lt;csrf-token&gt;”');
    expect(page.html).toContain('value="&lt;csrf-token&gt;"');
    expect(page.html.split(v.csrf)).toHaveLength(2);
    expect(tokensIn(page.html)).toEqual([v.csrf]);
  });

  it('names the sold-out product after a refused add', async () => {
    const v = await visitor();
    nock(GATEWAY).post('/function/cart-add').reply(409, { error: { code: 'OUT_OF_STOCK', message: 'x', details: [{ productId: 'test-mug', requested: 1, available: 0 }] } });
    nock(GATEWAY).get('/function/inventory-get').query({ id: 'test-mug' }).reply(200, product());
    const added = await v.post('/cart/add', { productId: 'test-mug', quantity: '1' }, { referer: `${base}/products/test-mug` });
    expect(added.res.status).toBe(303);
    expect(added.res.headers.get('location')).toBe('/products/test-mug');
    nock(GATEWAY).get('/function/inventory-get').query(true).reply(200, product());
    const next = await v.send('/products/test-mug');
    expect(next.html).toContain('Sorry, Test Mug is sold out.');
  });

  it('shows the cart count it last saw without asking the backend on every page', async () => {
    const v = await visitor();
    nock(GATEWAY).post('/function/cart-add').reply(200, { shopperId: 'x'.repeat(22), items: [{ productId: 'test-mug', name: 'Test Mug', priceCents: 1250, quantity: 3 }], totalCents: 3750 });
    await v.post('/cart/add', { productId: 'test-mug', quantity: '3' });
    const cartGet = nock(GATEWAY).get('/function/cart-get').query(true).reply(200, emptyCart('x'.repeat(22)));
    nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product()] });
    const page = await v.send('/');
    expect(page.html).toContain('aria-label="3 items in cart">3<');
    expect(cartGet.isDone()).toBe(false);
  });

  it('never sends a price or another shopper’s id to the backend', async () => {
    const v = await visitor();
    let sent: unknown;
    const add = nock(GATEWAY).post('/function/cart-add', (body) => ((sent = body), true)).reply(200, emptyCart('x'.repeat(22)));
    // A form carrying a price or a shopper id is forged: refused, nothing sent.
    const forged = await v.post('/cart/add', { productId: 'test-mug', quantity: '2', priceCents: '1', shopperId: 'attacker-chosen-id-123456' });
    expect(forged.res.status).toBe(400);
    expect(add.isDone()).toBe(false);
    await v.post('/cart/add', { productId: 'test-mug', quantity: '2' });
    expect(sent).toEqual({ shopperId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), productId: 'test-mug', quantity: 2 });
  });

  it('keeps the checkout input and shows errors next to the fields', async () => {
    const v = await visitor();
    nock(GATEWAY).get('/function/cart-get').query(true).reply(200, { shopperId: 'x'.repeat(22), items: [{ productId: 'test-mug', name: 'Test Mug', priceCents: 1250, quantity: 1 }], totalCents: 1250 });
    const res = await v.post('/checkout', { name: 'Ada <b>', email: 'nope', address: '', idempotencyKey: 'k'.repeat(20) });
    expect(res.res.status).toBe(400);
    expect(res.html).toContain('value="Ada &lt;b&gt;"');
    expect(res.html).toContain('id="email-error">Enter a valid email address.');
    expect(res.html).toContain('id="address-error">Enter the delivery address.');
    expect(res.html).toContain(`name="idempotencyKey" value="${'k'.repeat(20)}"`);
  });

  it('places the order with the form’s Idempotency-Key and shows the confirmation', async () => {
    const v = await visitor();
    const key = 'abcdefghijklmnop1234';
    const orderId = 'ord_AAAAAAAAAAAAAAAAAAAAAA';
    nock(GATEWAY, { reqheaders: { 'idempotency-key': key } }).post('/function/order-create').reply(201, {
      id: orderId, shopperId: 'x'.repeat(22), status: 'confirmed', customer: { name: 'Ada', email: 'ada@example.com', address: '1 Loop' },
      requested: [], items: [], totalCents: 0, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
    });
    const res = await v.post('/checkout', { name: 'Ada', email: 'ada@example.com', address: '1 Loop', idempotencyKey: key });
    expect(res.res.status).toBe(303);
    expect(res.res.headers.get('location')).toBe(`/orders/${orderId}`);
  });

  it('shows the 503 page when the backend is down, after retrying the read', async () => {
    const list = nock(GATEWAY).get('/function/inventory-list').query(true).times(3).reply(502, 'down');
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.text()).toContain('The shop is taking a short break');
    list.done();
  });

  it('shows the 503 page when the backend answers nonsense', async () => {
    nock(GATEWAY).get('/function/inventory-get').query(true).reply(200, '<html>not json</html>');
    const res = await fetch(`${base}/products/test-mug`);
    expect(res.status).toBe(503);
  });

  it('answers 404 pages for unknown paths and malformed ids without calling the backend', async () => {
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    expect((await fetch(`${base}/products/..%2F..%2Fetc`)).status).toBe(404);
    expect((await fetch(`${base}/orders/not-an-order`)).status).toBe(404);
  });

  it('serves a healthz, the stylesheet and placeholder pictures from the app itself', async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${base}/static/style.css`)).headers.get('content-type')).toMatch(/text\/css/);
    const svg = await fetch(`${base}/images/gooseneck-kettle.svg`);
    expect(svg.headers.get('content-type')).toMatch(/image\/svg\+xml/);
    expect(await svg.text()).toContain('>GK<');
  });
});

describe('the operator page’s replicas', () => {
  const token = 'an-admin-token-for-the-operator';
  const gatewayAuth = `Basic ${Buffer.from('admin:gateway-password').toString('base64')}`;
  let operatorBase: string;
  let operatorServer: http.Server;
  beforeAll(async () => {
    operatorServer = http.createServer(createStorefront({ gatewayUrl: GATEWAY, cookieSecret: SECRET, gatewayTimeoutMs: 300, catalogCacheMs: 0, gatewayCredentials: { user: 'admin', password: 'gateway-password' } }));
    await new Promise<void>((resolve) => operatorServer.listen(0, '127.0.0.1', resolve));
    operatorBase = `http://127.0.0.1:${(operatorServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    operatorServer.closeAllConnections();
    await new Promise((resolve) => operatorServer.close(resolve));
  });
  const asOperator = { authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` };
  const recentOrders = () => nock(GATEWAY, { reqheaders: { authorization: `Bearer ${token}` } }).get('/function/order-recent').reply(200, { items: [] });
  async function operatorForm() {
    recentOrders();
    nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product()] });
    const functions = nock(GATEWAY, { reqheaders: { authorization: gatewayAuth } })
      .get('/system/functions')
      .reply(200, [{ name: 'cart-get', replicas: 2, availableReplicas: 1, labels: { 'com.openfaas.scale.max': '5' } }, { name: 'order-recent', labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '1' } }]);
    const page = await fetch(`${operatorBase}/admin`, { headers: asOperator });
    const html = await page.text();
    functions.done();
    const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] as string;
    const post = (form: Record<string, string>) =>
      fetch(`${operatorBase}/admin/scale`, { method: 'POST', redirect: 'manual', headers: { ...asOperator, cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, ...form }).toString() });
    return { html, post };
  }

  it('lists each function’s replicas from the gateway, with its bounds, and a scale form only where they differ', async () => {
    const { html } = await operatorForm();
    expect(html).toMatch(/cart-get<\/th>\s*<td><span class="available">1<\/span> of <span class="desired">2<\/span> ready/);
    expect(html).toContain('id="scale-cart-get"');
    expect(html).not.toContain('id="scale-order-recent"');
  });

  it('scales through the gateway with its credentials, after checking the operator’s token', async () => {
    const { post } = await operatorForm();
    recentOrders();
    const scaled = nock(GATEWAY, { reqheaders: { authorization: gatewayAuth } }).post('/system/scale-function/cart-get', { serviceName: 'cart-get', replicas: 3 }).reply(202);
    const res = await post({ name: 'cart-get', replicas: '3' });
    expect(res.status).toBe(303);
    scaled.done();
    expect((await post({ name: 'cart-get', replicas: '9' })).status).toBe(400);
    expect((await post({ name: '../system', replicas: '2' })).status).toBe(400);
  });

  it('shows the pages the storefront refused, by reason, and each function’s refusals beside its calls', async () => {
    nock(GATEWAY).get('/function/inventory-get').query(true).reply(429, 'busy', { 'retry-after': '3' });
    expect((await fetch(`${operatorBase}/products/test-mug`)).status).toBe(503);
    const { html } = await operatorForm();
    expect(html).toMatch(/inventory-get<\/th><td data-label="Calls">1<\/td><td data-label="Refused" class="refused">1</);
    expect(html).toContain('class="upstream_429">1<');
    expect(html).toContain('class="busy">0<');
    // The refusal upstream was a sign of overload: the bound came down by a tenth.
    expect(html).toMatch(/of at most <span class="limit">45<\/span> at once/);
  });
});

describe('the operator page’s login throttle', () => {
  it('answers 503 with Retry-After when it cannot count an attempt, and calls no function', async () => {
    // A store that fails as the primary's does when it does not answer (several workers, workers.ts).
    const failing = { increment: () => Promise.reject(new Error('no answer from the primary')), decrement: async () => {}, resetKey: async () => {} };
    const own = await serve({ loginThrottle: { attempts: 10, windowMs: 60_000, store: failing } });
    const checked = nock(GATEWAY).get('/function/order-recent').reply(200, { items: [] });
    try {
      const res = await fetch(`${own.url}/admin`, { headers: { authorization: `Basic ${Buffer.from('admin:a-guess').toString('base64')}` } });
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      // Not let through: the guess was never tried against the operator's token.
      expect(checked.isDone()).toBe(false);
      nock.cleanAll();
    } finally {
      await own.close();
    }
  });
});

/** A storefront of its own (its own bound, budget and metrics) in front of the stubbed gateway. */
async function serve(config: Partial<StorefrontConfig>) {
  const own = http.createServer(createStorefront({ gatewayUrl: GATEWAY, cookieSecret: SECRET, catalogCacheMs: 0, ...config }));
  await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(own.address() as AddressInfo).port}`;
  return {
    url,
    refusals: async (reason: string) => Number(new RegExp(`^storefront_refusals_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0),
    close: async () => {
      own.closeAllConnections();
      await new Promise((resolve) => own.close(resolve));
    },
  };
}

/** Gateway answers held until `release()`; `arrived(n)` resolves once n calls reached them. */
function held(answer: () => ReplyFnResult) {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const waiting: { n: number; resolve: () => void }[] = [];
  let arrivals = 0;
  return {
    reply: async (): Promise<ReplyFnResult> => {
      arrivals++;
      for (const w of waiting.filter((w) => arrivals >= w.n)) w.resolve();
      await released;
      return answer();
    },
    calls: () => arrivals,
    arrived: (n: number) => new Promise<void>((resolve) => (arrivals >= n ? resolve() : waiting.push({ n, resolve }))),
    release: () => release(),
  };
}

const orderFor = (id: string, customer: object) => ({
  id, shopperId: 'x'.repeat(22), status: 'confirmed', customer, requested: [], items: [], totalCents: 0, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
});
const field = (html: string, name: string) => new RegExp(`name="${name}"[^>]* value="([^"]*)"`).exec(html)?.[1];

describe('a rush: a bound on pages in flight, each page’s budget, refusals passed on', () => {
  it('refuses the page beyond its bound at once, calling nothing, while the pages in flight are still held', async () => {
    const shop = await serve({ concurrency: { initial: 2, min: 2, max: 2 }, pageBudgetMs: 600_000, gatewayTimeoutMs: 600_000 });
    try {
      const gateway = held(() => [200, product()]);
      nock(GATEWAY).get('/function/inventory-get').query(true).times(2).reply(gateway.reply);
      const inFlight = [fetch(`${shop.url}/products/test-mug`), fetch(`${shop.url}/products/test-mug`)];
      await gateway.arrived(2);
      const cart = nock(GATEWAY).get('/function/cart-get').query(true).reply(200, emptyCart('x'.repeat(22)));
      const refused = await fetch(`${shop.url}/cart`);
      // Answered while both pages are still held by the gateway.
      expect(refused.status).toBe(503);
      expect(await refused.text()).toContain('your cart is kept');
      // Told to come back in 1 to 3 s, drawn at random: shoppers refused together do not all come back together.
      const retryAfters = [refused.headers.get('retry-after')];
      for (let i = 0; i < 19; i++) retryAfters.push((await fetch(`${shop.url}/cart`)).headers.get('retry-after'));
      expect(retryAfters.every((s) => s !== null && ['1', '2', '3'].includes(s))).toBe(true);
      expect(new Set(retryAfters).size).toBeGreaterThan(1);
      expect(cart.isDone()).toBe(false);
      expect((await fetch(`${shop.url}/healthz`)).status).toBe(200);
      gateway.release();
      expect((await Promise.all(inFlight)).map((r) => r.status)).toEqual([200, 200]);
      expect(await shop.refusals('busy')).toBe(20);
      // The permits came back: the next page is served.
      expect((await fetch(`${shop.url}/cart`)).status).toBe(200);
      cart.done();
    } finally {
      await shop.close();
    }
  });

  it('ends a call at the page’s budget, however long an attempt may take, and says busy', async () => {
    const shop = await serve({ pageBudgetMs: 1_000, gatewayTimeoutMs: 3_600_000 });
    const gateway = held(() => [200, product()]);
    try {
      nock(GATEWAY).get('/function/inventory-get').query(true).times(3).reply(gateway.reply);
      const res = await fetch(`${shop.url}/products/test-mug`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      // One attempt: it took the whole budget, and nothing was left for another.
      expect(gateway.calls()).toBe(1);
      expect(await shop.refusals('deadline')).toBe(1);
    } finally {
      gateway.release();
      await shop.close();
    }
  });

  it('passes a refusal from upstream to the shopper at once: 503, the refusal’s Retry-After, the cart untouched', async () => {
    const shop = await serve({});
    try {
      const v = await visitor(shop.url);
      const add = nock(GATEWAY).post('/function/cart-add').once().reply(429, 'busy', { 'retry-after': '7' });
      const refused = await v.post('/cart/add', { productId: 'test-mug', quantity: '1' });
      expect([refused.res.status, refused.res.headers.get('retry-after')]).toEqual([503, '7']);
      expect(refused.html).toContain('try again in 7 seconds');
      expect(refused.cookies.filter((c) => c.startsWith('cart='))).toEqual([]);
      add.done();
      nock(GATEWAY).get('/function/inventory-get').query(true).reply(503, 'No endpoints available for: inventory-get.');
      const page = await v.send('/products/test-mug');
      expect([page.res.status, page.res.headers.get('retry-after')]).toEqual([503, '2']);
      expect(page.html).toContain('href="/products/test-mug">Try again');
      expect([await shop.refusals('upstream_429'), await shop.refusals('upstream_503')]).toEqual([1, 1]);
    } finally {
      await shop.close();
    }
  });

  it('gives a refused checkout its form back, with the shopper’s input and the same key; sent again, it is one order', async () => {
    // Two storefronts of one secret (the shopper's cookies hold on both): the second gives its
    // pages a short budget, so that a held answer ends there and nowhere else.
    const [shop, hurried] = [await serve({}), await serve({ pageBudgetMs: 500 })];
    // order-create as the function keeps it: one order per Idempotency-Key. The first attempt is
    // refused by the gateway (nothing runs); the second places the order but answers after the
    // page's budget; the third, sent from the form the shop gave back, finds it.
    const orders = new Map<string, object>();
    const slow = held(() => [201, [...orders.values()][0] as object]);
    let attempts = 0;
    nock(GATEWAY)
      .post('/function/order-create')
      .times(3)
      .reply(async function (this: ReplyFnContext, _path, body): Promise<ReplyFnResult> {
        const key = String(this.req.headers['idempotency-key']);
        attempts++;
        if (attempts === 1) return [429, 'busy', { 'retry-after': '1' }];
        if (!orders.has(key)) orders.set(key, orderFor(`ord_${'A'.repeat(22)}`, (body as { customer: object }).customer));
        return attempts === 2 ? slow.reply() : [201, orders.get(key) as object];
      });
    try {
      const v = await visitor(shop.url);
      const customer = { name: 'Ada <b>', email: 'ada@example.com', address: '1 Loop' };
      const first = await v.post('/checkout', { ...customer, idempotencyKey: 'k'.repeat(20) });
      expect([first.res.status, first.res.headers.get('retry-after')]).toEqual([503, '1']);
      expect(first.html).toContain('your order is not placed yet');
      expect([field(first.html, 'name'), field(first.html, 'email'), field(first.html, 'idempotencyKey')]).toEqual(['Ada &lt;b&gt;', 'ada@example.com', 'k'.repeat(20)]);
      const second = await v.post(`${hurried.url}/checkout`, { ...customer, idempotencyKey: field(first.html, 'idempotencyKey') as string });
      expect(second.res.status).toBe(503);
      expect(field(second.html, 'idempotencyKey')).toBe('k'.repeat(20));
      const third = await v.post('/checkout', { ...customer, idempotencyKey: field(second.html, 'idempotencyKey') as string });
      expect([third.res.status, third.res.headers.get('location')]).toEqual([303, `/orders/ord_${'A'.repeat(22)}`]);
      expect(orders.size).toBe(1);
      expect([await shop.refusals('upstream_429'), await hurried.refusals('deadline')]).toEqual([1, 1]);
    } finally {
      slow.release();
      await Promise.all([shop.close(), hurried.close()]);
    }
  });

  it('gives a new key with the form when the refused checkout failed its order (that key answers the failure from then on)', async () => {
    const v = await visitor();
    nock(GATEWAY).post('/function/order-create').reply(503, { error: { code: 'DEPENDENCY_UNAVAILABLE', message: 'inventory busy', details: { orderId: `ord_${'B'.repeat(22)}` } } });
    const res = await v.post('/checkout', { name: 'Ada', email: 'ada@example.com', address: '1 Loop', idempotencyKey: 'k'.repeat(20) });
    expect(res.res.status).toBe(503);
    expect(res.html).toContain('nothing was charged');
    expect(field(res.html, 'name')).toBe('Ada');
    expect(field(res.html, 'idempotencyKey')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('catalog cache', () => {
  it('reuses a catalog page for a second, then asks again', async () => {
    let clock = 1_000_000;
    const client = createShopClient({ gatewayUrl: GATEWAY, now: () => clock });
    const list = nock(GATEWAY).get('/function/inventory-list').query(true).times(2).reply(200, { items: [product()] });
    await client.listProducts({});
    clock += CATALOG_TTL_MS - 1;
    await client.listProducts({});
    expect(list.pendingMocks()).toHaveLength(1);
    clock += 1;
    await client.listProducts({});
    list.done();
  });
});

describe('catalog page: the page shared by every shopper', () => {
  // A storefront that reuses its catalog pages (the shared server above asks every time).
  const TTL_MS = 500;
  let at: string;
  let cached: http.Server;
  beforeAll(async () => {
    cached = http.createServer(createStorefront({ gatewayUrl: GATEWAY, cookieSecret: SECRET, gatewayTimeoutMs: 300, catalogCacheMs: TTL_MS }));
    await new Promise<void>((resolve) => cached.listen(0, '127.0.0.1', resolve));
    at = `http://127.0.0.1:${(cached.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    cached.closeAllConnections();
    await new Promise((resolve) => cached.close(resolve));
  });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const cartCountIn = (html: string) => /aria-label="(\d+) items in cart"/.exec(html)?.[1];

  it('gives each shopper their own CSRF token and cart count on the same page of products', async () => {
    await sleep(TTL_MS);
    const items = [product(), product({ id: 'test-pot', name: 'Test Pot', image: '/images/test-pot.svg' })];
    const list = nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items });
    const a = await visitor(at);
    nock(GATEWAY).post('/function/cart-add').reply(200, { shopperId: 'x'.repeat(22), items: [{ productId: 'test-mug', name: 'Test Mug', priceCents: 1250, quantity: 2 }], totalCents: 2500 });
    await a.post('/cart/add', { productId: 'test-mug', quantity: '2' });
    const b = await visitor(at);
    const [pageA, pageB] = [await a.send('/'), await b.send('/')];
    list.done();
    expect(a.csrf).not.toBe(b.csrf);
    expect(tokensIn(pageA.html)).toEqual([a.csrf, a.csrf]);
    expect(tokensIn(pageB.html)).toEqual([b.csrf, b.csrf]);
    expect([cartCountIn(pageA.html), cartCountIn(pageB.html)]).toEqual(['2', '0']);
    // Each page's token is its shopper's: B's form is accepted from B.
    nock(GATEWAY).post('/function/cart-add').reply(200, emptyCart('x'.repeat(22)));
    expect((await b.post('/cart/add', { productId: 'test-pot', quantity: '1' })).res.status).toBe(303);
  });

  it('shows a flash message on its shopper’s next page only, never on the page another shopper gets', async () => {
    await sleep(TTL_MS);
    const list = nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product()] });
    const [a, b] = [await visitor(at), await visitor(at)];
    nock(GATEWAY).post('/function/cart-add').reply(200, { shopperId: 'x'.repeat(22), items: [{ productId: 'test-mug', name: 'Test Mug', priceCents: 1250, quantity: 1 }], totalCents: 1250 });
    await a.post('/cart/add', { productId: 'test-mug', quantity: '1' });
    const [flashed, other, next] = [await a.send('/'), await b.send('/'), await a.send('/')];
    list.done();
    expect(flashed.html).toContain('Added 1 × Test Mug to your cart.');
    expect(other.html).not.toContain('Added 1');
    expect(next.html).not.toContain('Added 1');
    expect([cartCountIn(flashed.html), cartCountIn(other.html), cartCountIn(next.html)]).toEqual(['1', '0', '1']);
  });

  it('shows a new price once the catalog page has outlived its cache, never before', async () => {
    await sleep(TTL_MS);
    const v = await visitor(at);
    expect(v.first.html).toContain('€12.50');
    nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product({ priceCents: 990 })] });
    expect((await v.send('/')).html).toContain('€12.50');
    await sleep(TTL_MS);
    const later = await v.send('/');
    expect(later.html).toContain('€9.90');
    expect(later.html).not.toContain('€12.50');
  });

  it('sets no CSRF cookie on a page without a form (every product sold out)', async () => {
    await sleep(TTL_MS);
    nock(GATEWAY).get('/function/inventory-list').query(true).reply(200, { items: [product({ stock: 0 })] });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${at}/`);
      expect(await res.text()).toContain('Sold out');
      expect(res.headers.getSetCookie().filter((c) => c.startsWith('csrf='))).toEqual([]);
    }
  });
});

describe('storefront configuration', () => {
  it('requires a cookie secret in production and makes one in development', () => {
    expect(() => storefrontConfig({ NODE_ENV: 'production' })).toThrow(/COOKIE_SECRET/);
    expect(storefrontConfig({}).cookieSecret.length).toBeGreaterThanOrEqual(32);
    expect(storefrontConfig({ COOKIE_SECRET: 'x'.repeat(32), STOREFRONT_PORT: '4000' })).toMatchObject({ port: 4000, host: '127.0.0.1', gatewayUrl: 'http://127.0.0.1:8080', concurrency: {} });
  });

  it('reads the page budget and the bound on pages in flight, and refuses values that are not whole numbers above 0', () => {
    const env = { COOKIE_SECRET: 'x'.repeat(32), STOREFRONT_PAGE_BUDGET_MS: '3000', STOREFRONT_MIN_INFLIGHT: '5', STOREFRONT_MAX_INFLIGHT: '30', STOREFRONT_SLOW_MS: '800' };
    expect(storefrontConfig(env)).toMatchObject({ pageBudgetMs: 3000, concurrency: { min: 5, max: 30, initial: 30, slowMs: 800 } });
    expect(() => storefrontConfig({ ...env, STOREFRONT_MAX_INFLIGHT: '0' })).toThrow(/STOREFRONT_MAX_INFLIGHT/);
    expect(() => storefrontConfig({ ...env, STOREFRONT_PAGE_BUDGET_MS: '2s' })).toThrow(/STOREFRONT_PAGE_BUDGET_MS/);
  });
});
