import handler = require('./handler');
import { useNock } from '../../test/support/nock';
import { TOKENS, newShopperId, testStore, useFunction } from '../../test/support/fixtures';
import { storedOrder } from '../../test/support/orders';

const GATEWAY = 'http://gateway.test:8080';
const fn = useFunction(handler, { gateway: GATEWAY });
const nock = useNock();

describe('order-cancel', () => {
  it('returns the stock through inventory-release and cancels; a repeat changes nothing', async () => {
    const shopperId = newShopperId();
    const order = await storedOrder(shopperId);
    const release = nock(GATEWAY, { reqheaders: { authorization: `Bearer ${TOKENS.internal}` } })
      .post('/function/inventory-release', { orderId: order.id })
      .once()
      .reply(200, { orderId: order.id, released: [{ productId: 'test-mug', quantity: 1 }] });
    const res = await fn.call({ body: { orderId: order.id, shopperId } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: order.id, status: 'cancelled' });
    release.done();
    const again = await fn.call({ body: { orderId: order.id, shopperId } });
    expect(again.status).toBe(200);
    expect(again.json.status).toBe('cancelled');
  });

  it('stays cancelling when the release fails, and a retry finishes it', async () => {
    const shopperId = newShopperId();
    const order = await storedOrder(shopperId);
    nock(GATEWAY).post('/function/inventory-release').times(3).reply(503, 'down');
    expect((await fn.call({ body: { orderId: order.id, shopperId } })).status).toBe(503);
    expect((await (await testStore()).getOrder(order.id))?.status).toBe('cancelling');
    nock(GATEWAY).post('/function/inventory-release').reply(200, { orderId: order.id, released: [] });
    expect((await fn.call({ body: { orderId: order.id, shopperId } })).json.status).toBe('cancelled');
  });

  it('answers 409 for an order that is not confirmed', async () => {
    const shopperId = newShopperId();
    const order = await storedOrder(shopperId, { status: 'failed' });
    const res = await fn.call({ body: { orderId: order.id, shopperId } });
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('ORDER_NOT_CANCELLABLE');
  });

  it('answers 404 to another shopper and changes nothing', async () => {
    const order = await storedOrder(newShopperId());
    const res = await fn.call({ body: { orderId: order.id, shopperId: newShopperId() } });
    expect(res.status).toBe(404);
    expect((await (await testStore()).getOrder(order.id))?.status).toBe('confirmed');
  });
});
