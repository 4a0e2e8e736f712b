import handler = require('./handler');
import reserve = require('../inventory-reserve/handler');
import { TOKENS, newShopperId, product, testStore, useFunction } from '../../test/support/fixtures';
import { anOrder } from '../../test/support/orders';

const fn = useFunction(handler);
const reserveFn = useFunction(reserve);
const auth = { authorization: `Bearer ${TOKENS.internal}` };
const stock = async () => (await (await testStore()).getProducts(['test-mug']))[0]?.stock;

beforeAll(async () => {
  await (await testStore()).putProduct(product({ stock: 3 }));
});

describe('inventory-release', () => {
  it('returns a failed order’s reserved stock once, however often it is called', async () => {
    const orderId = 'ord_releasetest00000000001';
    await reserveFn.call({ headers: auth, body: { orderId, items: [{ productId: 'test-mug', quantity: 2 }] } });
    expect(await stock()).toBe(1);
    // Before the order is decided, the stock is nobody's to give back.
    expect((await fn.call({ headers: auth, body: { orderId } })).json).toEqual({ orderId, released: [] });
    await (await testStore()).decideOrder(anOrder(newShopperId(), { id: orderId, status: 'failed', requested: [{ productId: 'test-mug', quantity: 2 }], items: [] }), {});
    const first = await fn.call({ headers: auth, body: { orderId } });
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ orderId, released: [{ productId: 'test-mug', quantity: 2 }] });
    const again = await fn.call({ headers: auth, body: { orderId } });
    expect(again.json).toEqual({ orderId, released: [] });
    expect(await stock()).toBe(3);
  });

  it('refuses calls without the internal token', async () => {
    expect((await fn.call({ body: { orderId: 'ord_releasetest00000000002' } })).status).toBe(401);
    expect((await fn.call({ headers: { authorization: `Bearer ${TOKENS.admin}` }, body: { orderId: 'ord_releasetest00000000002' } })).status).toBe(403);
  });

  it('answers 400 to extra fields', async () => {
    const res = await fn.call({ headers: auth, body: { orderId: 'ord_releasetest00000000002', all: true } });
    expect(res.status).toBe(400);
  });
});
