import handler = require('./handler');
import { newShopperId, product, testStore, useFunction } from '../../test/support/fixtures';

const fn = useFunction(handler);

beforeAll(async () => {
  await (await testStore()).putProduct(product({ stock: 5 }));
});

describe('cart-update', () => {
  it('sets a line’s quantity and removes it at 0', async () => {
    const shopperId = newShopperId();
    await (await testStore()).replaceCart(shopperId, [{ productId: 'test-mug', quantity: 1 }], 0, new Date().toISOString());
    const set = await fn.call({ body: { shopperId, productId: 'test-mug', quantity: 4 } });
    expect(set.json.items).toEqual([expect.objectContaining({ productId: 'test-mug', quantity: 4 })]);
    const removed = await fn.call({ body: { shopperId, productId: 'test-mug', quantity: 0 } });
    expect(removed.json).toEqual({ shopperId, items: [], totalCents: 0 });
  });

  it('answers 409 when raising a line beyond the stock', async () => {
    const shopperId = newShopperId();
    const res = await fn.call({ body: { shopperId, productId: 'test-mug', quantity: 6 } });
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('OUT_OF_STOCK');
  });

  it('answers 400 to a negative quantity', async () => {
    const res = await fn.call({ body: { shopperId: newShopperId(), productId: 'test-mug', quantity: -1 } });
    expect(res.status).toBe(400);
  });
});
