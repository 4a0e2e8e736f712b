/**
 * The whole backend over HTTP, through the local gateway, the node20 template emulation and
 * the built bundles: what a storefront or an operator sees.
 */
import { newIdempotencyKey, newShopperId } from './support/fixtures';
import { startTestShop, type TestShop } from './support/shop';

let t: TestShop;
const customer = { name: 'Grace Hopper', email: 'grace@example.com', address: '1 Compiler Way, Arlington' };

beforeAll(async () => {
  t = await startTestShop();
});
afterAll(async () => {
  await t.stop();
});

const admin = () => ({ authorization: `Bearer ${t.shop.secrets['shop-admin-token']}` });
const product = async (id: string) => (await t.call('inventory-get', { query: { id } })).json;
const setStock = (productId: string, stock: number) => t.call('inventory-restock', { headers: admin(), body: { productId, stock } });
const addToCart = (shopperId: string, productId: string, quantity: number) => t.call('cart-add', { body: { shopperId, productId, quantity } });
const checkout = (shopperId: string, key = newIdempotencyKey()) =>
  t.call('order-create', { body: { shopperId, customer }, headers: { 'idempotency-key': key } });

describe('the shop through the gateway', () => {
  it('serves the seeded catalog', async () => {
    const res = await t.call('inventory-list', { query: { limit: '100' } });
    expect(res.status).toBe(200);
    expect(res.json.items).toHaveLength(12);
    expect(res.json.items[0]).toEqual(expect.objectContaining({ id: expect.any(String), priceCents: expect.any(Number), stock: expect.any(Number) }));
  });

  it('runs a whole purchase: cart, checkout at catalog prices, history, cancellation', async () => {
    const shopperId = newShopperId();
    const kettle = await product('gooseneck-kettle');
    const beans = await product('house-blend-beans-1kg');

    await addToCart(shopperId, kettle.id, 1);
    await addToCart(shopperId, beans.id, 2);
    const cart = await t.call('cart-get', { query: { shopperId } });
    expect(cart.json.totalCents).toBe(kettle.priceCents + 2 * beans.priceCents);

    const placed = await checkout(shopperId);
    expect(placed.status).toBe(201);
    expect(placed.json).toMatchObject({ status: 'confirmed', totalCents: kettle.priceCents + 2 * beans.priceCents });
    expect(placed.json.items).toEqual([
      { productId: kettle.id, name: kettle.name, priceCents: kettle.priceCents, quantity: 1 },
      { productId: beans.id, name: beans.name, priceCents: beans.priceCents, quantity: 2 },
    ]);
    expect((await product(kettle.id)).stock).toBe(kettle.stock - 1);
    expect((await product(beans.id)).stock).toBe(beans.stock - 2);
    expect((await t.call('cart-get', { query: { shopperId } })).json.items).toEqual([]);

    const history = await t.call('order-list', { query: { shopperId } });
    expect(history.json.items.map((o: { id: string }) => o.id)).toEqual([placed.json.id]);
    expect((await t.call('order-get', { query: { id: placed.json.id, shopperId } })).json.status).toBe('confirmed');

    const cancelled = await t.call('order-cancel', { body: { orderId: placed.json.id, shopperId } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.status).toBe('cancelled');
    expect((await product(kettle.id)).stock).toBe(kettle.stock);
    expect((await product(beans.id)).stock).toBe(beans.stock);
  });

  it('sells the last 10 units to exactly 10 of 100 shoppers checking out at once', async () => {
    await setStock('espresso-tamper', 10);
    const shoppers = Array.from({ length: 100 }, newShopperId);
    for (const s of shoppers) expect((await addToCart(s, 'espresso-tamper', 1)).status).toBe(200);
    const answers = await Promise.all(shoppers.map((s) => checkout(s)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(10);
    expect(statuses.filter((s) => s === 409)).toHaveLength(90);
    expect(answers.filter((a) => a.status === 409).every((a) => a.json.error.code === 'OUT_OF_STOCK')).toBe(true);
    expect((await product('espresso-tamper')).stock).toBe(0);
  });

  it('makes one order of five concurrent checkouts with one Idempotency-Key', async () => {
    await setStock('cold-brew-jar', 10);
    const shopperId = newShopperId();
    await addToCart(shopperId, 'cold-brew-jar', 3);
    const key = newIdempotencyKey();
    const answers = await Promise.all(Array.from({ length: 5 }, () => checkout(shopperId, key)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((a) => a.json.id)).size).toBe(1);
    expect((await product('cold-brew-jar')).stock).toBe(7);
    expect((await t.call('order-list', { query: { shopperId } })).json.items).toHaveLength(1);
  });

  it('keeps the internal and admin functions closed without their tokens', async () => {
    const reserve = await t.call('inventory-reserve', { body: { orderId: 'ord_AAAAAAAAAAAAAAAAAAAAAA', items: [{ productId: 'espresso-tamper', quantity: 1 }] } });
    const release = await t.call('inventory-release', { body: { orderId: 'ord_AAAAAAAAAAAAAAAAAAAAAA' } });
    const restock = await t.call('inventory-restock', {
      headers: { authorization: `Bearer ${t.shop.secrets['shop-internal-token']}` },
      body: { productId: 'espresso-tamper', stock: 1000 },
    });
    expect([reserve.status, release.status, restock.status]).toEqual([401, 401, 403]);
    expect((await product('espresso-tamper')).stock).toBe(0);
  });

  it('adds X-Call-Id and keeps the caller’s', async () => {
    const mine = await t.call('inventory-list', { headers: { 'x-call-id': 'trace-me-42' } });
    expect(mine.headers.get('x-call-id')).toBe('trace-me-42');
    const theirs = await t.call('inventory-list');
    expect(theirs.headers.get('x-call-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('lists its functions at /system/functions behind basic auth, as the real gateway does', async () => {
    const url = `${t.shop.url}/system/functions`;
    expect((await fetch(url)).status).toBe(401);
    const res = await fetch(url, { headers: { authorization: t.admin() } });
    const list = (await res.json()) as { name: string; image: string; replicas: number; invocationCount: number }[];
    expect(list).toHaveLength(15);
    expect(list.find((f) => f.name === 'inventory-list')).toMatchObject({ replicas: 1, image: expect.stringContaining('/shop-inventory-list:') });
    expect(list.find((f) => f.name === 'inventory-list')?.invocationCount).toBeGreaterThan(0);
    expect((await fetch(`${t.shop.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.shop.url}/function/no-such-function`)).status).toBe(404);
  });

  it('keeps carts and orders across a restart', async () => {
    const shopperId = newShopperId();
    await addToCart(shopperId, 'paper-filters-100', 1);
    const placed = await checkout(shopperId);
    await addToCart(shopperId, 'paper-filters-100', 4);
    await t.restart();
    expect((await t.call('cart-get', { query: { shopperId } })).json.items).toEqual([expect.objectContaining({ productId: 'paper-filters-100', quantity: 4 })]);
    expect((await t.call('order-get', { query: { id: placed.json.id, shopperId } })).json).toEqual(placed.json);
    // Seeding happens on the first start only: the stock sold before the restart stays sold.
    expect((await product('espresso-tamper')).stock).toBe(0);
  });
});
