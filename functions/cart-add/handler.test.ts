import handler = require('./handler');
import { newShopperId, product, testStore, useFunction } from '../../test/support/fixtures';

const fn = useFunction(handler);

beforeAll(async () => {
  const store = await testStore();
  await store.putProduct(product({ stock: 5 }));
  await store.putProduct(product({ id: 'sold-out', name: 'Sold Out', stock: 0 }));
});

describe('cart-add', () => {
  it('adds a line priced from the catalog and merges repeated adds', async () => {
    const shopperId = newShopperId();
    await fn.call({ body: { shopperId, productId: 'test-mug', quantity: 1 } });
    const res = await fn.call({ body: { shopperId, productId: 'test-mug', quantity: 2 } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ shopperId, items: [{ productId: 'test-mug', name: 'Test Mug', priceCents: 1250, quantity: 3 }], totalCents: 3750 });
  });

  it('keeps every one of many concurrent adds', async () => {
    const shopperId = newShopperId();
    await Promise.all(Array.from({ length: 5 }, () => fn.call({ body: { shopperId, productId: 'test-mug', quantity: 1 } })));
    expect((await (await testStore()).getCart(shopperId)).lines).toEqual([{ productId: 'test-mug', quantity: 5 }]);
  });

  it('answers 404 for an unknown product and 409 beyond the stock', async () => {
    const shopperId = newShopperId();
    expect((await fn.call({ body: { shopperId, productId: 'ghost', quantity: 1 } })).status).toBe(404);
    const soldOut = await fn.call({ body: { shopperId, productId: 'sold-out', quantity: 1 } });
    expect(soldOut.status).toBe(409);
    expect(soldOut.json.error).toMatchObject({ code: 'OUT_OF_STOCK', details: [{ productId: 'sold-out', requested: 1, available: 0 }] });
    expect((await (await testStore()).getCart(shopperId)).lines).toEqual([]);
  });

  it.each([
    ['a negative quantity', { quantity: -1 }],
    ['a zero quantity', { quantity: 0 }],
    ['a fractional quantity', { quantity: 1.5 }],
    ['a huge quantity', { quantity: 1e9 }],
    ['a quantity as text', { quantity: '2' }],
    ['a short shopper id', { shopperId: 'demo_user' }],
    ['an operator as shopper id', { shopperId: { $gt: '' } }],
    ['a price', { priceCents: 1 }],
  ])('answers 400 to %s and changes nothing', async (_name, override) => {
    const shopperId = newShopperId();
    const res = await fn.call({ body: { shopperId, productId: 'test-mug', quantity: 1, ...override } });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('INVALID_INPUT');
    expect((await (await testStore()).getCart(shopperId)).lines).toEqual([]);
  });

  it('answers 400 to a __proto__ key', async () => {
    const shopperId = newShopperId();
    const res = await fn.call({ body: `{"shopperId":"${shopperId}","productId":"test-mug","quantity":1,"__proto__":{"admin":true}}`, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
  });

  it('answers 415 to a body that is not JSON, 400 to malformed JSON and 413 to a huge one', async () => {
    expect((await fn.call({ body: 'shopperId=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
    expect((await fn.call({ body: '{"shopperId":', headers: { 'content-type': 'application/json' } })).json.error.code).toBe('INVALID_INPUT');
    const huge = await fn.call({ body: { shopperId: newShopperId(), productId: 'test-mug', quantity: 1, pad: 'x'.repeat(200_000) } });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});
