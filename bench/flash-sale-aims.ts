/**
 * `npm run bench` (flash sale): the aims of a rush, measured in one run on one `npm start`
 * (its own process tree at niceness 10, below the shoppers: bench/shop-process.ts; every
 * product's stock raised to a million so that the sale measures serving, not selling out).
 * Shoppers go through the storefront as the flash-sale profile of `npm run load` does (product,
 * add, checkout, place the order; no think time; Retry-After honoured), then straight at the
 * gateway with the calls those pages make (--tier gateway: the backend's own admission, without
 * the storefront's process in the way). For each tier:
 *   5 shoppers (the quiet day's checkout p50), 30 shoppers (the orders per second that fit),
 *   300 shoppers (the rush);
 * then 50 shoppers at the storefront with a normal think time (the load profile).
 * Printed with their aims: the rush's admitted checkout p99 <= 10 x the quiet checkout p50;
 * refusals answered within max(50 ms, 2 x that p50) (p99); orders/s >= 0.8 of 30 shoppers'; no
 * answer but 2xx/4xx, 429 and 503; every order confirmed and the stock invariant intact once the
 * sweep has run; 50 shoppers with think time: no refusal at any tier.
 *   FLASH_PHASE_SECONDS (10) for the 5- and 30-shopper phases, FLASH_RUSH_SECONDS (20).
 */
import './quiet';
import { join } from 'node:path';
import { openEmbeddedStore } from '../core/store/embedded';
import { checkInvariant } from '../test/support/invariant';
import { restockAll, runFlashSale, SHOP_NICENESS, type FlashSaleReport, type Tier } from './flash-sale';
import { runLoad } from './load';
import { runBench, withShopProcess, type ShopProcess } from './shop-process';
import { aim } from './stats';

const PHASE_S = Number(process.env.FLASH_PHASE_SECONDS ?? 10);
const RUSH_S = Number(process.env.FLASH_RUSH_SECONDS ?? 20);

/** Answers other than 2xx, 4xx, 429 and 503 (0: none at all). */
const unexpected = (r: FlashSaleReport) => Object.entries(r.errors.byStatus).filter(([status]) => !/^4\d\d$/.test(status)).reduce((n, [, count]) => n + count, 0);
const refusedAt = (text: string | undefined, metric: string) =>
  (text ?? '').split('\n').filter((line) => line.startsWith(metric) && /code="(429|503)"|reason=/.test(line)).reduce((n, line) => n + Number(line.split(' ').at(-1)), 0);
const storefrontMetrics = (shop: ShopProcess) => fetch(`${shop.storefrontUrl}/metrics`).then((r) => r.text());

