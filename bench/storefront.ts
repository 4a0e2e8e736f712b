/**
 * Storefront latency under load: virtual shoppers, each with its own cookies, browse the
 * home page and check out, all at once, through the storefront, the local gateway and the
 * functions of `npm start` (its own process tree) on a fresh embedded store. A page refused
 * busy (503 or 429 + Retry-After) is asked again after the time it names, as a shopper does; a
 * refused order is sent again from the form the busy page gave back (the same Idempotency-Key).
 * Prints p50/p95/p99 per step over the pages that were served, the refusals, and the checkout's
 * p99 against its aim.
 *   BENCH_SHOPPERS (50) concurrent shoppers, BENCH_VISITS (20) home page views and
 *   BENCH_CHECKOUTS (3) checkouts each.
 */
import './quiet';
import { comeBackAfterMs, field, formAgain } from './flash-sale';
import { Shopper } from './load';
import { runBench, withShopProcess } from './shop-process';
import { aim, percentile, summary } from './stats';

const SHOPPERS = Number(process.env.BENCH_SHOPPERS ?? 50);
const VISITS = Number(process.env.BENCH_VISITS ?? 20);
const CHECKOUTS = Number(process.env.BENCH_CHECKOUTS ?? 3);
/** Refusals of one page a shopper sits through before giving up on it (a failure). */
const PATIENCE = 10;

/**
 * A shopper's page loads: the served page's HTML, its time (the answer that served it) pushed
 * to `samples`; a refusal waits its Retry-After and asks again; any other 4xx or 5xx throws.
 */
function shopper(base: string, refused: Map<string, number>) {
  const visitor = new Shopper(base);
  return async (path: string, form?: Record<string, string>, samples?: number[]): Promise<string> => {
    for (let attempt = 0; ; attempt++) {
      const t0 = process.hrtime.bigint();
      const { status, html, headers } = await visitor.request(path, form);
      if (status === 503 || status === 429) {
        refused.set(path, (refused.get(path) ?? 0) + 1);
        if (attempt === PATIENCE) throw new Error(`${path} refused ${PATIENCE + 1} times`);
        if (form) form = formAgain(form, html);
        await new Promise((resolve) => setTimeout(resolve, comeBackAfterMs({ headers }, { next: Math.random })));
        continue;
      }
      if (status >= 400) throw new Error(`${path} answered ${status}`);
      samples?.push(Number(process.hrtime.bigint() - t0) / 1e6);
      return html;
    }
  };
}

// npm start as its own process tree (storefront, gateway, replicas): the shoppers come from this process.
runBench(() =>
  withShopProcess(async (shop) => {
    await fetch(`${shop.url}/function/inventory-restock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${shop.adminToken}` },
      body: JSON.stringify({ productId: 'paper-filters-100', stock: 1_000_000 }),
    });
    const home: number[] = [];
    const checkout: number[] = [];
    let failures = 0;
    const failed = new Map<string, number>();
    const refused = new Map<string, number>();
    const fail = (error: unknown) => {
      failures++;
      const why = (error as Error).message.replace(/^\/[^ ]*/, (path) => (path.startsWith('/checkout') ? path : path.split('?')[0] as string));
      failed.set(why, (failed.get(why) ?? 0) + 1);
    };
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: SHOPPERS }, async () => {
        const visit = shopper(shop.storefrontUrl, refused);
        await visit('/');
        for (let i = 0; i < VISITS; i++) await visit('/', undefined, home).catch(fail);
        for (let i = 0; i < CHECKOUTS; i++) {
          try {
            await visit('/cart/add', { productId: 'paper-filters-100', quantity: '1' });
            const form = await visit('/checkout');
            await visit('/checkout', { idempotencyKey: field(form, 'idempotencyKey') ?? '', name: 'Bench', email: 'bench@example.com', address: '1 Load St' }, checkout);
          } catch (error) {
            fail(error);
          }
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const refusals = [...refused.values()].reduce((n, count) => n + count, 0);
    console.log(`storefront bench: ${SHOPPERS} concurrent shoppers, ${VISITS} home views + ${CHECKOUTS} checkouts each, ${seconds.toFixed(1)} s, ${failures} failures${failures ? ` (${[...failed].map(([why, n]) => `${n}: ${why}`).join(', ')})` : ''}`);
    console.log(`refused busy and asked again after Retry-After: ${refusals}${refusals ? ` (${[...refused].map(([path, n]) => `${path}: ${n}`).join(', ')})` : ''}`);
    console.log(summary('home page (GET /)', home, seconds));
    console.log(summary('checkout (POST /checkout)', checkout, seconds));
    const sorted = [...checkout].sort((a, b) => a - b);
    const [p50, p99] = [percentile(sorted, 50), percentile(sorted, 99)];
    const tail = failures ? `NOT MET: ${failures} page loads failed` : aim(p99 <= 500 && p99 <= 3 * p50, '<= 500 ms and <= 3 x p50');
    console.log(`checkout p99 ${p99.toFixed(0)} ms, ${(p99 / p50).toFixed(1)} x its p50  ${tail}`);
  }),
);
