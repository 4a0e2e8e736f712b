/**
 * Crash: `npm start` killed with SIGKILL in the middle of a checkout rush, then started again
 * on the same data directory. Every order the shop acknowledged (201) must still be there and
 * confirmed, and once the abandoned checkouts are swept the stock invariant must hold,
 * checked from the data files themselves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { orderIdFor } from '../core/checkout';
import { openEmbeddedStore } from '../core/store/embedded';
import { admitted, newIdempotencyKey, newShopperId, request } from './support/fixtures';
import { catalogPrices, checkInvariant, ordersOf, report } from './support/invariant';
import { shopProcessHome, type ShopProcessHome } from './support/process';

const FULL = process.env.RELIABILITY === 'full';
const profile = FULL ? { shoppers: 150, rounds: 3 } : { shoppers: 40, rounds: 1 };
const customer = { name: 'Crash Test', email: 'crash@example.com', address: '1 Kill Street' };

let home: ShopProcessHome;
beforeAll(async () => {
  home = await shopProcessHome();
});
afterAll(() => home.dispose());

it('keeps every acknowledged order through SIGKILL, and the stock invariant after the sweep', async () => {
  // No timer sweeps: the test sweeps by hand once the rush is over, when every checkout left
  // unfinished is abandoned, so nothing needs to age first.
  const env = { SWEEP_EVERY_MS: '0', RESERVATION_TTL_SECONDS: '0' };
  const shoppers: string[] = [];
  const acknowledged = new Map<string, string>(); // order id -> shopper
  let sent = 0;
  let unanswered = 0;
  // Two replicas of the checkout and of the reservation, as the cluster would run them under load.
  const startWithReplicas = async () => {
    const started = await home.start(env);
    for (const name of ['order-create', 'inventory-reserve']) {
      const res = await fetch(`http://127.0.0.1:${home.port}/system/scale-function/${name}`, { method: 'POST', headers: { authorization: home.basicAuth() }, body: JSON.stringify({ serviceName: name, replicas: 2 }) });
      expect(res.status).toBe(202);
    }
    return started;
  };
  let shop = await startWithReplicas();
  const admin = { authorization: `Bearer ${readFileSync(join(home.dir, 'secrets', 'shop-admin-token'), 'utf8')}` };

  const answeredBeforeRestart: { shopperId: string; key: string; status: number; code?: string }[] = [];
  for (let round = 0; round < profile.rounds; round++) {
    const setup: number[] = [];
    setup.push((await request(home.fn('inventory-restock'), { headers: admin, body: { productId: 'espresso-tamper', stock: 30 } })).status);
    setup.push((await request(home.fn('inventory-restock'), { headers: admin, body: { productId: 'paper-filters-100', stock: 100_000 } })).status);
    const roundShoppers = Array.from({ length: profile.shoppers }, newShopperId);
    shoppers.push(...roundShoppers);
    for (const s of roundShoppers) {
      setup.push((await request(home.fn('cart-add'), { body: { shopperId: s, productId: 'espresso-tamper', quantity: 1 } })).status);
      setup.push((await request(home.fn('cart-add'), { body: { shopperId: s, productId: 'paper-filters-100', quantity: 2 } })).status);
    }
    expect(setup.filter((status) => status !== 200)).toEqual([]);
    // The rush, and the kill in its middle: once a fifth of the shoppers have their order.
    const killAfter = Math.ceil(profile.shoppers / 5);
    let acknowledgedThisRound = 0;
    let killed = false;
    const answers = roundShoppers.map((s) => {
      const key = newIdempotencyKey();
      return admitted(() => request(home.fn('order-create'), { body: { shopperId: s, customer }, headers: { 'idempotency-key': key } })).then(
        (res) => {
          if (res.status === 201) {
            acknowledged.set(res.json.id, s);
            if (++acknowledgedThisRound >= killAfter && !killed) {
              killed = true;
              shop.signal('SIGKILL');
            }
          }
          return { shopperId: s, key, status: res.status, code: res.json?.error?.code as string | undefined };
        },
        () => ({ shopperId: s, key, status: 0 }),
      );
    });
    sent += answers.length;
    const answered = await Promise.all(answers);
    unanswered += answered.filter((a) => a.status === 0).length;
    // Before the kill: 201, or 409 once the 30 tampers are gone, or 503 where a step outlasted the
    // gateway timeout, or (a checkout outlasting exec_timeout on a loaded machine) 504 or 502, which
    // say nothing of the order; after it, no answer (0). Anything else (a 500) fails here.
    expect(answered.filter((a) => ![0, 201, 409, 502, 503, 504].includes(a.status))).toEqual([]);
    answeredBeforeRestart.push(...answered.filter((a) => ![0, 502, 504].includes(a.status)));
    expect(await shop.exited).toBeNull(); // killed by the signal
    shop = await startWithReplicas();

    for (const [orderId, shopperId] of acknowledged) {
      const order = await request(home.fn('order-get'), { query: { id: orderId, shopperId } });
      expect(order.status).toBe(200);
      expect(order.json.status).toBe('confirmed');
    }
  }

  // Sweep the abandoned checkouts, stop cleanly, then audit the files.
  // A sweep handles a batch at a time (every minute in the cluster): repeat until it finds nothing.
  const sweep = { failedOrders: 0, ledgerRepairs: 0 };
  // A run that outlasts the watchdog's exec_timeout on a loaded machine (504) is simply run again.
  let last = 0;
  for (let i = 0; i < 40; i++) {
    const res = await request(home.fn('order-sweep'), { method: 'POST' });
    last = res.status;
    if (res.status !== 200) continue;
    sweep.failedOrders += res.json.failedOrders;
    sweep.ledgerRepairs += res.json.ledgerRepairs;
    if (res.json.failedOrders === 0 && res.json.releasedReservations === 0) break;
  }
  expect(last).toBe(200);
  shop.signal('SIGTERM');
  expect(await shop.exited).toBe(0);

  const store = await openEmbeddedStore(home.dataDir);
  try {
    const orders = await ordersOf(store, shoppers);
    const result = await checkInvariant(store, orders, { prices: catalogPrices() });
    expect(result.violations).toEqual([]);
    expect(orders.filter((o) => o.status === 'pending')).toEqual([]);
    // Every answer given before the kill is what its order is after the restart: a refusal too.
    const byId = new Map(orders.map((o) => [o.id, o]));
    const mismatches = answeredBeforeRestart.filter(({ shopperId, key, status, code }) => {
      const order = byId.get(orderIdFor(shopperId, key));
      return status === 201 ? order?.status !== 'confirmed' : order?.status !== 'failed' || order.failure?.code !== code;
    });
    expect(mismatches).toEqual([]);
    report('crash', {
      rounds: profile.rounds,
      checkoutsSent: sent,
      acknowledged: acknowledged.size,
      refused: answeredBeforeRestart.filter((a) => a.status === 409).length,
      failedUnderLoad: answeredBeforeRestart.filter((a) => a.status === 503).length,
      cutOffByKill: unanswered,
      confirmedAfterRestart: orders.filter((o) => o.status === 'confirmed').length,
      sweptPending: sweep.failedOrders,
      ledgerRepairs: sweep.ledgerRepairs,
      invariantChecks: result.checks,
    });
  } finally {
    await store.close();
  }
}, 180_000); // two starts of npm start and a rush: minutes on a loaded machine
