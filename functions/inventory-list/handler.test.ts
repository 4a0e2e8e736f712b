import handler = require('./handler');
import { product, testStore, useFunction } from '../../test/support/fixtures';

const fn = useFunction(handler);

beforeAll(async () => {
  const store = await testStore();
  for (const [id, name] of [['kettle', 'Gooseneck Kettle'], ['mug', 'Glass Mug'], ['grinder', 'Burr Grinder'], ['mug-2', 'Travel Mug']]) {
    await store.putProduct(product({ id: id as string, name: name as string }));
  }
});

describe('inventory-list', () => {
  it('lists products by name as JSON', async () => {
    const res = await fn.call();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.json.items.map((p: { name: string }) => p.name)).toEqual(['Burr Grinder', 'Glass Mug', 'Gooseneck Kettle', 'Travel Mug']);
    expect(res.json.nextCursor).toBeUndefined();
  });

  it('pages with an opaque cursor until the end', async () => {
    const first = await fn.call({ query: { limit: '3' } });
    expect(first.json.items).toHaveLength(3);
    const second = await fn.call({ query: { limit: '3', cursor: first.json.nextCursor } });
    expect(second.json.items.map((p: { id: string }) => p.id)).toEqual(['mug-2']);
    expect(second.json.nextCursor).toBeUndefined();
  });

  it('searches names case-insensitively', async () => {
    const res = await fn.call({ query: { q: 'MUG' } });
    expect(res.json.items.map((p: { id: string }) => p.id)).toEqual(['mug', 'mug-2']);
  });

  it.each([
    ['a zero limit', { limit: '0' }],
    ['a limit over 100', { limit: '101' }],
    ['a fractional limit', { limit: '2.5' }],
    ['a forged cursor', { cursor: 'bm90LWpzb24' }],
    ['an unknown parameter', { sort: 'price' }],
  ])('answers 400 to %s', async (_name, query) => {
    const res = await fn.call({ query });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('INVALID_INPUT');
  });

  it('answers 400 to operator objects in the query string', async () => {
    const res = await fetch(`${fn.url}?q[$regex]=.*`);
    expect(res.status).toBe(400);
  });

  it('answers 405 to POST', async () => {
    const res = await fn.call({ body: {} });
    expect(res.status).toBe(405);
    expect(res.json.error.code).toBe('METHOD_NOT_ALLOWED');
  });
});
