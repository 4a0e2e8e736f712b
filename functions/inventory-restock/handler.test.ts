import handler = require('./handler');
import { TOKENS, product, testStore, useFunction } from '../../test/support/fixtures';

const fn = useFunction(handler);
const admin = { authorization: `Bearer ${TOKENS.admin}` };

beforeAll(async () => {
  await (await testStore()).putProduct(product({ stock: 3 }));
});

describe('inventory-restock', () => {
  it('sets a product’s stock', async () => {
    const res = await fn.call({ headers: admin, body: { productId: 'test-mug', stock: 40 } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual(product({ stock: 40 }));
  });

  it('adds a product (201) and replaces it (200)', async () => {
    const added = await fn.call({ headers: admin, body: { product: product({ id: 'new-pot', name: 'New Pot' }) } });
    expect(added.status).toBe(201);
    const replaced = await fn.call({ headers: admin, body: { product: product({ id: 'new-pot', name: 'Better Pot', priceCents: 99 }) } });
    expect(replaced.status).toBe(200);
    expect(replaced.json).toMatchObject({ name: 'Better Pot', priceCents: 99 });
  });

  it('answers 404 for stock of an unknown product', async () => {
    const res = await fn.call({ headers: admin, body: { productId: 'ghost', stock: 1 } });
    expect(res.status).toBe(404);
  });

  it('refuses the internal token and no token, changing nothing', async () => {
    expect((await fn.call({ headers: { authorization: `Bearer ${TOKENS.internal}` }, body: { productId: 'test-mug', stock: 0 } })).status).toBe(403);
    expect((await fn.call({ body: { productId: 'test-mug', stock: 0 } })).status).toBe(401);
    expect((await (await testStore()).getProducts(['test-mug']))[0]?.stock).toBe(40);
  });

  it.each([
    ['a negative stock', { productId: 'test-mug', stock: -1 }],
    ['a fractional stock', { productId: 'test-mug', stock: 1.5 }],
    ['a string stock', { productId: 'test-mug', stock: '5' }],
    ['a price as text', { product: { ...product(), priceCents: '10' } }],
    ['a script URL as image', { product: { ...product(), image: 'javascript:alert(1)' } }],
    ['both forms at once', { productId: 'test-mug', stock: 1, product: product() }],
  ])('answers 400 to %s', async (_name, body) => {
    const res = await fn.call({ headers: admin, body });
    expect(res.status).toBe(400);
    expect((await (await testStore()).getProducts(['test-mug']))[0]?.stock).toBe(40);
  });
});
