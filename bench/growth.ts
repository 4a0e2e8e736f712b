/**
 * `npm run bench` (growth figure): does a checkout cost the same on the shop's fifty-thousandth
 * sale as on its first? 20 concurrent shoppers, in this process, each add one unit of the same
 * product to a cart and check out, through the gateway of `npm start` (a separate process tree)
 * on a fresh data directory, until N orders are placed; printed per block of 1,000 orders, with
 * last/first ratios: checkouts per second, bytes stored per order, the product document's size,
 * order-recent latency (the operator page) and the sweep's latency; and the memory of the whole
 * `npm start` tree at 10,000 orders and at the end, and how long a restart takes at the end.
 *   GROWTH_ORDERS=50000 (or --orders N)   GROWTH_SHOPPERS=20
 */
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DATABASE_FILE } from '../core/store/embedded';
import { startShopProcess } from './shop-process';
import { Answers, aim, percentile, post } from './stats';

const BLOCK = 1_000;
/** Checkouts before the first timed block, so that it does not time the processes warming up (JIT, caches). */
const WARM_UP = 500;
const PRODUCT = 'paper-filters-100';
const customer = { name: 'Growth Bench', email: 'growth@example.com', address: '1 Long Run Road' };

/** Median latency of the successful ones of `runs` sequential calls, in ms; `answers` counts them all. */
async function latency(runs: number, call: () => Promise<number>, answers: Answers): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    if (answers.add(await call())) samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return percentile(samples.sort((a, b) => a - b), 50);
}

