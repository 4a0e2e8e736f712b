/**
 * `npm run load -- --profile flash-sale`: a rush at the storefront. Every virtual shopper arrives
 * within the first second and then, with no think time, looks at a product, adds it, opens the
 * checkout and places the order, again and again (300 shoppers for 20 s unless told otherwise).
 * Shoppers go the browser's way: each keeps its own connection, a form's redirect is followed,
 * and a step is done when its page is a 2xx. A refused answer (429 or 503)
 * is honoured: the shopper waits what its Retry-After says (held to 1-30 s, 1 s when it says
 * nothing, plus up to a tenth more so that the refused do not all come back at once) and sends
 * the same request again; a refused order is sent again from the form the shop gave back (the
 * same Idempotency-Key, unless the shop minted a new one).
 *
 * With --tier gateway the shoppers skip the storefront and make, straight at the gateway, the
 * calls its pages make (inventory-get, cart-add, cart-get, order-create with an Idempotency-Key):
 * the backend's own admission, measured without the storefront's process in the way.
 *
 * The report keeps apart the work (steps that ended on a 2xx page; orders placed, whose rate is
 * the goodput), the refusals (every refused answer, with its own latency) and the errors (any
 * other answer, or none). A step's admitted latency leaves out its refused attempts and their
 * waits. Both also per second of the run, in the console, the JSON and the HTML page.
 *
 *   npm run load -- --profile flash-sale [--users 300] [--duration 20 | --iterations N]
 *                   [--tier storefront|gateway] [--seed 1] [--target URL --metrics URL] [--out load-report]
 *
 * Without --target it runs `npm start` as its own process tree on a fresh data directory (the
 * shoppers' own work stays out of the storefront's event loop), at niceness 10 (the shoppers'
 * browsers do not share the shop's CPU: run on the same cores at the same priority, they wait for
 * it and add that wait to every latency they measure), every product's stock raised to a million
 * so that the sale measures serving, not selling out.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { chart, esc, functionStats, functionsTable, lengthOf, scrape, Shopper, wholeNumber, writeFiles, type FunctionStats, type LoadArgs, type LoadOptions } from './load';
import { retryAfterSeconds } from '../core/duration';
import { seededRandom, type Random } from './random';
import { percentile } from './stats';

export type SaleStep = 'product' | 'add' | 'checkout' | 'place';
const STEPS: SaleStep[] = ['product', 'add', 'checkout', 'place'];
const CUSTOMER = { name: 'Flash Shopper', email: 'flash@example.com', address: '1 Sale Street' };
const RETRY_AFTER_S = { min: 1, max: 30, default: 1 };
/** Shoppers arrive within the first second, as at a sale's opening, rather than in one millisecond. */
const ARRIVAL_MS = 1_000;
/** The shop's niceness when the rush starts it: the shoppers are served by the CPU first. */
export const SHOP_NICENESS = 10;

/** Where the shoppers go: the storefront's pages, or straight to the gateway with the calls those pages make. */
export type Tier = 'storefront' | 'gateway';

export interface FlashSaleOptions {
  /** The storefront's URL, or the gateway's with tier 'gateway'. */
  target: string;
  tier?: Tier;
  metricsUrl?: string;
  users: number;
  /** How long to run, or how many rounds (product, add, checkout, place) each shopper completes. */
  length: LoadOptions['length'];
  seed?: number;
  onProgress?: (line: string) => void;
}

interface Sample {
  at: number; // ms since start, when the answer came
  step: SaleStep;
  kind: 'admitted' | 'refused' | 'error';
  ms: number;
  status: number;
}

export interface Latency {
  count: number;
  p50: number;
  p99: number;
}

