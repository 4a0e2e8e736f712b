/**
 * Two runtimes on one data directory serve one shop: one in this process (startShop) and one a
 * real `npm start` process with DATA_DIR pointing at the first one's data; the embedded store is
 * one SQLite database every replica of both opens at once. The last 10 units still go to exactly
 * 10 of 100 shoppers whichever gateway they use, one Idempotency-Key sent to both at once is one
 * order, both sweep the same abandoned checkouts at once and each is finished once, and
 * `npm run seed` changes the catalog while they run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { orderIdFor } from '../core/checkout';
import { openStore } from '../core/store/open';
import { ROOT } from '../runtime/build';
import { readCatalog } from '../seed/catalog';
import { admitted, newIdempotencyKey, newShopperId, request, type CallOptions, type CallResult } from './support/fixtures';
import { catalogPrices, checkInvariant, ordersOf, report } from './support/invariant';
import { shopProcessHome, type ShopProcess, type ShopProcessHome } from './support/process';
import { startTestShop } from './support/shop';

/** A runtime as these tests use it: its functions, and the secret tokens it mounted. */
interface Runtime {
  call(fn: string, options?: CallOptions): Promise<CallResult>;
  token(name: string): string;
  dataDir: string;
}

let dir: string;
let a: Runtime;
let b: Runtime;
let stopA: () => Promise<void>;
let home: ShopProcessHome;
let bProcess: ShopProcess;
const customer = { name: 'Two Gateways', email: 'two@example.com', address: '2 Runtime Road' };
const shoppers = new Set<string>();

beforeAll(async () => {
  process.env.RESERVATION_TTL_SECONDS = '0';
  dir = mkdtempSync(join(tmpdir(), 'shop-two-'));
  const dataDir = join(dir, 'data');
  const inProcess = await startTestShop({ dataDir });
  a = { call: inProcess.call, token: (name) => inProcess.shop.secrets[name] as string, dataDir };
  stopA = () => inProcess.stop();
  home = await shopProcessHome();
  bProcess = await home.start({ DATA_DIR: dataDir, SWEEP_EVERY_MS: '0', RESERVATION_TTL_SECONDS: '0', AUTOSCALE: '0' });
  b = { call: (fn, options) => request(home.fn(fn), options), token: (name) => readFileSync(join(home.dir, 'secrets', name), 'utf8').trim(), dataDir };
}, 120_000);
afterAll(async () => {
  delete process.env.RESERVATION_TTL_SECONDS;
  bProcess?.signal('SIGTERM');
  await bProcess?.exited;
  home?.dispose();
  await stopA?.();
  rmSync(dir, { recursive: true, force: true });
});

const admin = (t: Runtime) => ({ authorization: `Bearer ${t.token('shop-admin-token')}` });
async function shopperVia(t: Runtime, productId: string): Promise<string> {
  const shopperId = newShopperId();
  shoppers.add(shopperId);
  // Through `npm start` the watchdog's max_inflight of stack.yml holds: a refused add is sent again, as it never ran.
  expect((await admitted(() => t.call('cart-add', { body: { shopperId, productId, quantity: 1 } }))).status).toBe(200);
  return shopperId;
}
/** Sweeps until a run gets through with nothing more to do (a run cut by exec_timeout on a loaded machine is run again). */
async function sweepUntilDone(): Promise<void> {
  let sweep = await a.call('order-sweep', { method: 'POST' });
  for (let runs = 1; (sweep.status !== 200 || sweep.json.more === true) && runs < 40; runs++) sweep = await a.call('order-sweep', { method: 'POST' });
  expect([sweep.status, sweep.json?.errors]).toEqual([200, 0]);
}
const checkout = (t: Runtime, shopperId: string, key = newIdempotencyKey()) => admitted(() => t.call('order-create', { body: { shopperId, customer }, headers: { 'idempotency-key': key } }));

