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
import { post } from './stats';

const SHOPPERS = Number(process.env.BENCH_SHOPPERS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const id = () => randomBytes(16).toString('base64url');

async function callsPerSecond(label: string, calls: () => Promise<number>[]): Promise<number> {
  let total = 0;
  let count = 0;
  const statuses = new Map<number, number>();
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    const results = await Promise.all(calls());
    total += Number(process.hrtime.bigint() - started) / 1e9;
    count += results.length;
    for (const s of results) statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  const perSecond = count / total;
  console.log(`${label.padEnd(34)} ${perSecond.toFixed(0).padStart(6)} calls/s  (${count} calls, statuses ${JSON.stringify(Object.fromEntries(statuses))})`);
  return perSecond;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-bench-'));
  const shop = await startShop({ port: 0, dataDir: join(dir, 'data'), secretsDir: join(dir, 'secrets') });
  const fn = (name: string) => `${shop.url}/function/${name}`;
  try {
    await post(fn('inventory-restock'), { productId: 'paper-filters-100', stock: 1_000_000 }, { authorization: `Bearer ${shop.secrets['shop-admin-token']}` });
    const shoppers = Array.from({ length: SHOPPERS }, id);
    console.log(`checkout bench: ${SHOPPERS} concurrent shoppers x ${ROUNDS} rounds, embedded store, node ${process.version}`);

    const adds = await callsPerSecond('cart-add', () => shoppers.map((s) => post(fn('cart-add'), { shopperId: s, productId: 'paper-filters-100', quantity: 1 })));
    const orders = await callsPerSecond('order-create (checkout)', () =>
      shoppers.map(async (s) => {
        // Each round every shopper has a fresh one-line cart (the previous checkout emptied it).
        await post(fn('cart-add'), { shopperId: s, productId: 'paper-filters-100', quantity: 1 });
        return post(fn('order-create'), { shopperId: s, customer: { name: 'Bench', email: 'bench@example.com', address: '1 Load St' } }, { 'idempotency-key': id() });
      }),
    );
    console.log(`ratio order-create / cart-add          ${(orders / adds).toFixed(2)}  (order-create rounds include one cart-add per shopper)`);
  } finally {
    await shop.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
