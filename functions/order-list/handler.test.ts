import handler = require('./handler');
import { newShopperId, useFunction } from '../../test/support/fixtures';
import { storedOrder } from '../../test/support/orders';

const fn = useFunction(handler);

describe('order-list', () => {
  it('lists the shopper’s own orders, newest first', async () => {
    const shopperId = newShopperId();
    const older = await storedOrder(shopperId, { createdAt: '2026-01-01T00:00:00.000Z' });
    const newer = await storedOrder(shopperId, { createdAt: '2026-02-01T00:00:00.000Z' });
    await storedOrder(newShopperId());
    const res = await fn.call({ query: { shopperId } });
    expect(res.status).toBe(200);
    expect(res.json.items.map((o: { id: string }) => o.id)).toEqual([newer.id, older.id]);
    expect((await fn.call({ query: { shopperId, limit: '1' } })).json.items).toHaveLength(1);
  });

  it('answers 400 without a valid shopper id', async () => {
    expect((await fn.call()).status).toBe(400);
    expect((await fn.call({ query: { shopperId: newShopperId(), limit: '-1' } })).status).toBe(400);
  });
});