export interface FlashSaleReport {
  profile: 'flash-sale';
  target: string;
  tier: Tier;
  users: number;
  length: LoadOptions['length'];
  durationS: number;
  seed: number;
  startedAt: string;
  /** Orders placed (the checkout answered with the order's page): their rate is the goodput. */
  orders: { placed: number; perSecond: number; notPlaced: number };
  /** Steps that ended on a 2xx page, and their latency without refused attempts and waits. */
  admitted: Latency;
  /** Refused answers (429, 503) by status, and their own latency. */
  refusals: Latency & { perSecond: number; byStatus: Record<string, number> };
  errors: { count: number; byStatus: Record<string, number> };
  steps: Record<SaleStep, { admitted: Latency; refused: Latency; errors: number }>;
  functions: Record<string, FunctionStats>;
  /** One point per second; the last may cover less (`seconds`). */
  timeline: { second: number; seconds: number; orders: number; ordersPerSecond: number; admitted: Latency; refusals: Latency; errors: number }[];
  /**
   * How late the shoppers' own event loop ran (ms): every latency above includes it, since the
   * shoppers share a process (and, run locally, the shop's CPU). High, and the load generator is
   * itself saturated.
   */
  shopperLag: { mean: number; p99: number };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
function latency(ms: number[]): Latency {
  const sorted = [...ms].sort((a, b) => a - b);
  return { count: sorted.length, p50: round1(percentile(sorted, 50)), p99: round1(percentile(sorted, 99)) };
}
function byStatus(samples: readonly Sample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of samples) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}

/** Seconds to wait for a Retry-After (seconds or an HTTP date), held to 1-30 s. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  const seconds = retryAfterSeconds(header ?? undefined, now);
  return 1000 * (seconds === undefined ? RETRY_AFTER_S.default : Math.min(RETRY_AFTER_S.max, Math.max(RETRY_AFTER_S.min, seconds)));
}

/** A hidden field's value in a page's form. */
export const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(html)?.[1];

/** How long a refused shopper waits before asking again: the Retry-After and up to a tenth more, so that those refused together do not all come back together. */
export const comeBackAfterMs = (refusal: { headers: Headers }, random: Pick<Random, 'next'>) => retryAfterMs(refusal.headers.get('retry-after')) * (1 + random.next() / 10);

/** A form sent again after a refusal: an order with the Idempotency-Key its busy page gave back, so that it is still one order. */
export function formAgain(form: Record<string, string>, refusedPage: string): Record<string, string> {
  const key = form.idempotencyKey ? field(refusedPage, 'idempotencyKey') : undefined;
  return key ? { ...form, idempotencyKey: key } : form;
}

interface Run {
  started: number;
  until: number;
  samples: Sample[];
  orders: number[];
  notPlaced: number;
  rounds: number;
}

/** What one request answered. */
interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * Sends a step's request until it is not refused: a refusal (429, 503) is recorded and its
 * Retry-After waited for (plus up to a tenth more, so that the refused do not all come back at
 * once); `send` is given the refusal, to send again what the shop asks for. The answer and its
 * time, or undefined: no answer (recorded as an error), or the run ended while it waited.
 */
async function untilServed(run: Run, random: Random, step: SaleStep, send: (refused?: Answer) => Promise<Answer>): Promise<{ answer: Answer; ms: number } | undefined> {
  let refused: Answer | undefined;
  for (;;) {
    if (Date.now() >= run.until) return undefined;
    const t0 = process.hrtime.bigint();
    const answer = await send(refused).catch(() => undefined);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (!answer) return void record(run, step, 'error', ms, 0);
    if (answer.status !== 429 && answer.status !== 503) return { answer, ms };
    record(run, step, 'refused', ms, answer.status);
    const wait = comeBackAfterMs(answer, random);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(wait, run.until - Date.now()))));
    refused = answer;
  }
}

const record = (run: Run, step: SaleStep, kind: Sample['kind'], ms: number, status: number) => run.samples.push({ at: Date.now() - run.started, step, kind, ms, status });