it('sells the last 10 units to exactly 10 of 100 shoppers, half of them through each gateway', async () => {
  expect((await a.call('inventory-restock', { headers: admin(a), body: { productId: 'espresso-tamper', stock: 10 } })).status).toBe(200);
  const gateways = Array.from({ length: 100 }, (_, i) => (i % 2 ? b : a));
  const ids = await Promise.all(gateways.map((t) => shopperVia(t, 'espresso-tamper')));
  const keys = ids.map(() => newIdempotencyKey());
  const answers = await Promise.all(ids.map((s, i) => checkout(gateways[i] as Runtime, s, keys[i])));
  const statuses = answers.map((r) => r.status);
  // 409: out of stock. On a loaded machine also 503 (a step outlasted the gateway timeout: the
  // order failed, its units went back), and 504 or 502 (the checkout outlasted the watchdog's
  // exec_timeout, or the gateway's wait for its answer, and runs on: waited for below). Nothing else.
  expect(statuses.filter((s) => ![201, 409, 502, 503, 504].includes(s))).toEqual([]);
  const store = await openStore();
  const ids504 = ids.flatMap((s, i) => (statuses[i] === 504 || statuses[i] === 502 ? [orderIdFor(s, keys[i] as string)] : []));
  const giveUp = Date.now() + 60_000;
  while (Date.now() < giveUp && (await Promise.all(ids504.map((id) => store.getOrder(id)))).some((o) => o?.status === 'pending')) await new Promise((r) => setTimeout(r, 50));
  await sweepUntilDone();
  const orders = await ordersOf(store, ids);
  const confirmed = orders.filter((o) => o.status === 'confirmed').length;
  const stockLeft = (await b.call('inventory-get', { query: { id: 'espresso-tamper' } })).json.stock;
  // The 10 units are sold or still there; each 201 is a confirmed order; with no failure for want
  // of time, all 10 are sold to 10 shoppers and 90 are refused.
  expect([confirmed + stockLeft, orders.filter((o) => o.status !== 'confirmed' && o.status !== 'failed')]).toEqual([10, []]);
  expect(statuses.filter((s) => s === 201).length).toBeLessThanOrEqual(confirmed);
  if (answers.every((r) => r.status === 201 || r.json.error?.code === 'OUT_OF_STOCK')) expect([statuses.filter((s) => s === 201).length, statuses.filter((s) => s === 409).length]).toEqual([10, 90]);
  report('two runtimes, last 10 units', { shoppers: 100, orders: confirmed, outOfStock: statuses.filter((s) => s === 409).length, failedUnderLoad: statuses.filter((s) => s === 503).length, cutByTimeout: statuses.filter((s) => s === 504 || s === 502).length });
});

it('makes one order of one Idempotency-Key sent to both gateways at once', async () => {
  await a.call('inventory-restock', { headers: admin(a), body: { productId: 'cold-brew-jar', stock: 10 } });
  const shopperId = await shopperVia(a, 'cold-brew-jar');
  const key = newIdempotencyKey();
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => checkout(i % 2 ? b : a, shopperId, key)));
  // One order, and every attempt that got an answer of the shop's answers for it: 201 with its id
  // when it was confirmed; on a loaded machine it may have failed for want of time (then each
  // attempt gives that failure), and an attempt may be cut off by a timeout (502, 504).
  await sweepUntilDone();
  const order = (await b.call('order-list', { query: { shopperId } })).json.items;
  expect(order.map((o: { id: string }) => o.id)).toEqual([orderIdFor(shopperId, key)]);
  const confirmed = order[0].status === 'confirmed';
  const given = answers.filter((r) => r.status !== 502 && r.status !== 504).map((r) => (r.status === 201 ? `201 ${r.json.id}` : `${r.status} ${r.json.error?.code}`));
  expect(given.filter((g) => g !== (confirmed ? `201 ${orderIdFor(shopperId, key)}` : `${order[0].failure?.code === 'DEPENDENCY_UNAVAILABLE' ? 503 : 409} ${order[0].failure?.code}`))).toEqual([]);
  expect((await a.call('inventory-get', { query: { id: 'cold-brew-jar' } })).json.stock).toBe(confirmed ? 9 : 10);
});

