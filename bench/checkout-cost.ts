/**
 * `npm run bench` (checkout cost): what one checkout asks of the store, and how writers share
 * the embedded store's one write lock.
 *   1. Sequential checkouts on a quiet store, in this process (order-create's steps and
 *      inventory-reserve's, the reservation called in-process): synced commits per checkout
 *      (each one fsync of the write-ahead log), and store operations per checkout, which is
 *      what a checkout pays in round trips on MongoDB. One line, and three lines.
 *   2. Several processes checking out at once on one database, each with several checkouts in
 *      flight, as replicas do: checkouts per second, commits per checkout (writes that arrive
 *      together share a commit), and how long writes waited for the write lock (p50, p99).
 *   3. Where a sequential checkout's time goes through `npm start` (the storefront left out):
 *      wall time per checkout, and the CPU each process of the tree spent per checkout (from
 *      /proc: the gateway, order-create, inventory-reserve...); what is left of the wall time
 *      is waiting: the syncs, the hops' scheduling, the lock.
 * The store is the embedded one on a fresh data directory; the figures count checkouts that
 * were confirmed, and print every other outcome.
 *   COST_CHECKOUTS (320) sequential checkouts per case; COST_SECONDS (5) per contention case.
 */
import './quiet';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { placeOrder, type CheckoutDeps } from '../core/checkout';
import { toShopError } from '../core/errors';
import { releaseStock, reserveStock } from '../core/inventory';
import { LOCK_WAIT_BUCKETS_MS, openEmbeddedStore, storeStats, type StoreStats } from '../core/store/embedded';
import type { ShopStore } from '../core/store/store';
import { aim, post } from './stats';
import { processTree, withShopProcess } from './shop-process';
import { procStatFields } from '../test/support/proc-stat';
import { readFileSync } from 'node:fs';

const SEQUENTIAL = Number(process.env.COST_CHECKOUTS ?? 320);
const SECONDS = Number(process.env.COST_SECONDS ?? 5);
const customer = { name: 'Cost Bench', email: 'cost@example.com', address: '1 Ledger Lane' };
const id = () => randomBytes(16).toString('base64url');
const lineIds = (lines: number) => Array.from({ length: lines }, (_, i) => `bench-item-${i}`);

/** order-create's dependencies with inventory-reserve and -release answered in this process, on the same store. */
function checkoutDeps(store: ShopStore): CheckoutDeps {
  return {
    store,
    now: () => new Date().toISOString(),
    inventory: { reserve: (orderId, items) => reserveStock(store, orderId, items), release: (orderId) => releaseStock(store, orderId) },
  };
}

async function stockUp(store: ShopStore, lines: number): Promise<void> {
  for (const productId of lineIds(lines)) {
    await store.putProduct({ id: productId, name: productId, description: 'bench', priceCents: 100, stock: 10_000_000, image: `/images/${productId}.svg` });
  }
}

/** One shopper's cart with `lines` lines, then its checkout; the outcome's status. */
async function checkout(store: ShopStore, lines: number, onlyCheckout?: () => void): Promise<number> {
  const shopperId = id();
  await store.replaceCart(shopperId, lineIds(lines).map((productId) => ({ productId, quantity: 1 })), 0, new Date().toISOString());
  onlyCheckout?.();
  try {
    await placeOrder(checkoutDeps(store), { shopperId, customer, idempotencyKey: id() });
    return 201;
  } catch (error) {
    return toShopError(error).status;
  }
}

const snapshot = (): StoreStats => ({ ...storeStats, lockWaitMs: [...storeStats.lockWaitMs] });
const since = (before: StoreStats) => ({
  reads: storeStats.reads - before.reads,
  writes: storeStats.writes - before.writes,
  commits: storeStats.commits - before.commits,
  busy: storeStats.busy - before.busy,
  lockWaitMs: storeStats.lockWaitMs.map((n, i) => n - (before.lockWaitMs[i] ?? 0)),
});

