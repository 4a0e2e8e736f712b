import handler = require('./handler');
import { newShopperId, useFunction } from '../../test/support/fixtures';
import { storedOrder } from '../../test/support/orders';

const fn = useFunction(handler);

describe('order-get', () => {
  it('shows an order to its shopper', async () => {
    const shopperId = newShopperId();
    const order = await storedOrder(shopperId);
    const res = await fn.call({ query: { id: order.id, shopperId } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual(order);
  });

  it('answers 404 to anyone else, as if the order did not exist', async () => {
    const order = await storedOrder(newShopperId());
    const res = await fn.call({ query: { id: order.id, shopperId: newShopperId() } });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('ORDER_NOT_FOUND');
  });

  it('answers 400 to malformed ids', async () => {
    expect((await fn.call({ query: { id: '../../orders', shopperId: newShopperId() } })).status).toBe(400);
    expect((await fn.call({ query: { id: 'ord_AAAAAAAAAAAAAAAAAAAAAA' } })).status).toBe(400);
  });
});