/** A shopper at the storefront: each step is a page as a browser gets it, its form's redirect followed. */
function storefrontShopper(run: Run, shopper: Shopper, random: Random) {
  /** The step's final 2xx page, or undefined (an error, or the run ended while it waited). */
  async function step(name: SaleStep, path: string, form?: Record<string, string>): Promise<string | undefined> {
    let admittedMs = 0;
    for (;;) {
      const served = await untilServed(run, random, name, async (refused) => {
        // A refused order is sent again from the form the shop gave back.
        if (refused && form) form = formAgain(form, refused.body);
        const { status, headers, html } = await shopper.request(path, form);
        return { status, headers, body: html };
      });
      if (!served) return undefined;
      const { answer, ms } = served;
      admittedMs += ms;
      const location = answer.headers.get('location');
      if (answer.status === 303 && location) {
        if (name === 'place') {
          if (location.startsWith('/orders/ord_')) run.orders.push(Date.now() - run.started);
          else run.notPlaced++; // sent back to the cart: sold out, or the cart was empty
        }
        // Followed as a browser does; a refusal of that page is waited for like any other.
        [path, form] = [location, undefined];
        continue;
      }
      if (answer.status >= 200 && answer.status < 300) {
        record(run, name, 'admitted', admittedMs, answer.status);
        return answer.body;
      }
      record(run, name, 'error', ms, answer.status);
      return undefined;
    }
  }

  /** Looks at a product, adds it, opens the checkout and places the order; a step that did not end on its page ends the round. */
  return async (productIds: readonly string[]): Promise<void> => {
    const id = random.pick(productIds);
    if ((await step('product', `/products/${id}`)) === undefined) return;
    if ((await step('add', '/cart/add', { productId: id, quantity: '1' })) === undefined) return;
    const checkout = await step('checkout', '/checkout');
    const key = checkout === undefined ? undefined : field(checkout, 'idempotencyKey');
    if (key) await step('place', '/checkout', { idempotencyKey: key, ...CUSTOMER }); // no key: sent to the cart, it was empty after all
  };
}

/**
 * A shopper straight at the gateway, making the calls the storefront's pages make: the product
 * (inventory-get), the add (cart-add), the checkout page's cart (cart-get) and the order
 * (order-create with an Idempotency-Key; a refusal that decided its order failed spent the key).
 */