/** 5, 30 and 300 shoppers at one tier, and the aims of the rush; the orders they placed. */
async function rushAt(shop: ShopProcess, tier: Tier, seed: number): Promise<number> {
  const sale = (users: number, seconds: number, offset: number) =>
    runFlashSale({ target: tier === 'gateway' ? shop.url : shop.storefrontUrl, tier, metricsUrl: `${shop.url}/metrics`, users, length: { seconds }, seed: seed + offset });
  console.log(`${tier}:`);
  const quiet = await sale(5, PHASE_S, 0);
  const fits = await sale(30, PHASE_S, 100);
  // prom-client's event loop figures cover the time since the last scrape: this one starts the rush's.
  await storefrontMetrics(shop);
  const rush = await sale(300, RUSH_S, 1000);
  const storefrontLag = (await storefrontMetrics(shop))
    .split('\n')
    .filter((line) => /^nodejs_eventloop_lag_(mean|p99|max)_seconds /.test(line))
    .map((line) => `${/_(mean|p99|max)_/.exec(line)?.[1]} ${Math.round(Number(line.split(' ')[1]) * 1000)} ms`);
  const p50 = quiet.steps.place.admitted.p50;
  console.log(`     5 shoppers: checkout p50 ${p50} ms, ${quiet.orders.perSecond} orders/s`);
  console.log(`    30 shoppers: ${fits.orders.perSecond} orders/s, checkout p50 ${fits.steps.place.admitted.p50} ms p99 ${fits.steps.place.admitted.p99} ms`);
  console.log(`   300 shoppers: ${rush.orders.perSecond} orders/s; admitted checkout p50 ${rush.steps.place.admitted.p50} ms p99 ${rush.steps.place.admitted.p99} ms; ${rush.refusals.count} refusals (${JSON.stringify(rush.refusals.byStatus)}) answered in p50 ${rush.refusals.p50} ms p99 ${rush.refusals.p99} ms; other answers ${JSON.stringify(rush.errors.byStatus)}`);
  console.log(`                 the shoppers' own event loop ran late by: mean ${rush.shopperLag.mean} ms, p99 ${rush.shopperLag.p99} ms${tier === 'storefront' ? `; the storefront's event loop delay: ${storefrontLag.join(', ')}` : ''}`);
  const perFunction = Object.entries(rush.functions).map(([fn, f]) => `${fn} ${f.calls} calls, ${f.refused} refused, mean ${f.meanMs} ms, p95 <= ${f.p95Ms} ms`);
  console.log(`                 at the gateway: ${perFunction.join('; ')}`);
  console.log(`  admitted checkout p99 / quiet checkout p50: ${(rush.steps.place.admitted.p99 / p50).toFixed(1)} ${aim(rush.steps.place.admitted.p99 <= 10 * p50, '<= 10')}`);
  const refusalBound = Math.max(50, 2 * p50);
  console.log(`  refusals answered within (p99): ${rush.refusals.p99} ms ${aim(rush.refusals.count > 0 && rush.refusals.p99 <= refusalBound, `<= ${refusalBound.toFixed(0)} ms`)}`);
  console.log(`  orders/s, 300 shoppers / 30: ${(rush.orders.perSecond / fits.orders.perSecond).toFixed(2)} ${aim(rush.orders.perSecond >= 0.8 * fits.orders.perSecond, '>= 0.8')}`);
  console.log(`  answers but 2xx/4xx, 429 and 503: ${unexpected(rush)} ${aim(unexpected(rush) === 0, '0')}`);
  return quiet.orders.placed + fits.orders.placed + rush.orders.placed;
}

runBench(() =>
  withShopProcess(
    async (shop, dir) => {
      await restockAll(shop.url, shop.adminToken, 1_000_000);
      console.log(`flash-sale bench: npm start as its own process tree at niceness ${SHOP_NICENESS}, node ${process.version}`);
      const placed = (await rushAt(shop, 'storefront', 1)) + (await rushAt(shop, 'gateway', 2));

      const storefrontBefore = await storefrontMetrics(shop);
      const normal = await runLoad({ target: shop.storefrontUrl, metricsUrl: `${shop.url}/metrics`, users: 50, length: { seconds: RUSH_S }, thinkMs: [1000, 10000], seed: 7 });
      const storefrontAfter = await storefrontMetrics(shop);
      const gatewayRefusals = Object.values(normal.functions).reduce((n, f) => n + f.refused, 0);
      const storefrontRefusals = refusedAt(storefrontAfter, 'storefront_refusals_total') - refusedAt(storefrontBefore, 'storefront_refusals_total');
      console.log(`50 shoppers at the storefront, think 1-10 s: ${normal.totals.requests} pages, ${normal.totals.errors} errors; refusals: gateway ${gatewayRefusals}, storefront ${storefrontRefusals} ${aim(gatewayRefusals + storefrontRefusals + normal.totals.errors === 0, '0')}`);

      // Everything acknowledged settled: the sweep gives back what refused checkouts held, then the store is read.
      for (let i = 0; i < 20; i++) {
        const swept = (await (await fetch(`${shop.url}/function/order-sweep`, { method: 'POST' })).json()) as { more?: boolean };
        if (!swept.more) break;
      }
      await shop.stop();
      const store = await openEmbeddedStore(join(dir, 'data'));
      try {
        const orders = await store.listRecentOrders(1_000_000);
        const confirmed = orders.filter((o) => o.status === 'confirmed').length;
        const invariant = await checkInvariant(store, orders);
        console.log(`orders placed (answered with their page, or 201) / confirmed in the store: ${placed} / ${confirmed} ${aim(confirmed >= placed, 'every placed order confirmed')}`);
        console.log(`stock invariant over ${orders.length} orders: ${invariant.violations.length} violations ${aim(invariant.violations.length === 0, '0')}${invariant.violations.length ? `: ${invariant.violations.slice(0, 3).join('; ')}` : ''}`);
      } finally {
        await store.close();
      }
    },
    {},
    { niceness: SHOP_NICENESS },
  ),
);
