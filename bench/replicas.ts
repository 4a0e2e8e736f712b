/**
 * `npm run bench` (replica figures): what a process per replica buys on this machine.
 * `npm start` runs as a separate process tree; the load comes from this process.
 *   1. inventory-list with 1, 2 and 3 replicas: calls per second, 32 concurrent callers
 *   2. checkout (cart-add + order-create, which calls inventory-reserve) with 1, 2 and 3
 *      replicas of each of those functions: checkouts per second, 20 concurrent shoppers
 *   3. from a scale call to the new replica serving (availableReplicas seen by polling every 5 ms)
 *   4. memory of the whole tree with one replica of each function, idle and after the load
 * For 1 and 2, the cores the whole machine kept busy in each window, and this process's share:
 * a second replica can only add throughput where one left cores idle.
 * BENCH_SECONDS (5) sets each throughput window.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startShopProcess, type ShopProcess } from './shop-process';
import { Answers, aim, percentile, throughput } from './stats';

const WINDOW_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;
const customer = { name: 'Replica Bench', email: 'replicas@example.com', address: '1 Core Street' };

/** Node's own http client with keep-alive: the lightest load generator Node has, so the shop gets the CPU. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function call(url: string, body?: unknown, headers: Record<string, string> = {}): Promise<number> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: payload ? 'POST' : 'GET', agent, headers: payload ? { 'content-type': 'application/json', ...headers } : headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-replicas-'));
  let shop: ShopProcess | undefined;
  try {
    // Every call admitted (max_inflight 0): what replicas add, not how a rush is shed (bench/flash-sale-aims.ts).
    shop = await startShopProcess(dir, { max_inflight: '0' });
    const s = shop;
    const system = (path: string, body?: unknown) =>
      fetch(`${s.url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers: { authorization: s.basicAuth }, body: body === undefined ? undefined : JSON.stringify(body) });
    const available = async (name: string) => ((await (await system(`/system/function/${name}`)).json()) as { availableReplicas: number }).availableReplicas;
    const scale = async (names: string[], replicas: number) => {
      for (const name of names) await system(`/system/scale-function/${name}`, { serviceName: name, replicas });
      for (const name of names) while ((await available(name)) !== replicas) await new Promise((r) => setTimeout(r, 20));
    };
    const post = (fn: string, body: unknown, headers: Record<string, string> = {}) => call(`${s.url}/function/${fn}`, body, headers);
    const list = () => call(`${s.url}/function/inventory-list?limit=100`);
    console.log(`replica bench: npm start as its own process tree, load from this process, ${WINDOW_MS / 1000} s windows, node ${process.version}\n`);
    const idle = s.memory();

    await post('inventory-restock', { productId: 'paper-filters-100', stock: 1_000_000 }, { authorization: `Bearer ${s.adminToken}` });
    // Only successful answers count: a listing answered 200, a checkout whose order was placed (201).
    const rates: Record<string, number[]> = { 'inventory-list': [], checkout: [] };
    const answers: Record<string, Answers[]> = { 'inventory-list': [], checkout: [] };
    const busyCores: Record<string, string[]> = { 'inventory-list': [], checkout: [] };
    let shopper = 0;
    const safe = (p: Promise<number>) => p.catch(() => 0);
    for (const replicas of [1, 2, 3]) {
      await scale(['inventory-list', 'cart-add', 'order-create', 'inventory-reserve'], replicas);
      // Warm the new replicas up before timing them.
      await throughput(16, 500, () => safe(list()));
      const listed = await throughput(32, WINDOW_MS, () => safe(list()));
      const checkedOut = await throughput(20, WINDOW_MS, async (worker, i) => {
        const shopperId = `replica-bench-${String(worker).padStart(4, '0')}-${String(replicas)}-${String(++shopper).padStart(8, '0')}`;
        const added = await safe(post('cart-add', { shopperId, productId: 'paper-filters-100', quantity: 1 }));
        if (added !== 200) return added;
        return safe(post('order-create', { shopperId, customer }, { 'idempotency-key': `replica-bench-key-${replicas}-${worker}-${i}-${shopper}` }));
      });
      for (const [what, measured] of [['inventory-list', listed], ['checkout', checkedOut]] as const) {
        rates[what]?.push(measured.rate);
        answers[what]?.push(measured.answers);
        const { busy, byLoad, stolen } = measured.cores;
        busyCores[what]?.push(`${busy.toFixed(2)} (${byLoad.toFixed(2)}${stolen >= 0.01 ? `; ${stolen.toFixed(2)} stolen` : ''})`);
      }
    }
    for (const [what, perReplicas] of Object.entries(rates)) {
      const [one = 0, two = 0, three = 0] = perReplicas;
      const unit = what === 'checkout' ? 'checkouts/s' : 'calls/s';
      console.log(`${what.padEnd(15)} 1 replica ${one.toFixed(0).padStart(5)} ${unit}, 2 replicas ${two.toFixed(0).padStart(5)} (${(two / one).toFixed(2)}x), 3 replicas ${three.toFixed(0).padStart(5)} (${(three / one).toFixed(2)}x)`);
      console.log(`${''.padEnd(15)} answers with 1, 2, 3 replicas: ${answers[what]?.join('; ')}`);
      console.log(`${''.padEnd(15)} cores of ${cpus().length} busy, machine-wide (of them, this bench's load generator) with 1, 2, 3 replicas: ${busyCores[what]?.join(', ')}`);
    }
    const gain = (what: string) => (rates[what]?.[1] ?? 0) / (rates[what]?.[0] ?? 1);
    console.log(`   2 replicas / 1 of inventory-list (CPU-bound): ${gain('inventory-list').toFixed(2)}  ${aim(gain('inventory-list') >= 1.3, '>= 1.3', ...(answers['inventory-list'] ?? []).slice(0, 2))}`);
    console.log(`   2 replicas / 1 of cart-add, order-create and inventory-reserve, checkouts: ${gain('checkout').toFixed(2)}  ${aim(gain('checkout') >= 1.3, '>= 1.3', ...(answers.checkout ?? []).slice(0, 2))}`);

    await scale(['inventory-list', 'cart-add', 'order-create', 'inventory-reserve'], 1);
    const times: number[] = [];
    const scaleCalls = new Answers();
    for (let i = 0; i < 5; i++) {
      const started = process.hrtime.bigint();
      scaleCalls.add((await system('/system/scale-function/cart-get', { serviceName: 'cart-get', replicas: 2 })).status);
      while ((await available('cart-get')) !== 2) await new Promise((r) => setTimeout(r, 5));
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      await scale(['cart-get'], 1);
    }
    const median = percentile(times.sort((a, b) => a - b), 50);
    console.log(`scale call -> new replica serving: median ${median.toFixed(0)} ms of ${times.length} (${times.map((t) => t.toFixed(0)).join(', ')} ms)  ${aim(median <= 1000, '<= 1 s', scaleCalls)}`);

    const loaded = s.memory();
    for (const [when, m] of [['idle', idle], ['after the load', loaded]] as const) {
      console.log(`npm start memory, ${when.padEnd(14)} ${m.pssMb.toFixed(0)} MB proportional (PSS), ${m.rssMb.toFixed(0)} MB resident (RSS, counting the code the processes share once per process), ${m.processes} processes`);
    }
    console.log(`   one replica of each function: ${aim(idle.pssMb <= 1024, '<= 1 GB, PSS')}`);
  } finally {
    await shop?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