function gatewayShopper(run: Run, gatewayUrl: string, random: Random) {
  // Identities are new on every run (the seed fixes choices): a run again with the same seed must not replay the last run's orders.
  const shopperId = randomBytes(16).toString('base64url');
  const call = async (path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(`${gatewayUrl}/function/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
  /** True when the step's call answered 2xx (or, for the order, 409: sold out). */
  async function step(name: SaleStep, send: (refused?: Answer) => Promise<Answer>): Promise<boolean> {
    const served = await untilServed(run, random, name, send);
    if (!served) return false;
    const { answer, ms } = served;
    const soldOut = name === 'place' && answer.status === 409;
    if (!soldOut && (answer.status < 200 || answer.status >= 300)) {
      record(run, name, 'error', ms, answer.status);
      return false;
    }
    record(run, name, 'admitted', ms, answer.status);
    if (soldOut) run.notPlaced++;
    else if (name === 'place') run.orders.push(Date.now() - run.started);
    return true;
  }
  return async (productIds: readonly string[]): Promise<void> => {
    const productId = random.pick(productIds);
    if (!(await step('product', () => call(`inventory-get?id=${encodeURIComponent(productId)}`)))) return;
    if (!(await step('add', () => call('cart-add', { shopperId, productId, quantity: 1 })))) return;
    if (!(await step('checkout', () => call(`cart-get?shopperId=${shopperId}`)))) return;
    let key = randomUUID();
    await step('place', (refused) => {
      const spent = refused && /"orderId"/.test(refused.body); // BUSY with the order it decided (failed)
      if (spent) key = randomUUID();
      return call('order-create', { shopperId, customer: CUSTOMER }, { 'idempotency-key': key });
    });
  };
}

/** The products on sale: the storefront's home page links, or inventory-list's first page. */
async function catalogOf(target: string, tier: Tier): Promise<string[]> {
  if (tier === 'gateway') return ((await (await fetch(`${target}/function/inventory-list?limit=100`)).json()) as { items: { id: string }[] }).items.map((p) => p.id);
  const catalog = new Shopper(target);
  await catalog.request('/');
  catalog.leave();
  return catalog.productIds;
}

export async function runFlashSale(options: FlashSaleOptions): Promise<FlashSaleReport> {
  const startedAt = new Date();
  const seed = options.seed ?? 1;
  const { length } = options;
  const tier = options.tier ?? 'storefront';
  const productIds = await catalogOf(options.target, tier);
  if (productIds.length === 0) throw new Error(`no products on ${options.target}`);
  const before = await scrape(options.metricsUrl);
  const started = Date.now();
  const run: Run = { started, until: 'seconds' in length ? started + length.seconds * 1000 : Infinity, samples: [], orders: [], notPlaced: 0, rounds: 0 };
  const progressLine = () => {
    const elapsed = Math.max((Date.now() - started) / 1000, 0.001);
    const recent = (kind: Sample['kind']) => latency(run.samples.filter((s) => s.kind === kind && s.at > elapsed * 1000 - 5_000).map((s) => s.ms)).p99;
    const count = (kind: Sample['kind']) => run.samples.filter((s) => s.kind === kind).length;
    const goal = 'seconds' in length ? `${elapsed.toFixed(0)}s/${length.seconds}s` : `${run.rounds}/${length.iterations * options.users} rounds`;
    return `[${goal}] ${run.orders.length} orders (${(run.orders.length / elapsed).toFixed(1)}/s), ${count('admitted')} steps admitted, p99 (last 5 s) ${recent('admitted')} ms; ${count('refused')} refused, p99 ${recent('refused')} ms; ${count('error')} errors`;
  };
  const progress = setInterval(() => options.onProgress?.(progressLine()), 1_000);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  await Promise.all(
    Array.from({ length: options.users }, async (_, i) => {
      const random = seededRandom(seed + i);
      const browser = tier === 'gateway' ? undefined : new Shopper(options.target, random);
      const shop = browser ? storefrontShopper(run, browser, random) : gatewayShopper(run, options.target, random);
      await new Promise((resolve) => setTimeout(resolve, random.next() * ARRIVAL_MS));
      // A round that ended on an error counts too: the next one starts over with another product.
      for (let rounds = 0; 'iterations' in length ? rounds < length.iterations : Date.now() < run.until; rounds++) {
        await shop(productIds);
        run.rounds++;
      }
      browser?.leave();
    }),
  );
  clearInterval(progress);
  lag.disable();
  options.onProgress?.(progressLine());
  const after = await scrape(options.metricsUrl);
  const elapsedMs = Date.now() - started;
  const seconds = elapsedMs / 1000;
  const of = (kind: Sample['kind'], samples = run.samples) => samples.filter((s) => s.kind === kind);
  const timeline = Array.from({ length: Math.ceil(elapsedMs / 1000) }, (_, second) => {
    const inSecond = run.samples.filter((s) => Math.floor(s.at / 1000) === second);
    const covered = Math.min(1, seconds - second);
    const orders = run.orders.filter((at) => Math.floor(at / 1000) === second).length;
    return {
      second,
      seconds: Math.round(covered * 1000) / 1000,
      orders,
      ordersPerSecond: round1(orders / covered),
      admitted: latency(of('admitted', inSecond).map((s) => s.ms)),
      refusals: latency(of('refused', inSecond).map((s) => s.ms)),
      errors: of('error', inSecond).length,
    };
  });
  const refused = of('refused');
  return {
    profile: 'flash-sale',
    target: options.target,
    tier,
    users: options.users,
    length,
    durationS: round1(seconds),
    seed,
    startedAt: startedAt.toISOString(),
    orders: { placed: run.orders.length, perSecond: round1(run.orders.length / seconds), notPlaced: run.notPlaced },
    admitted: latency(of('admitted').map((s) => s.ms)),
    refusals: { ...latency(refused.map((s) => s.ms)), perSecond: round1(refused.length / seconds), byStatus: byStatus(refused) },
    errors: { count: of('error').length, byStatus: byStatus(of('error')) },
    steps: Object.fromEntries(
      STEPS.map((step) => {
        const mine = run.samples.filter((s) => s.step === step);
        return [step, { admitted: latency(of('admitted', mine).map((s) => s.ms)), refused: latency(of('refused', mine).map((s) => s.ms)), errors: of('error', mine).length }];
      }),
    ) as FlashSaleReport['steps'],
    functions: before && after ? functionStats(before, after) : {},
    timeline,
    // Its timer fires every 10 ms: the delay beyond that is the lateness.
    shopperLag: { mean: round1(Math.max(0, lag.mean / 1e6 - 10)), p99: round1(Math.max(0, lag.percentile(99) / 1e6 - 10)) },
  };
}

/** The report as text, for the console. */
export function summaryLines(r: FlashSaleReport): string[] {
  const ms = (l: Latency) => (l.count ? `p50 ${l.p50} ms  p99 ${l.p99} ms` : '-');
  const statuses = (counts: Record<string, number>) => Object.entries(counts).map(([status, n]) => `${status}: ${n}`).join(', ');
  return [
    `orders     ${r.orders.placed} placed, ${r.orders.perSecond}/s (goodput); ${r.orders.notPlaced} checkouts sent back to the cart (sold out or empty)`,
    `admitted   ${r.admitted.count} steps  ${ms(r.admitted)}`,
    `refused    ${r.refusals.count} answers${r.refusals.count ? ` (${statuses(r.refusals.byStatus)})` : ''}, ${r.refusals.perSecond}/s  ${ms(r.refusals)}`,
    `shoppers   their own event loop ran late by: mean ${r.shopperLag.mean} ms  p99 ${r.shopperLag.p99} ms (included in every latency above)`,
    `errors     ${r.errors.count}${r.errors.count ? ` (${statuses(r.errors.byStatus)}; 0: no answer)` : ''}`,
    ...STEPS.map((step) => {
      const s = r.steps[step];
      return `${step.padEnd(10)} admitted ${String(s.admitted.count).padStart(6)}  ${ms(s.admitted)} | refused ${String(s.refused.count).padStart(6)}  ${ms(s.refused)} | ${s.errors} errors`;
    }),
  ];
}

export function renderFlashSaleHtml(r: FlashSaleReport): string {
  const cells = (l: Latency) => `<td>${l.count}</td><td>${l.count ? l.p50 : '-'}</td><td>${l.count ? l.p99 : '-'}</td>`;
  const rows = STEPS.map((step) => `<tr><th>${step}</th>${cells(r.steps[step].admitted)}${cells(r.steps[step].refused)}<td>${r.steps[step].errors}</td></tr>`).join('');
  const t = r.timeline;
  const perSecond = (n: number, point: { seconds: number }) => n / point.seconds;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Flash sale ${esc(r.startedAt)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:right}th:first-child{text-align:left}figure{margin:1.5rem 0}figcaption{font-weight:600}dt{font-weight:600}dd{margin:0 0 .5rem}</style></head><body>
<h1>Flash sale</h1><p>${esc(r.target)} (${r.tier}) · ${r.users} shoppers, no think time · ${'iterations' in r.length ? `${r.length.iterations} rounds each, ` : ''}${r.durationS} s · seed ${r.seed} · started ${esc(r.startedAt)}</p>
<dl><dt>Goodput</dt><dd>${r.orders.perSecond} orders/s (${r.orders.placed} placed; ${r.orders.notPlaced} checkouts sent back to the cart)</dd>
<dt>Admitted steps</dt><dd>${r.admitted.count}: p50 ${r.admitted.p50} ms, p99 ${r.admitted.p99} ms (without refused attempts and their waits)</dd>
<dt>Refusals</dt><dd>${r.refusals.count} (${esc(JSON.stringify(r.refusals.byStatus))}), ${r.refusals.perSecond}/s: answered in p50 ${r.refusals.p50} ms, p99 ${r.refusals.p99} ms</dd>
<dt>Errors</dt><dd>${r.errors.count} ${r.errors.count ? esc(JSON.stringify(r.errors.byStatus)) : ''}</dd>
<dt>How late the shoppers' own event loop ran</dt><dd>mean ${r.shopperLag.mean} ms, p99 ${r.shopperLag.p99} ms (included in every latency above)</dd></dl>
<h2>Steps</h2><table><thead><tr><th>step</th><th>admitted</th><th>p50 ms</th><th>p99 ms</th><th>refused</th><th>p50 ms</th><th>p99 ms</th><th>errors</th></tr></thead><tbody>${rows}</tbody></table>
${chart('Goodput, refusals and errors (per second)', '/s', { orders: t.map((p) => perSecond(p.orders, p)), refusals: t.map((p) => perSecond(p.refusals.count, p)), errors: t.map((p) => perSecond(p.errors, p)) })}
${chart('Latency per second (ms): admitted steps and refusals', 'ms', { 'admitted p50': t.map((p) => p.admitted.p50), 'admitted p99': t.map((p) => p.admitted.p99), 'refusal p99': t.map((p) => p.refusals.p99) })}
${functionsTable(r.functions)}
</body></html>`;
}

export const writeFlashSaleReport = (report: FlashSaleReport, dir: string) => writeFiles(dir, 'flash-sale', report, renderFlashSaleHtml(report));

/** Every product's stock set to `stock` through the gateway (inventory-restock, with the admin token). */
export async function restockAll(gatewayUrl: string, adminToken: string, stock: number): Promise<void> {
  const list = (await (await fetch(`${gatewayUrl}/function/inventory-list?limit=100`)).json()) as { items: { id: string }[] };
  for (const { id } of list.items) {
    const res = await fetch(`${gatewayUrl}/function/inventory-restock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ productId: id, stock }),
    });
    if (res.status !== 200) throw new Error(`restocking ${id} answered ${res.status}`);
  }
}

export async function flashSaleMain(values: LoadArgs & { tier?: string }): Promise<void> {
  const users = wholeNumber('--users', values.users ?? '300');
  const tier = values.tier ?? 'storefront';
  if (tier !== 'storefront' && tier !== 'gateway') throw new Error(`--tier is storefront or gateway (got ${tier})`);
  const length = lengthOf(values, 20);
  let target = values.target;
  let metricsUrl = values.metrics;
  let stop = async () => {};
  if (!target) {
    const { startShopProcess } = await import('./shop-process');
    const dir = mkdtempSync(join(tmpdir(), 'shop-flash-sale-'));
    // Below the shoppers' priority: their browsers do not share the shop's CPU (shop-process.ts).
    const shop = await startShopProcess(dir, {}, { niceness: SHOP_NICENESS });
    stop = async () => {
      await shop.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    await restockAll(shop.url, shop.adminToken, 1_000_000).catch(async (error: unknown) => {
      await stop();
      throw error;
    });
    target = tier === 'gateway' ? shop.url : shop.storefrontUrl;
    metricsUrl ??= `${shop.url}/metrics`;
  }
  const tty = process.stdout.isTTY;
  console.log(`flash-sale: ${users} shoppers, ${'iterations' in length ? `${length.iterations} rounds each` : `${length.seconds} s`}, no think time, against ${target} (${tier}), seed ${values.seed}`);
  try {
    const report = await runFlashSale({
      target,
      tier,
      metricsUrl,
      users,
      length,
      seed: wholeNumber('--seed', values.seed),
      onProgress: (line) => (tty ? process.stdout.write(`\r${line}   `) : console.log(line)),
    });
    if (tty) process.stdout.write('\n');
    for (const line of summaryLines(report)) console.log(line);
    const files = writeFlashSaleReport(report, values.out);
    console.log(`report: ${files.json}\n        ${files.html}`);
    if (report.errors.count > 0) process.exitCode = 1;
  } finally {
    await stop();
  }
}
