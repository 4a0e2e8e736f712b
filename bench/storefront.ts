/**
 * Storefront latency under load: virtual shoppers, each with its own cookies, browse the
 * home page and check out, all at once, through the storefront, the local gateway and the
 * functions on a fresh embedded store. Prints p50/p95/p99 per step.
 *   BENCH_SHOPPERS (50) concurrent shoppers, BENCH_VISITS (20) home page views and
 *   BENCH_CHECKOUTS (3) checkouts each.
 */
import './quiet';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStorefront } from '../frontend/server';
import { startShop } from '../runtime/shop';
import { Shopper } from './load';
import { summary, timed } from './stats';

const SHOPPERS = Number(process.env.BENCH_SHOPPERS ?? 50);
const VISITS = Number(process.env.BENCH_VISITS ?? 20);
const CHECKOUTS = Number(process.env.BENCH_CHECKOUTS ?? 3);

/** A shopper's page loads; any 4xx or 5xx counts as a failure. */
function shopper(base: string) {
  const visitor = new Shopper(base);
  return async (path: string, form?: Record<string, string>): Promise<string> => {
    const { status, html } = await visitor.request(path, form);
    if (status >= 400) throw new Error(`${path} answered ${status}`);
    return html;
  };
}

const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(html)?.[1] ?? '';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-bench-'));
  const shop = await startShop({ port: 0, dataDir: join(dir, 'data'), secretsDir: join(dir, 'secrets') });
  const storefront = await startStorefront({ port: 0, host: '127.0.0.1', gatewayUrl: shop.url, cookieSecret: 'bench-cookie-secret-bench-cookie-secret' });
  try {
    await fetch(`${shop.url}/function/inventory-restock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${shop.secrets['shop-admin-token']}` },
      body: JSON.stringify({ productId: 'paper-filters-100', stock: 1_000_000 }),
    });
    const home: number[] = [];
    const checkout: number[] = [];
    let failures = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: SHOPPERS }, async () => {
        const visit = shopper(storefront.url);
        await visit('/');
        for (let i = 0; i < VISITS; i++) await timed(home, () => visit('/')).catch(() => failures++);
        for (let i = 0; i < CHECKOUTS; i++) {
          try {
            await visit('/cart/add', { productId: 'paper-filters-100', quantity: '1' });
            const form = await visit('/checkout');
            await timed(checkout, () =>
              visit('/checkout', { idempotencyKey: field(form, 'idempotencyKey'), name: 'Bench', email: 'bench@example.com', address: '1 Load St' }),
            );
          } catch {
            failures++;
          }
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(`storefront bench: ${SHOPPERS} concurrent shoppers, ${VISITS} home views + ${CHECKOUTS} checkouts each, ${seconds.toFixed(1)} s, ${failures} failures`);
    console.log(summary('home page (GET /)', home, seconds));
    console.log(summary('checkout (POST /checkout)', checkout, seconds));
  } finally {
    await storefront.close();
    await shop.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
