/** `npm run load` as a smoke test: a short shopper mix against the real stack, and its report. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad, writeReport } from '../bench/load';
import { startTestStorefront, type TestStorefront } from './support/storefront';

let s: TestStorefront;
beforeAll(async () => {
  s = await startTestStorefront();
});
afterAll(() => s.stop());

it('runs the shopper mix without errors and reports pages, functions and a timeline', async () => {
  const lines: string[] = [];
  const report = await runLoad({ target: s.url, metricsUrl: `${s.t.shop.url}/metrics`, users: 6, durationS: 3, thinkMs: [10, 40], onProgress: (l) => lines.push(l) });
  expect(report.totals.requests).toBeGreaterThan(50);
  expect(report.totals.errors).toBe(0);
  for (const step of ['browse', 'viewCart', 'addToCart', 'home', 'checkout']) expect(report.steps[step]?.requests).toBeGreaterThan(0);
  expect(report.functions['order-create']?.calls).toBeGreaterThan(0);
  expect(report.functions['inventory-reserve']?.calls).toBeGreaterThanOrEqual(report.functions['order-create']?.calls ?? 1);
  expect(report.timeline.length).toBeGreaterThanOrEqual(2);
  expect(lines.some((l) => /requests, 0 errors/.test(l))).toBe(true);

  const dir = mkdtempSync(join(tmpdir(), 'shop-load-report-'));
  try {
    const files = writeReport(report, dir);
    expect(JSON.parse(readFileSync(files.json, 'utf8')).totals.requests).toBe(report.totals.requests);
    const html = readFileSync(files.html, 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).toContain('<th>order-create</th>');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