it('sweeps the same abandoned checkouts from both at once: their stock comes back once, and the invariant holds', async () => {
  // Abandoned checkouts: reservations with no order behind them, through each gateway (their
  // checkouts died before writing the order), holding 2 + 3 kettles.
  expect((await a.call('inventory-restock', { headers: admin(a), body: { productId: 'gooseneck-kettle', stock: 20 } })).status).toBe(200);
  const orphans = [`ord_${newIdempotencyKey().slice(0, 22)}`, `ord_${newIdempotencyKey().slice(0, 22)}`];
  for (const [i, t] of [a, b].entries()) {
    const held = await t.call('inventory-reserve', { headers: { authorization: `Bearer ${t.token('shop-internal-token')}` }, body: { orderId: orphans[i], items: [{ productId: 'gooseneck-kettle', quantity: 2 + i }] } });
    expect(held.status).toBe(200);
  }
  expect((await a.call('inventory-get', { query: { id: 'gooseneck-kettle' } })).json.stock).toBe(15);
  const racing = await Promise.all([a, b, a, b].map((t) => t.call('order-sweep', { method: 'POST' })));
  // Each answers 200 with no error, or (a run outlasting exec_timeout on a loaded machine) 504 and is run again.
  const sweeps = racing.filter((s) => s.status === 200);
  expect(racing.filter((s) => s.status !== 200 && s.status !== 504).map((s) => s.status)).toEqual([]);
  for (let runs = 0; sweeps.length < 4 && runs < 20; runs++) {
    const again = await a.call('order-sweep', { method: 'POST' });
    if (again.status === 200) sweeps.push(again);
  }
  expect(sweeps.map((s) => [s.status, s.json.errors])).toEqual(Array(4).fill([200, 0]));
  // Both reservations released and their 5 units back once, whichever sweeps got there: each
  // sweep counts only the holds it gave back itself, so the counts add up to the two checkouts.
  const released = sweeps.reduce((n, s) => n + s.json.releasedReservations, 0);
  report('two runtimes, racing sweeps', { sweeps: sweeps.length, timedOut: racing.length - racing.filter((s) => s.status === 200).length, releasedReservations: released, reservations: 2 });
  expect(released).toBe(2);
  expect((await b.call('inventory-get', { query: { id: 'gooseneck-kettle' } })).json.stock).toBe(20);
  const store = await openStore();
  // Never decided: each checkout's id is taken as abandoned, so that no late attempt can confirm it.
  expect(await Promise.all(orphans.map(async (id) => (await store.getDecision(id))?.kind))).toEqual(['abandoned', 'abandoned']);
  const { violations } = await checkInvariant(store, await ordersOf(store, shoppers), { prices: catalogPrices() });
  expect(violations).toEqual([]);
});

it('takes a catalog change from npm run seed while both run, and both see it at once', async () => {
  const changed = readCatalog().map((p) => (p.id === 'milk-frother' ? { ...p, priceCents: 2222 } : p));
  const file = join(dir, 'catalog.json');
  writeFileSync(file, JSON.stringify(changed));
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'seed/seed.ts', '--file', file], { cwd: ROOT, env: { ...process.env, DATA_DIR: a.dataDir, MONGO_URL: '' } });
  expect(stdout).toMatch(/seeded .*: 0 created, \d+ updated, \d+ unchanged, 0 removed/);
  for (const t of [a, b]) expect((await t.call('inventory-get', { query: { id: 'milk-frother' } })).json.priceCents).toBe(2222);
  // b is a real npm start on a's data: it was serving all along.
  expect(bProcess.output()).toContain(`http://127.0.0.1:${home.port}`);
});
