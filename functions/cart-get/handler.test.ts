import handler = require('./handler');
import { newShopperId, product, testStore, useFunction } from '../../test/support/fixtures';

const fn = useFunction(handler);

describe('cart-get', () => {
  it('shows an empty cart to a new shopper', async () => {
    const shopperId = newShopperId();
    const res = await fn.call({ query: { shopperId } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ shopperId, items: [], totalCents: 0 });
  });

  it('prices lines at today’s catalog price', async () => {
    const store = await testStore();
    const shopperId = newShopperId();
    await store.putProduct(product({ priceCents: 1000 }));
    await store.replaceCart(shopperId, [{ productId: 'test-mug', quantity: 2 }], 0, new Date().toISOString());
    await store.putProduct(product({ priceCents: 1500 }));
    const res = await fn.call({ query: { shopperId } });
    expect(res.json.totalCents).toBe(3000);
  });

  it('answers 400 to a missing or malformed shopper id', async () => {
    expect((await fn.call()).status).toBe(400);
    expect((await fn.call({ query: { shopperId: 'x' } })).status).toBe(400);
    expect((await fetch(`${fn.url}?shopperId[$ne]=x`)).status).toBe(400);
  });
});
