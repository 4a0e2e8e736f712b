/**
 * Two `npm start` runtimes on one data directory serve one shop: the embedded store is one
 * SQLite database every replica of both opens at once. The last 10 units still go to exactly
 * 10 of 100 shoppers whichever gateway they use, one Idempotency-Key sent to both at once is
 * one order, both sweep, and `npm run seed` changes the catalog while they run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { orderIdFor } from '../core/checkout';
import { openStore } from '../core/store/open';
import { ROOT } from '../runtime/build';
import { readCatalog } from '../seed/catalog';
import { newIdempotencyKey, newShopperId } from './support/fixtures';
import { checkInvariant, ordersOf, report } from './support/invariant';
import { startTestShop, type TestShop } from './support/shop';

let dir: string;
let a: TestShop;
let b: TestShop;
const customer = { name: 'Two Gateways', email: 'two@example.com', address: '2 Runtime Road' };
const shoppers = new Set<string>();

beforeAll(async () => {
  process.env.RESERVATION_TTL_SECONDS = '0';
  dir = mkdtempSync(join(tmpdir(), 'shop-two-'));
  const dataDir = join(dir, 'data');
  a = await startTestShop({ dataDir });
  b = await startTestShop({ dataDir });
});
afterAll(async () => {
  delete process.env.RESERVATION_TTL_SECONDS;
  await Promise.all([a.stop(), b.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const admin = (t: TestShop) => ({ authorization: `Bearer ${t.shop.secrets['shop-admin-token']}` });
async function shopperVia(t: TestShop, productId: string): Promise<string> {
  const shopperId = newShopperId();
  shoppers.add(shopperId);
  expect((await t.call('cart-add', { body: { shopperId, productId, quantity: 1 } })).status).toBe(200);
  return shopperId;
}
const checkout = (t: TestShop, shopperId: string, key = newIdempotencyKey()) => t.call('order-create', { body: { shopperId, customer }, headers: { 'idempotency-key': key } });

it('sells the last 10 units to exactly 10 of 100 shoppers, half of them through each gateway', async () => {
  expect((await a.call('inventory-restock', { headers: admin(a), body: { productId: 'espresso-tamper', stock: 10 } })).status).toBe(200);
  const gateways = Array.from({ length: 100 }, (_, i) => (i % 2 ? b : a));
  const ids = await Promise.all(gateways.map((t) => shopperVia(t, 'espresso-tamper')));
  const statuses = (await Promise.all(ids.map((s, i) => checkout(gateways[i] as TestShop, s)))).map((r) => r.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(10);
  expect(statuses.filter((s) => s === 409)).toHaveLength(90);
  expect((await b.call('inventory-get', { query: { id: 'espresso-tamper' } })).json.stock).toBe(0);
  report('two runtimes, last 10 units', { shoppers: 100, orders: 10, outOfStock: 90 });
});

it('makes one order of one Idempotency-Key sent to both gateways at once', async () => {
  await a.call('inventory-restock', { headers: admin(a), body: { productId: 'cold-brew-jar', stock: 10 } });
  const shopperId = await shopperVia(a, 'cold-brew-jar');
  const key = newIdempotencyKey();
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => checkout(i % 2 ? b : a, shopperId, key)));
  expect(answers.map((r) => r.status)).toEqual(Array(8).fill(201));
  expect(new Set(answers.map((r) => r.json.id))).toEqual(new Set([orderIdFor(shopperId, key)]));
  expect((await a.call('inventory-get', { query: { id: 'cold-brew-jar' } })).json.stock).toBe(9);
  expect((await b.call('order-list', { query: { shopperId } })).json.items).toHaveLength(1);
});

it('sweeps from both at once, and the stock adds up', async () => {
  const sweeps = await Promise.all([a, b, a, b].map((t) => t.call('order-sweep', { method: 'POST' })));
  expect(sweeps.map((s) => s.status)).toEqual([200, 200, 200, 200]);
  expect(sweeps.every((s) => s.json.errors === 0)).toBe(true);
  const store = await openStore();
  const { violations } = await checkInvariant(store, await ordersOf(store, shoppers));
  expect(violations).toEqual([]);
});

it('takes a catalog change from npm run seed while both run, and both see it at once', async () => {
  const changed = readCatalog().map((p) => (p.id === 'milk-frother' ? { ...p, priceCents: 2222 } : p));
  const file = join(dir, 'catalog.json');
  writeFileSync(file, JSON.stringify(changed));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'seed/seed.ts', '--file', file], { cwd: ROOT, env: { ...process.env, DATA_DIR: a.dataDir, MONGO_URL: '' } });
  expect(stdout).toMatch(/seeded .*: 0 created, \d+ updated, \d+ unchanged, 0 removed/);
  for (const t of [a, b]) expect((await t.call('inventory-get', { query: { id: 'milk-frother' } })).json.priceCents).toBe(2222);
});