/** Sequential checkouts: what each one costs, the cart's own write left out. */
async function sequential(lines: number): Promise<{ commits: number; reads: number; writes: number; confirmed: number; other: Record<number, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-cost-'));
  const store = await openEmbeddedStore(dir);
  try {
    await stockUp(store, lines);
    await store.flushLedger();
    let confirmed = 0;
    const other: Record<number, number> = {};
    const totals = { reads: 0, writes: 0, commits: 0 };
    for (let i = 0; i < SEQUENTIAL; i++) {
      let before = snapshot();
      const status = await checkout(store, lines, () => (before = snapshot()));
      const cost = since(before);
      if (status !== 201) {
        other[status] = (other[status] ?? 0) + 1;
        continue;
      }
      confirmed++;
      totals.reads += cost.reads;
      totals.writes += cost.writes;
      totals.commits += cost.commits;
    }
    return { ...totals, confirmed, other };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A worker process: `inFlight` checkouts at a time for SECONDS, then its counts on stdout. */
async function worker(dataDir: string, inFlight: number, lines: number): Promise<void> {
  const store = await openEmbeddedStore(dataDir);
  const before = snapshot();
  const statuses: Record<number, number> = {};
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < until) {
        const status = await checkout(store, lines);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  await store.close();
  process.stdout.write(JSON.stringify({ statuses, stats: since(before) }));
}

function percentileOf(histogram: number[], p: number): number {
  const total = histogram.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (const [i, n] of histogram.entries()) {
    seen += n;
    if (seen >= (p / 100) * total) return LOCK_WAIT_BUCKETS_MS[i] as number;
  }
  return NaN;
}

async function contention(processes: number, inFlight: number, lines: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-cost-'));
  const store = await openEmbeddedStore(dir);
  await stockUp(store, lines);
  await store.close();
  try {
    const started = process.hrtime.bigint();
    const outputs = await Promise.all(
      Array.from({ length: processes }, () => {
        const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--worker', dir, String(inFlight), String(lines)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        return new Promise<{ statuses: Record<number, number>; stats: ReturnType<typeof since> }>((resolve, reject) =>
          child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { statuses: Record<number, number>; stats: ReturnType<typeof since> }) : reject(new Error(`worker exited ${code}`)))),
        );
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const statuses: Record<number, number> = {};
    const waits = LOCK_WAIT_BUCKETS_MS.map(() => 0);
    let commits = 0;
    for (const o of outputs) {
      for (const [s, n] of Object.entries(o.statuses)) statuses[Number(s)] = (statuses[Number(s)] ?? 0) + n;
      o.stats.lockWaitMs.forEach((n, i) => (waits[i] = (waits[i] ?? 0) + n));
      commits += o.stats.commits;
    }
    const confirmed = statuses[201] ?? 0;
    const others = Object.entries(statuses).filter(([s]) => s !== '201');
    return (
      `${String(processes).padStart(2)} processes x ${String(inFlight).padStart(2)} in flight: ${(confirmed / seconds).toFixed(0).padStart(5)} checkouts/s, ` +
      `${(commits / Math.max(1, confirmed)).toFixed(2)} commits per checkout, lock wait p50 <= ${percentileOf(waits, 50)} ms, p99 <= ${percentileOf(waits, 99)} ms` +
      (others.length ? `; NOT confirmed: ${JSON.stringify(Object.fromEntries(others))}` : '')
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`checkout cost bench, embedded store (synchronous=FULL), node ${process.version}\n`);
  console.log(`1. ${SEQUENTIAL} sequential checkouts on a quiet store (order-create and inventory-reserve's store work, in one process):`);
  for (const [lines, most] of [
    [1, 5],
    [3, 9],
  ] as const) {
    const r = await sequential(lines);
    const per = (n: number) => (n / Math.max(1, r.confirmed)).toFixed(2);
    const failed = Object.keys(r.other).length ? `; NOT confirmed: ${JSON.stringify(r.other)}` : '';
    const commits = r.commits / Math.max(1, r.confirmed);
    console.log(`   ${lines} line${lines > 1 ? 's' : ' '}: ${per(r.commits)} synced commits per checkout ${r.confirmed === SEQUENTIAL ? aim(commits <= most, `<= ${most}`) : 'NOT MEASURED: checkouts failed'}${failed}`);
    console.log(`            ${per(r.reads + r.writes)} store operations per checkout (${per(r.reads)} reads, ${per(r.writes)} writes): on MongoDB, one round trip each`);
  }
  console.log(`\n2. processes checking out at once on one database, one-line carts, ${SECONDS} s each:`);
  for (const [processes, inFlight] of [
    [1, 1],
    [1, 16],
    [2, 16],
    [4, 16],
  ] as const) {
    console.log(`   ${await contention(processes, inFlight, 1)}`);
  }
  console.log(`\n3. where a sequential one-line checkout's time goes, through npm start's gateway (CPU from /proc, per process):`);
  await breakdown();
}

/** CPU seconds (user + system) each process of the tree has used, by what it runs. */
function cpuByProcess(root: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const pid of processTree(root)) {
    try {
      const fields = procStatFields(`/proc/${pid}/stat`);
      const seconds = (Number(fields[11]) + Number(fields[12])) / 100;
      const handler = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('FUNCTION_HANDLER='));
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const name = handler ? (handler.split('/').at(-2) as string) : cmd.includes('runtime/main.ts') ? 'gateway (the runtime)' : cmd.includes('server.js') ? 'storefront' : 'npm and sh';
      byName.set(name, (byName.get(name) ?? 0) + seconds);
    } catch {
      // gone meanwhile
    }
  }
  return byName;
}

