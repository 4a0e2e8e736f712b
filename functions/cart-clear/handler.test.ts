import handler = require('./handler');
import { newShopperId, testStore, useFunction } from '../../test/support/fixtures';

const fn = useFunction(handler);

describe('cart-clear', () => {
  it('empties only the given shopper’s cart', async () => {
    const store = await testStore();
    const [mine, theirs] = [newShopperId(), newShopperId()];
    await store.replaceCart(mine, [{ productId: 'a', quantity: 1 }], 0, new Date().toISOString());
    await store.replaceCart(theirs, [{ productId: 'a', quantity: 2 }], 0, new Date().toISOString());
    const res = await fn.call({ body: { shopperId: mine } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ shopperId: mine, items: [], totalCents: 0 });
    expect((await store.getCart(theirs)).lines).toEqual([{ productId: 'a', quantity: 2 }]);
  });

  it('answers 400 without a valid shopper id', async () => {
    expect((await fn.call({ body: {} })).status).toBe(400);
    expect((await fn.call({ body: { shopperId: ['a'.repeat(30)] } })).status).toBe(400);
  });
});
