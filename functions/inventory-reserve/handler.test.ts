import handler = require('./handler');
import { TOKENS, product, testStore, useFunction } from '../../test/support/fixtures';

const fn = useFunction(handler);
const auth = { authorization: `Bearer ${TOKENS.internal}` };
const stock = async () => (await (await testStore()).getProducts(['test-mug']))[0]?.stock;

beforeEach(async () => {
  await (await testStore()).putProduct(product({ stock: 3 }));
});

describe('inventory-reserve', () => {
  it('reserves and answers with catalog names and prices', async () => {
    const res = await fn.call({ headers: auth, body: { orderId: 'ord_reservetest00000000001', items: [{ productId: 'test-mug', quantity: 2 }] } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      orderId: 'ord_reservetest00000000001',
      items: [{ productId: 'test-mug', name: 'Test Mug', priceCents: 1250, quantity: 2 }],
      holds: { 'test-mug': res.json.attempt },
      attempt: expect.any(String),
    });
    expect(await stock()).toBe(1);
  });

  it('answers 409 OUT_OF_STOCK with per-product details and holds nothing', async () => {
    const res = await fn.call({ headers: auth, body: { orderId: 'ord_reservetest00000000002', items: [{ productId: 'test-mug', quantity: 4 }] } });
    expect(res.status).toBe(409);
    expect(res.json.error).toMatchObject({ code: 'OUT_OF_STOCK', details: [{ productId: 'test-mug', requested: 4, available: 3 }] });
    expect(await stock()).toBe(3);
  });

  it.each([
    ['no token', {}, 401],
    ['a wrong token', { authorization: 'Bearer nope' }, 403],
    ['the admin token', { authorization: `Bearer ${TOKENS.admin}` }, 403],
    ['a malformed header', { authorization: TOKENS.internal }, 401],
  ])('refuses %s and changes nothing', async (_name, headers, status) => {
    const res = await fn.call({ headers, body: { orderId: 'ord_reservetest00000000003', items: [{ productId: 'test-mug', quantity: 1 }] } });
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN');
    expect(await stock()).toBe(3);
  });

  it.each([
    ['an empty item list', { orderId: 'ord_reservetest00000000004', items: [] }],
    ['a bad order id', { orderId: 'order-1', items: [{ productId: 'test-mug', quantity: 1 }] }],
    ['a zero quantity', { orderId: 'ord_reservetest00000000004', items: [{ productId: 'test-mug', quantity: 0 }] }],
    ['a negative quantity', { orderId: 'ord_reservetest00000000004', items: [{ productId: 'test-mug', quantity: -3 }] }],
  ])('answers 400 to %s', async (_name, body) => {
    const res = await fn.call({ headers: auth, body });
    expect(res.status).toBe(400);
    expect(await stock()).toBe(3);
  });
});
