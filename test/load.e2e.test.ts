/**
 * `npm run load` as a smoke test: a fixed number of seeded steps per shopper against the real
 * stack, and its report; and the flash-sale profile, a fixed number of rounds per shopper with
 * refusals the gateway is told to make. Nothing here depends on how fast the machine is: a run
 * ends when every shopper has taken its steps, and the seed fixes which steps those are.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restockAll, runFlashSale, writeFlashSaleReport } from '../bench/flash-sale';
import { runLoad, writeReport, type LoadReport } from '../bench/load';
import { faultRecorder } from './support/faults';
import { startTestStorefront, type TestStorefront } from './support/storefront';

const USERS = 6;
const ITERATIONS = 12;

let s: TestStorefront;
beforeAll(async () => {
  s = await startTestStorefront({}, { faults: true });
});
afterAll(() => s.stop());

it('runs every step of the shopper mix without errors and reports pages, functions and a timeline', async () => {
  const lines: string[] = [];
  const report: LoadReport = await runLoad({
    target: s.url,
    metricsUrl: `${s.t.shop.url}/metrics`,
    users: USERS,
    length: { iterations: ITERATIONS },
    thinkMs: [0, 5],
    seed: 7,
    onProgress: (l) => lines.push(l),
  });
  expect(report.totals.requests).toBe(USERS * ITERATIONS);
  expect(report.totals.errors).toBe(0);
  for (const step of ['browse', 'viewCart', 'addToCart', 'home', 'checkout']) expect(report.steps[step]?.requests).toBeGreaterThan(0);
  // Every checkout step places one order: order-create is called once per checkout, and reserves once per order.
  expect(report.functions['order-create']?.calls).toBe(report.steps.checkout?.requests);
  expect(report.functions['inventory-reserve']?.calls).toBe(report.functions['order-create']?.calls);
  expect(report.functions['order-create']?.errors).toBe(0);
  expect(report.timeline.reduce((n, t) => n + t.requests, 0)).toBe(report.totals.requests);
  expect(lines.at(-1)).toMatch(new RegExp(`\\[${USERS * ITERATIONS}/${USERS * ITERATIONS} steps\\] ${USERS * ITERATIONS} requests, 0 errors`));

  const dir = mkdtempSync(join(tmpdir(), 'shop-load-report-'));
  try {
    const files = writeReport(report, dir);
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    expect(json.totals.requests).toBe(report.totals.requests);
    expect(json.length).toEqual({ iterations: ITERATIONS });
    const html = readFileSync(files.html, 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).toContain('<th>order-create</th>');
    expect(html).toContain(`${ITERATIONS} steps each`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('makes the same choices for the same seed', async () => {
  const run = () => runLoad({ target: s.url, users: 2, length: { iterations: 8 }, thinkMs: [0, 0], seed: 11 });
  const [a, b] = [await run(), await run()];
  const perStep = (r: LoadReport) => Object.fromEntries(Object.entries(r.steps).map(([k, v]) => [k, v.requests]));
  expect(perStep(a)).toEqual(perStep(b));
});

it('flash sale: a refused order waits its Retry-After and is placed again, once; the report keeps work and refusals apart', async () => {
  const [users, rounds] = [4, 3];
  await restockAll(s.t.shop.url, s.t.shop.secrets['shop-admin-token'] as string, 1_000);
  const faults = faultRecorder(s.t);
  // The gateway refuses three orders as when every replica is busy (429, no Retry-After: the storefront says 2 s).
  await faults.set({ functions: { 'order-create': { status: 429, times: 3 } } });
  const lines: string[] = [];
  try {
    const report = await runFlashSale({ target: s.url, metricsUrl: `${s.t.shop.url}/metrics`, users, length: { iterations: rounds }, seed: 5, onProgress: (l) => lines.push(l) });
    expect(faults.fired()).toEqual({ 'function:order-create': 3 });
    expect(report.errors).toEqual({ count: 0, byStatus: {} });
    expect(report.orders).toMatchObject({ placed: users * rounds, notPlaced: 0 });
    // Each refused order was sent again and placed: one order each, 201 from order-create once per order.
    expect(report.refusals).toMatchObject({ count: 3, byStatus: { 503: 3 } });
    expect(report.steps.place.refused.count).toBe(3);
    expect(report.functions['order-create']).toMatchObject({ calls: users * rounds + 3, refused: 3, errors: 0 });
    for (const step of ['product', 'add', 'checkout', 'place'] as const) expect(report.steps[step].admitted.count).toBe(users * rounds);
    expect(report.admitted.count).toBe(4 * users * rounds);
    expect(report.timeline.reduce((n, t) => n + t.orders, 0)).toBe(users * rounds);
    expect(report.timeline.reduce((n, t) => n + t.refusals.count, 0)).toBe(3);
    expect(lines.at(-1)).toMatch(new RegExp(`^\\[${users * rounds}/${users * rounds} rounds\\] ${users * rounds} orders`));

    const dir = mkdtempSync(join(tmpdir(), 'shop-flash-sale-report-'));
    try {
      const files = writeFlashSaleReport(report, dir);
      expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ profile: 'flash-sale', orders: { placed: users * rounds }, refusals: { count: 3 } });
      const html = readFileSync(files.html, 'utf8');
      expect(html.match(/<svg /g)).toHaveLength(2);
      expect(html).toContain('<dt>Goodput</dt>');
      expect(html).toContain('<th>order-create</th>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await faults.set(null);
  }
});

it('flash sale at the gateway: the pages’ calls, a refused order waited for, sent again and placed once', async () => {
  const [users, rounds] = [3, 2];
  await restockAll(s.t.shop.url, s.t.shop.secrets['shop-admin-token'] as string, 1_000);
  const faults = faultRecorder(s.t);
  await faults.set({ functions: { 'order-create': { status: 429, times: 2 } } });
  try {
    const report = await runFlashSale({ target: s.t.shop.url, tier: 'gateway', metricsUrl: `${s.t.shop.url}/metrics`, users, length: { iterations: rounds }, seed: 9 });
    expect(faults.fired()).toEqual({ 'function:order-create': 2 });
    expect(report).toMatchObject({ tier: 'gateway', errors: { count: 0, byStatus: {} }, orders: { placed: users * rounds, notPlaced: 0 }, refusals: { count: 2, byStatus: { 429: 2 } } });
    for (const step of ['product', 'add', 'checkout', 'place'] as const) expect(report.steps[step].admitted.count).toBe(users * rounds);
    // The storefront's calls and nothing else; each order decided once: one reservation per order placed.
    expect(Object.keys(report.functions).sort()).toEqual(['cart-add', 'cart-get', 'inventory-get', 'inventory-reserve', 'order-create']);
    expect(report.functions['order-create']).toMatchObject({ calls: users * rounds + 2, refused: 2, errors: 0 });
    expect(report.functions['inventory-reserve']?.calls).toBe(users * rounds);
  } finally {
    await faults.set(null);
  }
});
