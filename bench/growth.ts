/**
 * `npm run bench` (growth figure): does a checkout cost the same on the shop's ten-thousandth
 * sale as on its first? 20 concurrent shoppers each add one unit of the same product to a cart
 * and check out, through the gateway of a local runtime on a fresh data directory, until N
 * orders are placed; printed per block of 1,000 orders, with last/first ratios:
 *   checkouts per second, bytes stored per order, the product document's size,
 *   order-recent latency (the operator page) and the sweep's latency.
 *   GROWTH_ORDERS=50000 (or --orders N)   GROWTH_SHOPPERS=20
 */
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DATABASE_FILE } from '../core/store/embedded';
import { startShop } from '../runtime/shop';
import { percentile } from './stats';

const BLOCK = 1_000;
const PRODUCT = 'paper-filters-100';
const customer = { name: 'Growth Bench', email: 'growth@example.com', address: '1 Long Run Road' };

const aim = (ok: boolean, text: string) => (ok ? `meets the aim (${text})` : `BELOW the aim (${text})`);

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** Median latency of `runs` sequential calls, in ms. */
async function latency(runs: number, call: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return percentile(samples.sort((a, b) => a - b), 50);
}

const bytesIn = (dir: string) => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { orders: { type: 'string' } } });
  const total = Number(values.orders ?? process.env.GROWTH_ORDERS ?? 50_000);
  const shoppers = Number(process.env.GROWTH_SHOPPERS ?? 20);
  if (!Number.isInteger(total) || total < 2 * BLOCK) throw new Error(`--orders is a whole number of at least ${2 * BLOCK}`);
  process.env.LOG_LEVEL ??= 'silent';
  const dir = mkdtempSync(join(tmpdir(), 'shop-growth-'));
  const dataDir = join(dir, 'data');
  const shop = await startShop({ port: 0, dataDir, secretsDir: join(dir, 'secrets'), sweepEveryMs: 0 });
  const fn = (name: string) => `${shop.url}/function/${name}`;
  const admin = { authorization: `Bearer ${shop.secrets['shop-admin-token']}` };
  const db = new Database(join(dataDir, DATABASE_FILE), { readonly: true });
  const productBytes = () => (db.prepare('SELECT length(doc) AS n FROM products WHERE id = ?').get(PRODUCT) as { n: number }).n;
  const orderRecent = () => latency(20, () => fetch(`${fn('order-recent')}?limit=20`, { headers: admin }).then((r) => r.arrayBuffer()));
  const sweep = () => latency(5, () => post(fn('order-sweep'), undefined));
  console.log(`growth bench: ${total} orders of one product, ${shoppers} concurrent shoppers, through the gateway (node ${process.version})`);
  try {
    await post(fn('inventory-restock'), { productId: PRODUCT, stock: 1_000_000 }, admin);
    let placed = 0;
    let next = 0;
    const statuses = new Map<number, number>();
    const blocks: { rate: number; bytes: number; productBytes: number }[] = [];
    const atFirstBlock: { recent: number; sweep: number; bytes: number } = { recent: 0, sweep: 0, bytes: 0 };
    let blockStarted = process.hrtime.bigint();
    const checkoutOnce = async (shopper: number) => {
      const shopperId = `growth-shopper-${String(shopper).padStart(10, '0')}`;
      await post(fn('cart-add'), { shopperId, productId: PRODUCT, quantity: 1 });
      const status = await post(fn('order-create'), { shopperId, customer }, { 'idempotency-key': `growth-key-${String(next++).padStart(12, '0')}` });
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    };
    while (placed < total) {
      // One block: `BLOCK` checkouts by `shoppers` concurrent shoppers.
      let left = BLOCK;
      await Promise.all(
        Array.from({ length: shoppers }, async (_, shopper) => {
          while (left > 0) {
            left--;
            await checkoutOnce(shopper);
          }
        }),
      );
      placed += BLOCK;
      const seconds = Number(process.hrtime.bigint() - blockStarted) / 1e9;
      blocks.push({ rate: BLOCK / seconds, bytes: bytesIn(dataDir), productBytes: productBytes() });
      if (placed === BLOCK) Object.assign(atFirstBlock, { recent: await orderRecent(), sweep: await sweep(), bytes: bytesIn(dataDir) });
      if (placed % (10 * BLOCK) === 0 || placed === total) {
        const b = blocks.at(-1) as (typeof blocks)[number];
        console.log(`  ${String(placed).padStart(7)} orders: ${b.rate.toFixed(0).padStart(5)} checkouts/s in the last block, data ${(b.bytes / 1e6).toFixed(1)} MB, product document ${b.productBytes} bytes`);
      }
      blockStarted = process.hrtime.bigint();
    }
    const atEnd = { recent: await orderRecent(), sweep: await sweep(), bytes: bytesIn(dataDir) };
    const first = blocks[0] as (typeof blocks)[number];
    const last = blocks.at(-1) as (typeof blocks)[number];
    const throughputRatio = last.rate / first.rate;
    const perOrder = (atEnd.bytes - atFirstBlock.bytes) / (total - BLOCK);
    console.log(`answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
    console.log(`checkouts/s, last block / first block   ${throughputRatio.toFixed(2)}  (${last.rate.toFixed(0)} vs ${first.rate.toFixed(0)})  ${aim(throughputRatio >= 0.9, '>= 0.9')}`);
    console.log(`bytes stored per order                  ${perOrder.toFixed(0)}  (data directory ${(atFirstBlock.bytes / 1e6).toFixed(1)} MB at ${BLOCK} orders, ${(atEnd.bytes / 1e6).toFixed(1)} MB at ${total})  ${aim(perOrder <= 2048, '<= 2 KB')}`);
    console.log(`product document, last / first          ${(last.productBytes / first.productBytes).toFixed(2)}  (${last.productBytes} vs ${first.productBytes} bytes)`);
    const recentRatio = atEnd.recent / atFirstBlock.recent;
    const sweepRatio = atEnd.sweep / atFirstBlock.sweep;
    console.log(`order-recent median latency, end / start ${recentRatio.toFixed(2)}  (${atEnd.recent.toFixed(1)} ms vs ${atFirstBlock.recent.toFixed(1)} ms)  ${aim(recentRatio <= 1.2, '<= 1.2')}`);
    console.log(`order-sweep median latency, end / start  ${sweepRatio.toFixed(2)}  (${atEnd.sweep.toFixed(1)} ms vs ${atFirstBlock.sweep.toFixed(1)} ms)  ${aim(sweepRatio <= 1.2, '<= 1.2')}`);
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
