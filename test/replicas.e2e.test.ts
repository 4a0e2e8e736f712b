/**
 * The local runtime as a function runtime: every replica its own process, scaled through the
 * gateway API as on VM 2, balanced over, replaced when it dies, drained when scaled down, and
 * autoscaled by CE's rule. Everything goes through the gateway over HTTP; the processes are
 * looked at (pids) only to kill one, as a crash would.
 */
import { orderIdFor } from '../core/checkout';
import { openStore } from '../core/store/open';
import { alive, newIdempotencyKey, newShopperId } from './support/fixtures';
import { checkInvariant, ordersOf, report } from './support/invariant';
import { parseMetrics, sampleValue } from './support/metrics';
import { startTestShop, type TestShop } from './support/shop';

let t: TestShop;
const customer = { name: 'Rep Lica', email: 'replica@example.com', address: '3 Process Row' };

beforeAll(async () => {
  process.env.GATEWAY_TIMEOUT_MS = '1000';
  process.env.RESERVATION_TTL_SECONDS = '0';
  t = await startTestShop({ faults: true });
});
afterAll(async () => {
  delete process.env.GATEWAY_TIMEOUT_MS;
  delete process.env.RESERVATION_TTL_SECONDS;
  await t.stop();
});

const system = (path: string, init: RequestInit = {}) => fetch(`${t.shop.url}${path}`, { ...init, headers: { authorization: t.admin(), 'content-type': 'application/json', ...init.headers } });
const scale = (name: string, replicas: number) => system(`/system/scale-function/${name}`, { method: 'POST', body: JSON.stringify({ serviceName: name, replicas }) });
const describeFn = async (name: string) => (await (await system(`/system/function/${name}`)).json()) as { replicas: number; availableReplicas: number };
/** The live process ids of a function's replicas. */
const pids = (name: string) => (t.shop.provider.replicasOf(name)?.instances ?? []).filter((r) => r.state === 'ready').map((r) => r.child?.pid as number);
const allPids = () => t.shop.provider.names().flatMap(pids);
/** Waits for something to become true, checking every 20 ms. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 20));
}
const admin = () => ({ authorization: `Bearer ${t.shop.secrets['shop-admin-token']}` });
const restock = (productId: string, stock: number) => t.call('inventory-restock', { headers: admin(), body: { productId, stock } });
/** Every shopper of this file: the invariant is checked over all their orders. */
const everyShopper = new Set<string>();
async function shopperWith(productId: string, quantity = 1): Promise<string> {
  const shopperId = newShopperId();
  everyShopper.add(shopperId);
  const res = await t.call('cart-add', { body: { shopperId, productId, quantity } });
  if (res.status !== 200) throw new Error(`cart-add: ${res.status} ${res.text}`);
  return shopperId;
}
const checkout = (shopperId: string, key = newIdempotencyKey()) => t.call('order-create', { body: { shopperId, customer }, headers: { 'idempotency-key': key } });

