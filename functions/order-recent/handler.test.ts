import handler = require('./handler');
import { TOKENS, newShopperId, useFunction } from '../../test/support/fixtures';
import { storedOrder } from '../../test/support/orders';

const fn = useFunction(handler);
const admin = { authorization: `Bearer ${TOKENS.admin}` };

describe('order-recent', () => {
  it('lists every shopper’s orders, newest first, to the admin token only', async () => {
    const older = await storedOrder(newShopperId(), { createdAt: '2026-01-01T00:00:00.000Z' });
    const newer = await storedOrder(newShopperId(), { createdAt: '2026-02-01T00:00:00.000Z' });
    const res = await fn.call({ headers: admin });
    expect(res.status).toBe(200);
    expect(res.json.items.map((o: { id: string }) => o.id)).toEqual([newer.id, older.id]);
    expect((await fn.call({ headers: admin, query: { limit: '1' } })).json.items).toHaveLength(1);
  });

  it('refuses no token and the internal token', async () => {
    expect((await fn.call()).status).toBe(401);
    expect((await fn.call({ headers: { authorization: `Bearer ${TOKENS.internal}` } })).status).toBe(403);
    expect((await fn.call({ headers: admin, query: { limit: '500' } })).status).toBe(400);
  });
});
