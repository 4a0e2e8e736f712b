import handler = require('./handler');
import { product, testStore, useFunction } from '../../test/support/fixtures';

const fn = useFunction(handler);

beforeAll(async () => {
  await (await testStore()).putProduct(product());
});

describe('inventory-get', () => {
  it('returns one product', async () => {
    const res = await fn.call({ query: { id: 'test-mug' } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual(product());
  });

  it('answers 404 for an unknown product', async () => {
    const res = await fn.call({ query: { id: 'no-such-thing' } });
    expect(res.status).toBe(404);
    expect(res.json.error).toMatchObject({ code: 'PRODUCT_NOT_FOUND' });
  });

  it.each(['', '../etc/passwd', 'UPPER', 'a'.repeat(65), '-leading-dash'])('answers 400 to the id %j', async (id) => {
    const res = await fn.call({ query: { id } });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('INVALID_INPUT');
  });

  it('answers 400 when the id is missing', async () => {
    const res = await fn.call();
    expect(res.status).toBe(400);
    expect(res.json.error.details).toEqual([expect.objectContaining({ path: ['id'] })]);
  });
});
