/**
 * `npm run bench`: checkout throughput through the local gateway, with its method printed.
 *
 * 100 concurrent shoppers, each with one line in the cart and plentiful stock, check out
 * in rounds; the same shoppers' cart-add calls are measured the same way for the ratio.
 * Both go over HTTP through the gateway, the node20 emulation and the built bundles, on the
 * embedded store in a fresh temporary data directory.
 */
import './quiet';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startShop } from '../runtime/shop';
import { Answers, post } from './stats';

const SHOPPERS = Number(process.env.BENCH_SHOPPERS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const id = () => randomBytes(16).toString('base64url');

/** Successful calls per second over ROUNDS rounds; the failed ones are printed beside it. */
async function callsPerSecond(label: string, calls: () => Promise<number>[]): Promise<{ rate: number; answers: Answers }> {
  let total = 0;
  const answers = new Answers();
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    const results = await Promise.all(calls());
    total += Number(process.hrtime.bigint() - started) / 1e9;
    for (const s of results) answers.add(s);
  }
  const rate = answers.ok / total;
  console.log(`${label.padEnd(34)} ${rate.toFixed(0).padStart(6)} successful calls/s  (${answers})`);
  return { rate, answers };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-bench-'));
  // Every call admitted (max_inflight 0): throughput, not how a rush is shed (bench/flash-sale-aims.ts).
  const shop = await startShop({ port: 0, dataDir: join(dir, 'data'), secretsDir: join(dir, 'secrets'), functionEnv: { max_inflight: '0' } });
  const fn = (name: string) => `${shop.url}/function/${name}`;
  try {
    await post(fn('inventory-restock'), { productId: 'paper-filters-100', stock: 1_000_000 }, { authorization: `Bearer ${shop.secrets['shop-admin-token']}` });
    const shoppers = Array.from({ length: SHOPPERS }, id);
    console.log(`checkout bench: ${SHOPPERS} concurrent shoppers x ${ROUNDS} rounds, embedded store, node ${process.version}`);

    const adds = await callsPerSecond('cart-add', () => shoppers.map((s) => post(fn('cart-add'), { shopperId: s, productId: 'paper-filters-100', quantity: 1 })));
    const orders = await callsPerSecond('order-create (checkout)', () =>
      shoppers.map(async (s) => {
        // Each round every shopper has a fresh one-line cart (the previous checkout emptied it); a
        // cart-add that failed makes the checkout count as failed with its status.
        const added = await post(fn('cart-add'), { shopperId: s, productId: 'paper-filters-100', quantity: 1 });
        if (added !== 200) return added;
        return post(fn('order-create'), { shopperId: s, customer: { name: 'Bench', email: 'bench@example.com', address: '1 Load St' } }, { 'idempotency-key': id() });
      }),
    );
    const failed = adds.answers.failed + orders.answers.failed;
    console.log(
      failed > 0
        ? `ratio order-create / cart-add          not given: ${failed} calls failed (see above)`
        : `ratio order-create / cart-add          ${(orders.rate / adds.rate).toFixed(2)}  (order-create rounds include one cart-add per shopper: not the figure 3 of bench/ratios.ts)`,
    );
  } finally {
    await shop.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