const bytesIn = (dir: string) => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { orders: { type: 'string' } } });
  const total = Number(values.orders ?? process.env.GROWTH_ORDERS ?? 50_000);
  const shoppers = Number(process.env.GROWTH_SHOPPERS ?? 20);
  if (!Number.isInteger(total) || total < 2 * BLOCK) throw new Error(`--orders is a whole number of at least ${2 * BLOCK}`);
  const dir = mkdtempSync(join(tmpdir(), 'shop-growth-'));
  const dataDir = join(dir, 'data');
  // Every call admitted (max_inflight 0): what history costs, not how a rush is shed (bench/flash-sale-aims.ts).
  let shop = await startShopProcess(dir, { max_inflight: '0' });
  const fn = (name: string) => `${shop.url}/function/${name}`;
  const admin = { authorization: `Bearer ${shop.adminToken}` };
  const db = new Database(join(dataDir, DATABASE_FILE), { readonly: true });
  const productBytes = () => (db.prepare('SELECT length(doc) AS n FROM products WHERE id = ?').get(PRODUCT) as { n: number }).n;
  const recentAnswers = new Answers();
  const sweepAnswers = new Answers();
  const orderRecent = () =>
    latency(
      20,
      () => fetch(`${fn('order-recent')}?limit=20`, { headers: admin }).then(async (r) => (await r.arrayBuffer(), r.status), () => 0),
      recentAnswers,
    );
  const sweep = () => latency(5, () => post(fn('order-sweep'), undefined), sweepAnswers);
  console.log(`growth bench: ${total} orders of one product (after ${WARM_UP} to warm up), ${shoppers} concurrent shoppers, through the gateway of npm start (node ${process.version})`);
  try {
    await post(fn('inventory-restock'), { productId: PRODUCT, stock: 1_000_000 }, admin);
    let placed = 0;
    let next = 0;
    // Every checkout's answer (a failed cart-add counts as its checkout's); a block's rate is of orders placed.
    const statuses = new Answers();
    const blocks: { rate: number; bytes: number; productBytes: number; answers: Answers }[] = [];
    let block = new Answers();
    const atFirstBlock: { recent: number; sweep: number; bytes: number } = { recent: 0, sweep: 0, bytes: 0 };
    const memory: Record<number, ReturnType<typeof shop.memory>> = {};
    const checkoutOnce = async (shopper: number) => {
      const shopperId = `growth-shopper-${String(shopper).padStart(10, '0')}`;
      const added = await post(fn('cart-add'), { shopperId, productId: PRODUCT, quantity: 1 });
      const status = added === 200 ? await post(fn('order-create'), { shopperId, customer }, { 'idempotency-key': `growth-key-${String(next++).padStart(12, '0')}` }) : added;
      statuses.add(status);
      block.add(status);
    };
    /** `count` checkouts by `shoppers` concurrent shoppers. */
    const checkouts = async (count: number) => {
      let left = count;
      await Promise.all(
        Array.from({ length: shoppers }, async (_, shopper) => {
          while (left > 0) {
            left--;
            await checkoutOnce(shopper);
          }
        }),
      );
    };
    await checkouts(WARM_UP);
    let blockStarted = process.hrtime.bigint();
    block = new Answers();
    while (placed < total) {
      await checkouts(BLOCK);
      placed += BLOCK;
      const seconds = Number(process.hrtime.bigint() - blockStarted) / 1e9;
      blocks.push({ rate: block.ok / seconds, bytes: bytesIn(dataDir), productBytes: productBytes(), answers: block });
      block = new Answers();
      if (placed === BLOCK) Object.assign(atFirstBlock, { recent: await orderRecent(), sweep: await sweep(), bytes: bytesIn(dataDir) });
      if (placed === 10 * BLOCK || placed === total) memory[placed] = shop.memory();
      if (placed % (10 * BLOCK) === 0 || placed === total) {
        const b = blocks.at(-1) as (typeof blocks)[number];
        console.log(`  ${String(placed).padStart(7)} checkouts: ${b.rate.toFixed(0).padStart(5)} orders placed/s in the last block (${b.answers}), data ${(b.bytes / 1e6).toFixed(1)} MB, product document ${b.productBytes} bytes`);
      }
      blockStarted = process.hrtime.bigint();
    }
    const atEnd = { recent: await orderRecent(), sweep: await sweep(), bytes: bytesIn(dataDir) };
    const first = blocks[0] as (typeof blocks)[number];
    const last = blocks.at(-1) as (typeof blocks)[number];
    const throughputRatio = last.rate / first.rate;
    // Bytes per order placed: the checkouts that failed stored less (or nothing).
    const placedAfterFirst = blocks.slice(1).reduce((n, b) => n + b.answers.ok, 0);
    const perOrder = (atEnd.bytes - atFirstBlock.bytes) / placedAfterFirst;
    console.log(`answers: ${statuses} (warm-up included)`);
    console.log(`orders placed/s, last block / first block ${throughputRatio.toFixed(2)}  (${last.rate.toFixed(0)} vs ${first.rate.toFixed(0)})  ${aim(throughputRatio >= 0.9, '>= 0.9', first.answers, last.answers)}`);
    console.log(`bytes stored per order                  ${perOrder.toFixed(0)}  (data directory ${(atFirstBlock.bytes / 1e6).toFixed(1)} MB at ${BLOCK} checkouts, ${(atEnd.bytes / 1e6).toFixed(1)} MB at ${total}; ${placedAfterFirst} orders placed between)  ${aim(perOrder <= 2048, '<= 2 KB', ...blocks.slice(1).map((b) => b.answers))}`);
    console.log(`   files: ${readdirSync(dataDir).map((f) => `${f} ${(statSync(join(dataDir, f)).size / 1e6).toFixed(1)} MB`).join(', ')}`);
    console.log(`product document, last / first          ${(last.productBytes / first.productBytes).toFixed(2)}  (${last.productBytes} vs ${first.productBytes} bytes)`);
    const recentRatio = atEnd.recent / atFirstBlock.recent;
    const sweepRatio = atEnd.sweep / atFirstBlock.sweep;
    console.log(`order-recent median latency, end / start ${recentRatio.toFixed(2)}  (${atEnd.recent.toFixed(1)} ms vs ${atFirstBlock.recent.toFixed(1)} ms; ${recentAnswers})  ${aim(recentRatio <= 1.2, '<= 1.2', recentAnswers)}`);
    console.log(`order-sweep median latency, end / start  ${sweepRatio.toFixed(2)}  (${atEnd.sweep.toFixed(1)} ms vs ${atFirstBlock.sweep.toFixed(1)} ms; ${sweepAnswers})  ${aim(sweepRatio <= 1.2, '<= 1.2', sweepAnswers)}`);
    for (const [orders, m] of Object.entries(memory)) {
      console.log(`npm start memory at ${orders.padStart(6)} orders    ${m.pssMb.toFixed(0)} MB proportional (PSS), ${m.rssMb.toFixed(0)} MB resident (RSS, shared pages once per process), ${m.processes} processes`);
    }
    await shop.stop();
    shop = await startShopProcess(dir, { max_inflight: '0' });
    console.log(`restart at ${total} checkouts               ${shop.startedInMs} ms from start to serving (build cached)`);
  } finally {
    db.close();
    await shop.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
