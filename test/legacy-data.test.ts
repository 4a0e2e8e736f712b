/**
 * A data directory written by the version before this one: nedb files, holds of confirmed
 * orders kept on the product forever, carts without a change date, ledger ids without attempt
 * tokens. The first start imports it; it keeps working (orders read, a legacy order cancels),
 * and the sweep moves it to the new model, after which the invariant holds from the data.
 */
import Datastore from '@seald-io/nedb';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../core/store/open';
import { checkInvariant } from './support/invariant';
import { startTestShop, type TestShop } from './support/shop';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 1, 10, minute)).toISOString();
const customer = { name: 'Old Timer', email: 'old@example.com', address: '1 Legacy Lane' };
const SHOPPER = 'legacy-shopper-00000000000';
const P = 'gooseneck-kettle';
const priced = (quantity: number) => [{ productId: P, name: 'Gooseneck Kettle', priceCents: 3000, quantity }];
const order = (id: string, status: string, quantity: number, minute: number) => ({
  _id: id,
  shopperId: SHOPPER,
  status,
  customer,
  requested: [{ productId: P, quantity }],
  items: status === 'pending' ? [] : priced(quantity),
  totalCents: status === 'pending' ? 0 : 3000 * quantity,
  createdAt: at(minute),
  updatedAt: at(minute),
});
const ids = { confirmed: 'ord_legacyConfirmed0000000', cancelled: 'ord_legacyCancelled0000000', toCancel: 'ord_legacyToCancel00000000', pending: 'ord_legacyPending000000000' };

/** What the earlier version wrote, as it wrote it (nedb, its document shapes). */
async function writeLegacyData(dataDir: string): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const write = async (name: string, docs: object[]) => {
    const db = new Datastore({ filename: join(dataDir, `${name}.db`) });
    await db.loadDatabaseAsync();
    await db.insertAsync(docs);
    await db.compactDatafileAsync();
  };
  await write('products', [
    {
      _id: P,
      name: 'Gooseneck Kettle',
      description: 'Pours slowly',
      priceCents: 3000,
      image: `/images/${P}.svg`,
      // 10 supplied: 2 + 3 held by confirmed orders, 1 by a checkout that was in flight, 4 for sale.
      stock: 4,
      supplied: 10,
      holds: { [ids.confirmed]: 2, [ids.toCancel]: 3, [ids.pending]: 1 },
    },
  ]);
  await write('orders', [order(ids.confirmed, 'confirmed', 2, 1), order(ids.cancelled, 'cancelled', 1, 2), order(ids.toCancel, 'confirmed', 3, 3), order(ids.pending, 'pending', 1, 4)]);
  await write('reservations', [
    { _id: ids.confirmed, status: 'held', items: priced(2), createdAt: at(1), updatedAt: at(1) },
    { _id: ids.cancelled, status: 'released', items: priced(1), createdAt: at(2), updatedAt: at(2) },
    { _id: ids.toCancel, status: 'held', items: priced(3), createdAt: at(3), updatedAt: at(3) },
    { _id: ids.pending, status: 'held', items: priced(1), createdAt: at(4), updatedAt: at(4) },
  ]);
  const movement = (id: string, kind: string, quantity: number, orderId?: string) => ({ _id: id, productId: P, kind, quantity, ...(orderId ? { orderId } : {}), at: at(0) });
  await write('movements', [
    movement(`supply:${P}:initial`, 'supply', 10),
    movement(`reserve:${ids.confirmed}:${P}`, 'reserve', -2, ids.confirmed),
    movement(`reserve:${ids.cancelled}:${P}`, 'reserve', -1, ids.cancelled),
    movement(`release:${ids.cancelled}:${P}`, 'release', 1, ids.cancelled),
    movement(`reserve:${ids.toCancel}:${P}`, 'reserve', -3, ids.toCancel),
    movement(`reserve:${ids.pending}:${P}`, 'reserve', -1, ids.pending),
  ]);
  await write('carts', [{ _id: SHOPPER, lines: [{ productId: P, quantity: 1 }], version: 3 }]);
}

let t: TestShop;
beforeAll(async () => {
  process.env.RESERVATION_TTL_SECONDS = '0';
  t = await startTestShop({ prepare: writeLegacyData });
});
afterAll(async () => {
  delete process.env.RESERVATION_TTL_SECONDS;
  await t.stop();
});

it('imports the data on the first start, keeps it working, and the sweep moves it to the new model', async () => {
  expect(readdirSync(join(t.dataDir, 'nedb-imported')).sort()).toEqual(['carts.db', 'movements.db', 'orders.db', 'products.db', 'reservations.db']);
  expect(existsSync(join(t.dataDir, 'products.db'))).toBe(false);
  expect((await t.call('inventory-get', { query: { id: P } })).json.stock).toBe(4);
  expect((await t.call('order-get', { query: { id: ids.confirmed, shopperId: SHOPPER } })).json.status).toBe('confirmed');
  expect((await t.call('cart-get', { query: { shopperId: SHOPPER } })).json.items).toEqual([expect.objectContaining({ productId: P, quantity: 1 })]);

  // A confirmed order of the earlier version cancels as before: its 3 units come back.
  const cancelled = await t.call('order-cancel', { body: { orderId: ids.toCancel, shopperId: SHOPPER } });
  expect(cancelled.json.status).toBe('cancelled');
  expect((await t.call('inventory-get', { query: { id: P } })).json.stock).toBe(7);

  const sweep = await t.call('order-sweep', { method: 'POST' });
  expect(sweep.json).toMatchObject({ failedOrders: 1, settledSales: 1, errors: 0 });
  const store = await openStore();
  // The abandoned checkout's unit is back; the confirmed order's 2 units are sold, no longer held.
  expect((await store.stockAudit()).find((a) => a.productId === P)).toEqual({ productId: P, stock: 8, held: 0, returning: 0, sold: 2, supplied: 10 });
  expect(await store.openEntries()).toEqual([]);
  const orders = await store.listOrders(SHOPPER, 10);
  expect(Object.fromEntries(orders.map((o) => [o.id, o.status]))).toEqual({ [ids.confirmed]: 'confirmed', [ids.cancelled]: 'cancelled', [ids.toCancel]: 'cancelled', [ids.pending]: 'failed' });
  expect((await checkInvariant(store, orders)).violations).toEqual([]);
  // The undated cart got a date, so it will expire like any other.
  expect(await store.removeCartsUntouchedSince(new Date(Date.now() + 60_000).toISOString(), 10)).toBe(1);
});
