/**
 * The storefront's routes and its gateway client, with nock standing in for the gateway:
 * good answers, refusals (409), outages (503), timeouts and malformed bodies.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createStorefront } from './app';
import { storefrontConfig } from './server';
import { CATALOG_TTL_MS, createShopClient } from './shop-client';
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

/** A browser-like visitor: keeps cookies, does not follow redirects. */
async function visitor() {
  const jar = new Map<string, string>();
  const send = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}${path}`, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
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
  return { send, post, csrf, first };
}

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

  it('retries reads, but never an add to cart', async () => {
    const reads = nock(GATEWAY).get('/function/cart-get').query(true).times(2).reply(503, 'busy').get('/function/cart-get').query(true).reply(200, emptyCart('s'.repeat(22)));
    expect((await client().getCart('s'.repeat(22))).items).toEqual([]);
    reads.done();
    const add = nock(GATEWAY).post('/function/cart-add').once().reply(503, 'busy');
    await expect(client().addToCart('s'.repeat(22), 'test-mug', 1)).rejects.toMatchObject({ status: 503 });
    add.done();
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
    const list = nock(GATEWAY).get('/function/inventory-list').query(true).times(3).reply(503, 'down');
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

describe('storefront configuration', () => {
  it('requires a cookie secret in production and makes one in development', () => {
    expect(() => storefrontConfig({ NODE_ENV: 'production' })).toThrow(/COOKIE_SECRET/);
    expect(storefrontConfig({}).cookieSecret.length).toBeGreaterThanOrEqual(32);
    expect(storefrontConfig({ COOKIE_SECRET: 'x'.repeat(32), STOREFRONT_PORT: '4000' })).toMatchObject({ port: 4000, host: '127.0.0.1', gatewayUrl: 'http://127.0.0.1:8080' });
  });
});