describe('replicas', () => {
  it('scales order-create and inventory-reserve to 3 through the gateway: 4 more processes, 3 available, and exactly 10 of 100 shoppers get the last 10 units', async () => {
    const before = allPids();
    expect(before).toHaveLength(15);
    expect((await scale('order-create', 3)).status).toBe(202);
    expect((await scale('inventory-reserve', 3)).status).toBe(202);
    await until(async () => (await describeFn('order-create')).availableReplicas === 3 && (await describeFn('inventory-reserve')).availableReplicas === 3);
    expect(await describeFn('order-create')).toMatchObject({ replicas: 3, availableReplicas: 3 });
    const after = allPids();
    expect(after).toHaveLength(19);
    expect(new Set(after).size).toBe(19);
    expect(after.every(alive)).toBe(true);
    const metrics = parseMetrics(await (await fetch(`${t.shop.url}/metrics`)).text());
    expect(sampleValue(metrics, 'gateway_service_count', { function_name: 'order-create.openfaas-fn' })).toBe(3);

    await restock('espresso-tamper', 10);
    const shoppers = await Promise.all(Array.from({ length: 100 }, () => shopperWith('espresso-tamper')));
    const statuses = (await Promise.all(shoppers.map((s) => checkout(s)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(10);
    expect(statuses.filter((s) => s === 409)).toHaveLength(90);
    // The calls were spread over every replica, each its own process.
    for (const name of ['order-create', 'inventory-reserve']) {
      expect(t.shop.provider.replicasOf(name)?.instances.map((r) => r.served > 0)).toEqual([true, true, true]);
    }
    report('3 replicas, last 10 units', { shoppers: 100, orders: 10, outOfStock: 90, processes: after.length });
  });

  it('holds a scale call to the function’s bounds and refuses what OpenFaaS CE refuses', async () => {
    expect((await scale('inventory-restock', 4)).status).toBe(202); // scale.max is 1
    expect(await describeFn('inventory-restock')).toMatchObject({ replicas: 1 });
    const zero = await scale('cart-get', 0);
    expect([zero.status, await zero.text()]).toEqual([400, 'replicas cannot be set to 0 in OpenFaaS CE\n']);
    expect((await system('/system/scale-function/cart-get', { method: 'POST', body: '{not json' })).status).toBe(400);
    expect((await system('/system/scale-function/no-such-fn', { method: 'POST', body: JSON.stringify({ serviceName: 'no-such-fn', replicas: 2 }) })).status).toBe(500);
    expect((await fetch(`${t.shop.url}/system/scale-function/cart-get`, { method: 'POST', body: JSON.stringify({ replicas: 2 }) })).status).toBe(401);
    expect(await describeFn('cart-get')).toMatchObject({ replicas: 1, availableReplicas: 1 });
  });

  it('replaces a SIGKILLed replica while checkouts keep succeeding', async () => {
    await restock('paper-filters-100', 100_000);
    const [victim] = pids('inventory-reserve');
    process.kill(victim as number, 'SIGKILL');
    const shoppers = await Promise.all(Array.from({ length: 20 }, () => shopperWith('paper-filters-100')));
    const statuses = (await Promise.all(shoppers.map((s) => checkout(s)))).map((r) => r.status);
    expect(statuses).toEqual(Array(20).fill(201));
    await until(() => pids('inventory-reserve').length === 3);
    expect(pids('inventory-reserve')).not.toContain(victim);
    expect(t.shop.provider.replicasOf('inventory-reserve')?.instances.some((r) => r.restarts === 1)).toBe(true);
    report('replica killed', { killed: 1, checkoutsDuringRestart: 20, created: statuses.length, replacedBy: 'a new process' });
  });

  it('answers 502 for a call in flight on a replica that dies, and sends the next call to a live replica', async () => {
    expect((await scale('inventory-get', 2)).status).toBe(202);
    await until(() => pids('inventory-get').length === 2);
    await system('/system/faults', { method: 'POST', body: JSON.stringify({ store: [{ operation: 'getProducts', mode: 'slow', delayMs: 10_000, times: 1 }] }) });
    const inFlight = t.call('inventory-get', { query: { id: 'gooseneck-kettle' } });
    const busy = () => t.shop.provider.replicasOf('inventory-get')?.instances.find((r) => r.inflight > 0);
    await until(() => busy() !== undefined);
    process.kill(busy()?.child?.pid as number, 'SIGKILL');
    const cut = await inFlight;
    expect([cut.status, cut.text]).toEqual([502, "Can't reach service for: inventory-get."]);
    await system('/system/faults', { method: 'DELETE' });
    expect((await t.call('inventory-get', { query: { id: 'gooseneck-kettle' } })).status).toBe(200);
    await until(() => pids('inventory-get').length === 2);
  });

  it('scales up and down under load, answering nothing but 200', async () => {
    let loading = true;
    const statuses = new Map<number, number>();
    const shopperId = newShopperId();
    const loops = Array.from({ length: 4 }, async () => {
      while (loading) {
        const { status } = await t.call('cart-get', { query: { shopperId } });
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    });
    for (const replicas of [3, 1, 3, 1]) {
      await scale('cart-get', replicas);
      await until(() => pids('cart-get').length === replicas && (t.shop.provider.replicasOf('cart-get')?.instances.length ?? 0) === replicas);
    }
    loading = false;
    await Promise.all(loops);
    expect([...statuses.keys()]).toEqual([200]);
    report('scaling under load', { calls: statuses.get(200) ?? 0, scaleSteps: 4, statuses: JSON.stringify(Object.fromEntries(statuses)) });
  });

  it('loses no acknowledged order when an order-create replica is SIGKILLed in a checkout rush', async () => {
    await scale('order-create', 2);
    await until(() => pids('order-create').length === 2);
    const shoppers = await Promise.all(Array.from({ length: 60 }, () => shopperWith('paper-filters-100', 2)));
    const keys = new Map(shoppers.map((s) => [s, newIdempotencyKey()]));
    let acknowledged = 0;
    let killed = false;
    const answers = await Promise.all(
      shoppers.map((s) =>
        checkout(s, keys.get(s)).then((res) => {
          if (res.status === 201 && ++acknowledged === 10 && !killed) {
            killed = true;
            process.kill(pids('order-create')[0] as number, 'SIGKILL');
          }
          return { shopperId: s, status: res.status };
        }),
      ),
    );
    expect(answers.every((a) => [201, 502].includes(a.status))).toBe(true);
    // The sweep finishes (or fails) what the dead replica left half-way.
    expect((await t.call('order-sweep', { method: 'POST' })).status).toBe(200);
    const store = await openStore();
    const orders = await ordersOf(store, everyShopper);
    for (const a of answers.filter((x) => x.status === 201)) {
      expect(orders.find((o) => o.id === orderIdFor(a.shopperId, keys.get(a.shopperId) as string))?.status).toBe('confirmed');
    }
    expect(orders.filter((o) => o.status === 'pending')).toEqual([]);
    const { violations, checks } = await checkInvariant(store, orders);
    expect(violations).toEqual([]);
    report('order-create replica killed in a rush', {
      checkouts: answers.length,
      acknowledged: answers.filter((a) => a.status === 201).length,
      cutOff: answers.filter((a) => a.status === 502).length,
      confirmed: orders.filter((o) => o.status === 'confirmed').length,
      invariantChecks: checks,
    });
  });
});

describe('autoscaling', () => {
  let auto: TestShop;
  beforeAll(async () => {
    // CE's rule with shorter timings: above 5 calls/s for 1 s fires, repeated every second.
    auto = await startTestShop({ autoscale: { threshold: 5, windowMs: 2_000, forMs: 1_000, repeatMs: 1_000, evaluateEveryMs: 100 } });
  });
  afterAll(() => auto.stop());

  it('adds replicas while the calls run above 5 per second, and goes back to the minimum when they stop', async () => {
    const replicas = async () => ((await (await fetch(`${auto.shop.url}/system/function/inventory-list`, { headers: { authorization: auto.admin() } })).json()) as { replicas: number }).replicas;
    let loading = true;
    let calls = 0;
    const loops = Array.from({ length: 4 }, async () => {
      while (loading) {
        await auto.call('inventory-list');
        calls++;
      }
    });
    await until(async () => (await replicas()) === 5);
    loading = false;
    await Promise.all(loops);
    await until(async () => (await replicas()) === 1);
    await until(() => (auto.shop.provider.replicasOf('inventory-list')?.instances.length ?? 0) === 1);
    report('autoscaling', { callsUnderLoad: calls, peakReplicas: 5, backTo: 1 });
  });
});