function breakdown(): Promise<void> {
  return withShopProcess(async (shop) => {
    const n = Math.min(SEQUENTIAL, 150);
    const shoppers = Array.from({ length: n }, id);
    for (const shopperId of shoppers) await post(`${shop.url}/function/cart-add`, { shopperId, productId: 'paper-filters-100', quantity: 1 });
    const before = cpuByProcess(shop.child.pid as number);
    const started = performance.now();
    let placed = 0;
    for (const shopperId of shoppers) {
      if ((await post(`${shop.url}/function/order-create`, { shopperId, customer }, { 'idempotency-key': id() })) === 201) placed++;
    }
    const wallMs = (performance.now() - started) / Math.max(1, placed);
    const after = cpuByProcess(shop.child.pid as number);
    const all = [...after].map(([name, s]) => [name, ((s - (before.get(name) ?? 0)) * 1000) / Math.max(1, placed)] as const).sort((a, b) => b[1] - a[1]);
    const cpu = all.reduce((sum, [, ms]) => sum + ms, 0);
    // The functions a checkout does not call spend a little on their probes meanwhile: one line for them.
    const idle = all.filter(([, ms]) => ms < 0.5);
    const rows = [...all.filter(([, ms]) => ms >= 0.5), [`the ${idle.length} other processes (probes, timers)`, idle.reduce((sum, [, ms]) => sum + ms, 0)] as const];
    console.log(`   ${placed} of ${n} placed${placed < n ? ' (NOT all)' : ''}: ${wallMs.toFixed(1)} ms per checkout, of which CPU ${cpu.toFixed(1)} ms (${((100 * cpu) / wallMs).toFixed(0)}%):`);
    for (const [name, ms] of rows) console.log(`     ${ms.toFixed(2).padStart(6)} ms  ${name}`);
    console.log(`   the rest, ${(wallMs - cpu).toFixed(1)} ms, is waiting: syncs (part 1), hops between processes, timers`);
  });
}

const workerAt = process.argv.indexOf('--worker');
(workerAt >= 0 ? worker(process.argv[workerAt + 1] as string, Number(process.argv[workerAt + 2]), Number(process.argv[workerAt + 3])) : main()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
