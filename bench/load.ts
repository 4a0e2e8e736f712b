/**
 * `npm run load`: realistic shopper traffic against the storefront, with a live progress line
 * and a report (JSON and a self-contained HTML page with charts).
 *
 *   npm run load                                   starts the whole stack locally and loads it
 *   npm run load -- --target http://192.168.122.10 --metrics http://192.168.122.11:31112/metrics
 *   options: --users 20  --duration 30 (s), or --iterations N (steps per shopper)
 *            --think 1000-10000 (ms between a shopper's steps)  --seed 1  --out load-report
 *   npm run load -- --profile flash-sale           a rush: 300 shoppers, no think time, 20 s
 *                                                  (bench/flash-sale.ts; --tier gateway: straight at the gateway)
 *
 * Each virtual shopper keeps its own cookies and repeats, after a think time, one of:
 * browse a product or search (10), view the cart (3), add to cart (2), the home page (1),
 * check out (1) — the mix of Online Boutique's load generator. Every choice (step, product,
 * search, think time) comes from a seeded generator, so a run with the same seed makes the same
 * choices. Per-function figures come from the gateway's Prometheus metrics (/metrics), read
 * before and after.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRandom, type Random } from './random';
import { percentile } from './stats';

export type Step = 'browse' | 'viewCart' | 'addToCart' | 'home' | 'checkout';
const MIX: [Step, number][] = [['browse', 10], ['viewCart', 3], ['addToCart', 2], ['home', 1], ['checkout', 1]];

export interface LoadOptions {
  target: string;
  metricsUrl?: string;
  users: number;
  /** How long to run, or how many steps each shopper takes (the run then ends when all are done). */
  length: { seconds: number } | { iterations: number };
  thinkMs: [number, number];
  /** Seeds every random choice; shopper i uses seed + i. */
  seed?: number;
  onProgress?: (line: string) => void;
}

interface Sample {
  at: number; // ms since start
  step: Step;
  ms: number;
  ok: boolean;
}

export interface StepStats {
  requests: number;
  errors: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface FunctionStats {
  calls: number;
  /** Answers 429 or 503: refused for load, or none ready. */
  refused: number;
  /** Other 5xx answers. */
  errors: number;
  meanMs: number;
  p95Ms: number;
}

export interface LoadReport {
  target: string;
  users: number;
  /** What was asked for: a duration or a number of steps per shopper. */
  length: LoadOptions['length'];
  /** How long it took. */
  durationS: number;
  thinkMs: [number, number];
  seed: number;
  startedAt: string;
  totals: StepStats;
  steps: Record<string, StepStats>;
  functions: Record<string, FunctionStats>;
  /** One point per second of the run; the last one may cover less than a second (`seconds`). */
  timeline: { second: number; seconds: number; requests: number; perSecond: number; errors: number; p95: Record<string, number> }[];
}

function pick(random: Random): Step {
  const total = MIX.reduce((n, [, w]) => n + w, 0);
  let r = random.next() * total;
  for (const [step, weight] of MIX) if ((r -= weight) < 0) return step;
  return 'browse';
}

const SEARCHES = ['coffee', 'mug', 'kettle', 'filter', 'beans', 'grinder'];

/**
 * One virtual shopper, as a browser is: its own cookies and the page's CSRF token, redirects not
 * followed, and its own keep-alive connection to the shop, used one request at a time, rather
 * than a pool shared with every other shopper (which would close connections left idle while
 * others are busy and open new ones in the next rush).
 */
export class Shopper {
  private readonly cookies = new Map<string, string>();
  private readonly client: typeof http | typeof https;
  private readonly connection: http.Agent;
  private csrf = '';
  productIds: string[] = [];
  cartLines = 0;

  constructor(
    private readonly base: string,
    private readonly random: Random = seededRandom(1),
  ) {
    // VM 1 answers over HTTPS (nginx sends plain HTTP there).
    [this.client, this.connection] = base.startsWith('https:') ? [https, new https.Agent({ keepAlive: true, maxSockets: 1 })] : [http, new http.Agent({ keepAlive: true, maxSockets: 1 })];
  }

  async request(path: string, form?: Record<string, string>): Promise<{ status: number; html: string; headers: Headers }> {
    const body = form ? new URLSearchParams({ _csrf: this.csrf, ...form }).toString() : undefined;
    const res = await new Promise<{ status: number; html: string; headers: Headers }>((resolve, reject) => {
      const req = this.client.request(
        `${this.base}${path}`,
        {
          method: form ? 'POST' : 'GET',
          agent: this.connection,
          headers: { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
          signal: AbortSignal.timeout(30_000),
        },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('error', reject);
          answer.on('end', () => {
            const headers = new Headers();
            for (let i = 0; i < answer.rawHeaders.length; i += 2) headers.append(answer.rawHeaders[i] as string, answer.rawHeaders[i + 1] as string);
            resolve({ status: answer.statusCode ?? 0, html: Buffer.concat(chunks).toString('utf8'), headers });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    for (const c of res.headers.getSetCookie()) {
      const [k, v] = (c.split(';')[0] as string).split('=');
      if (v) this.cookies.set(k as string, v);
      else this.cookies.delete(k as string);
    }
    this.csrf = /name="_csrf" value="([^"]+)"/.exec(res.html)?.[1] ?? this.csrf;
    const ids = [...res.html.matchAll(/href="\/products\/([a-z0-9-]+)"/g)].map((m) => m[1] as string);
    if (ids.length) this.productIds = [...new Set(ids)];
    return res;
  }

  /** Closes the shopper's connection. */
  leave(): void {
    this.connection.destroy();
  }

  private product(): string {
    return this.productIds.length ? this.random.pick(this.productIds) : 'paper-filters-100';
  }

  /** One step; true when every page of it answered as a shopper expects (2xx or a redirect). */
  async run(step: Step): Promise<boolean> {
    const fine = (status: number) => status < 400;
    switch (step) {
      case 'home':
        return fine((await this.request('/')).status);
      case 'browse':
        return this.random.next() < 0.25
          ? fine((await this.request(`/?q=${this.random.pick(SEARCHES)}`)).status)
          : fine((await this.request(`/products/${this.product()}`)).status);
      case 'viewCart': {
        const cart = await this.request('/cart');
        this.cartLines = (cart.html.match(/name="quantity" value="0"/g) ?? []).length;
        return fine(cart.status);
      }
      case 'addToCart': {
        const added = await this.request('/cart/add', { productId: this.product(), quantity: String(this.random.int(1, 2)) });
        this.cartLines++;
        return fine(added.status);
      }
      case 'checkout': {
        if (this.cartLines === 0) await this.run('addToCart');
        const form = await this.request('/checkout');
        if (!fine(form.status)) return false;
        const key = /name="idempotencyKey" value="([^"]+)"/.exec(form.html)?.[1];
        if (!key) return true; // the cart was empty after all: the shop sent us back to it
        const placed = await this.request('/checkout', { idempotencyKey: key, name: 'Load Shopper', email: 'load@example.com', address: '1 Load Street' });
        this.cartLines = 0;
        return fine(placed.status);
      }
    }
  }
}

function stats(samples: readonly Sample[], seconds: number): StepStats {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    requests: samples.length,
    errors: samples.filter((s) => !s.ok).length,
    perSecond: round(samples.length / seconds),
    p50: round(percentile(ms, 50)),
    p95: round(percentile(ms, 95)),
    p99: round(percentile(ms, 99)),
  };
}

type Scrape = Map<string, number>;

export async function scrape(url: string | undefined): Promise<Scrape | undefined> {
  if (!url) return undefined;
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
    const values = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^(gateway_function_invocation_total|gateway_functions_seconds_(?:bucket|sum|count))\{(.*)\} ([0-9.e+-]+)$/.exec(line);
      if (m) values.set(`${m[1]}{${m[2]}}`, Number(m[3]));
    }
    return values;
  } catch {
    return undefined;
  }
}

/** Calls, errors and latency per function between two scrapes of the gateway's metrics. */
export function functionStats(before: Scrape, after: Scrape): Record<string, FunctionStats> {
  const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const out: Record<string, { calls: number; refused: number; errors: number; sum: number; buckets: Map<number, number> }> = {};
  for (const key of after.keys()) {
    const labels = Object.fromEntries([...key.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const fn = (labels.function_name ?? '').replace(/\.openfaas-fn$/, '');
    const entry = (out[fn] ??= { calls: 0, refused: 0, errors: 0, sum: 0, buckets: new Map() });
    const d = delta(key);
    if (key.startsWith('gateway_function_invocation_total')) {
      entry.calls += d;
      if (labels.code === '429' || labels.code === '503') entry.refused += d;
      else if (Number(labels.code) >= 500) entry.errors += d;
    } else if (key.startsWith('gateway_functions_seconds_sum')) entry.sum += d;
    else if (key.startsWith('gateway_functions_seconds_bucket') && labels.le !== '+Inf') {
      const le = Number(labels.le);
      entry.buckets.set(le, (entry.buckets.get(le) ?? 0) + d);
    }
  }
  return Object.fromEntries(
    Object.entries(out)
      .filter(([, e]) => e.calls > 0)
      .map(([fn, e]) => {
        // p95 from the histogram: the smallest bucket bound holding 95% of the calls.
        const p95 = [...e.buckets].sort(([a], [b]) => a - b).find(([, n]) => n >= 0.95 * e.calls)?.[0];
        return [fn, { calls: e.calls, refused: e.refused, errors: e.errors, meanMs: Math.round((e.sum / e.calls) * 10_000) / 10, p95Ms: p95 === undefined ? NaN : p95 * 1000 }];
      }),
  );
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const startedAt = new Date();
  const started = Date.now();
  const seed = options.seed ?? 1;
  const { length } = options;
  const until = 'seconds' in length ? started + length.seconds * 1000 : Infinity;
  const samples: Sample[] = [];
  const before = await scrape(options.metricsUrl);
  const progressLine = () => {
    const elapsed = Math.max((Date.now() - started) / 1000, 0.001);
    const recent = samples.filter((s) => s.at > elapsed * 1000 - 5_000).map((s) => s.ms).sort((a, b) => a - b);
    const goal = 'seconds' in length ? `${elapsed.toFixed(0)}s/${length.seconds}s` : `${samples.length}/${length.iterations * options.users} steps`;
    return `[${goal}] ${samples.length} requests, ${samples.filter((s) => !s.ok).length} errors, ${(samples.length / elapsed).toFixed(1)}/s, p95 (last 5 s) ${percentile(recent, 95)?.toFixed(0) ?? '-'} ms`;
  };
  const progress = setInterval(() => options.onProgress?.(progressLine()), 1_000);
  await Promise.all(
    Array.from({ length: options.users }, async (_, i) => {
      const random = seededRandom(seed + i);
      const think = () => options.thinkMs[0] + random.next() * (options.thinkMs[1] - options.thinkMs[0]);
      // Arrivals spread over the first think time, as real shoppers do not come in at once.
      await new Promise((r) => setTimeout(r, (i / options.users) * options.thinkMs[0]));
      const shopper = new Shopper(options.target, random);
      await shopper.request('/').catch(() => undefined);
      for (let step = 0; 'iterations' in length ? step < length.iterations : Date.now() < until; step++) {
        const chosen = pick(random);
        const t0 = process.hrtime.bigint();
        const ok = await shopper.run(chosen).catch(() => false);
        samples.push({ at: Date.now() - started, step: chosen, ms: Number(process.hrtime.bigint() - t0) / 1e6, ok });
        const wait = Math.min(think(), until - Date.now());
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      shopper.leave();
    }),
  );
  clearInterval(progress);
  options.onProgress?.(progressLine());
  const after = await scrape(options.metricsUrl);
  const elapsedMs = Date.now() - started;
  const seconds = elapsedMs / 1000;
  const steps = Object.fromEntries(MIX.map(([step]) => [step, stats(samples.filter((s) => s.step === step), seconds)]));
  const timeline = Array.from({ length: Math.ceil(elapsedMs / 1000) }, (_, second) => {
    const inSecond = samples.filter((s) => Math.floor(s.at / 1000) === second);
    // The last point covers what is left of the run: its rate is per its own length, not per second.
    const covered = Math.min(1, seconds - second);
    const p95 = Object.fromEntries(
      MIX.map(([step]) => [step, percentile(inSecond.filter((s) => s.step === step).map((s) => s.ms).sort((a, b) => a - b), 95)] as const).filter(([, v]) => !Number.isNaN(v)),
    );
    const rate = Math.round((inSecond.length / covered) * 10) / 10;
    return { second, seconds: Math.round(covered * 1000) / 1000, requests: inSecond.length, perSecond: rate, errors: inSecond.filter((s) => !s.ok).length, p95 };
  });
  return {
    target: options.target,
    users: options.users,
    length,
    durationS: Math.round(seconds * 10) / 10,
    thinkMs: options.thinkMs,
    seed,
    startedAt: startedAt.toISOString(),
    totals: stats(samples, seconds),
    steps,
    functions: before && after ? functionStats(before, after) : {},
    timeline,
  };
}

const COLORS: Record<string, string> = {
  browse: '#1f77b4', viewCart: '#2ca02c', addToCart: '#ff7f0e', home: '#9467bd', checkout: '#d62728', requests: '#1f77b4', errors: '#d62728',
  orders: '#2ca02c', refusals: '#ff7f0e', 'admitted p50': '#1f77b4', 'admitted p99': '#9467bd', 'refusal p99': '#ff7f0e',
};
export const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A line chart as inline SVG: one polyline per series over the report's seconds. */
export function chart(title: string, unit: string, series: Record<string, (number | undefined)[]>): string {
  const [w, h, pad] = [720, 220, 40];
  const all = Object.values(series).flat().filter((v): v is number => v !== undefined && Number.isFinite(v));
  const max = Math.max(1, ...all);
  const n = Math.max(2, ...Object.values(series).map((v) => v.length));
  const x = (i: number) => pad + (i / (n - 1)) * (w - 2 * pad);
  const y = (v: number) => h - pad + 10 - (v / max) * (h - 2 * pad);
  const lines = Object.entries(series)
    .map(([name, values]) => {
      const points = values.map((v, i) => (v === undefined || !Number.isFinite(v) ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean).join(' ');
      return `<polyline fill="none" stroke="${COLORS[name] ?? '#333'}" stroke-width="2" points="${points}"><title>${esc(name)}</title></polyline>`;
    })
    .join('');
  const legend = Object.keys(series).map((name, i) => `<text x="${pad + i * 110}" y="16" fill="${COLORS[name] ?? '#333'}" font-size="12">■ ${esc(name)}</text>`).join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="${esc(title)}">
<line x1="${pad}" y1="${h - pad + 10}" x2="${w - pad}" y2="${h - pad + 10}" stroke="#999"/><line x1="${pad}" y1="30" x2="${pad}" y2="${h - pad + 10}" stroke="#999"/>
<text x="4" y="34" font-size="11">${max.toFixed(0)} ${esc(unit)}</text><text x="${w - pad}" y="${h - 6}" font-size="11" text-anchor="end">${n - 1} s</text>${legend}${lines}</svg></figure>`;
}

export function renderHtml(report: LoadReport): string {
  const row = (name: string, s: StepStats) => `<tr><th>${esc(name)}</th><td>${s.requests}</td><td>${s.errors}</td><td>${s.perSecond}</td><td>${s.p50}</td><td>${s.p95}</td><td>${s.p99}</td></tr>`;
  const p95 = Object.fromEntries(MIX.map(([step]) => [step, report.timeline.map((t) => t.p95[step])]));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Load report ${esc(report.startedAt)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:right}th:first-child{text-align:left}figure{margin:1.5rem 0}figcaption{font-weight:600}</style></head><body>
<h1>Load report</h1><p>${esc(report.target)} · ${report.users} shoppers · ${'iterations' in report.length ? `${report.length.iterations} steps each, ` : ''}${report.durationS} s · seed ${report.seed} · think ${report.thinkMs[0]}-${report.thinkMs[1]} ms · started ${esc(report.startedAt)}</p>
<h2>Pages</h2><table><thead><tr><th>step</th><th>requests</th><th>errors</th><th>per s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr></thead><tbody>${MIX.map(([step]) => row(step, report.steps[step] as StepStats)).join('')}${row('all', report.totals)}</tbody></table>
${chart('Latency over time (p95 per second, ms)', 'ms', p95)}
${chart('Throughput and errors (per second)', '/s', { requests: report.timeline.map((t) => t.perSecond), errors: report.timeline.map((t) => t.errors / t.seconds) })}
${functionsTable(report.functions)}
</body></html>`;
}

/** Per-function figures from the gateway's metrics, for both reports. */
export function functionsTable(functions: Record<string, FunctionStats>): string {
  const rows = Object.entries(functions)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([fn, f]) => `<tr><th>${esc(fn)}</th><td>${f.calls}</td><td>${f.refused}</td><td>${f.errors}</td><td>${f.meanMs}</td><td>${Number.isNaN(f.p95Ms) ? '-' : `≤ ${f.p95Ms}`}</td></tr>`)
    .join('');
  return `<h2>Functions</h2>${rows ? `<table><thead><tr><th>function</th><th>calls</th><th>refused (429, 503)</th><th>other 5xx</th><th>mean ms</th><th>p95 ms (bucket)</th></tr></thead><tbody>${rows}</tbody></table>` : '<p>No gateway metrics were read (pass --metrics URL).</p>'}`;
}

export function writeReport(report: LoadReport, dir: string): { json: string; html: string } {
  return writeFiles(dir, 'load', report, renderHtml(report));
}

/** `DIR/NAME-DATE.json` and `.html`. */
export function writeFiles(dir: string, name: string, report: { startedAt: string }, page: string): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const json = join(dir, `${name}-${stamp}.json`);
  const html = join(dir, `${name}-${stamp}.html`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(html, page);
  return { json, html };
}

/** What both profiles take from the command line. */
export interface LoadArgs {
  target?: string;
  metrics?: string;
  users?: string;
  duration?: string;
  iterations?: string;
  seed: string;
  out: string;
}

/** --duration S or --iterations N (not both), with the profile's default duration. */
export function lengthOf(values: LoadArgs, defaultSeconds: number): LoadOptions['length'] {
  if (values.duration !== undefined && values.iterations !== undefined) throw new Error('give --duration or --iterations, not both');
  return values.iterations !== undefined ? { iterations: wholeNumber('--iterations', values.iterations) } : { seconds: wholeNumber('--duration', values.duration ?? String(defaultSeconds)) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string', default: 'default' },
      target: { type: 'string' },
      metrics: { type: 'string' },
      users: { type: 'string' },
      duration: { type: 'string' },
      iterations: { type: 'string' },
      think: { type: 'string' },
      tier: { type: 'string' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: 'load-report' },
    },
  });
  if (values.profile === 'flash-sale') {
    if (values.think !== undefined) throw new Error('a flash sale has no think time: leave --think out');
    return (await import('./flash-sale')).flashSaleMain(values);
  }
  if (values.tier !== undefined) throw new Error('--tier is for --profile flash-sale');
  if (values.profile !== 'default') throw new Error(`--profile is default or flash-sale (got ${values.profile})`);
  values.users ??= '20';
  values.think ??= '1000-10000';
  const thinkMs = values.think.split('-').map(Number) as [number, number];
  if (thinkMs.length !== 2 || thinkMs.some((n) => !Number.isFinite(n) || n < 0) || thinkMs[0] > thinkMs[1]) throw new Error('--think is MIN-MAX in ms, e.g. 1000-10000');
  const length = lengthOf(values, 30);
  let target = values.target;
  let metricsUrl = values.metrics;
  let stop = async () => {};
  if (!target) {
    // No target: the whole stack, here, on a fresh data directory.
    process.env.LOG_LEVEL ??= 'silent';
    const { startShop } = await import('../runtime/shop');
    const { startStorefront } = await import('../frontend/server');
    const { COOKIE_SECRET_FILE } = await import('../runtime/secrets');
    const dir = mkdtempSync(join(tmpdir(), 'shop-load-'));
    const shop = await startShop({ port: 0, dataDir: join(dir, 'data'), secretsDir: join(dir, 'secrets') });
    const storefront = await startStorefront({ port: 0, host: '127.0.0.1', gatewayUrl: shop.url, cookieSecret: shop.secrets[COOKIE_SECRET_FILE] as string });
    target = storefront.url;
    metricsUrl ??= `${shop.url}/metrics`;
    stop = async () => {
      await storefront.close();
      await shop.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const tty = process.stdout.isTTY;
  const lengthText = 'iterations' in length ? `${length.iterations} steps each` : `${length.seconds} s`;
  console.log(`load: ${values.users} shoppers, ${lengthText}, against ${target}, think ${values.think} ms, seed ${values.seed}`);
  try {
    const report = await runLoad({
      target,
      metricsUrl,
      users: wholeNumber('--users', values.users as string),
      length,
      thinkMs,
      seed: wholeNumber('--seed', values.seed as string),
      onProgress: (line) => (tty ? process.stdout.write(`\r${line}   `) : console.log(line)),
    });
    if (tty) process.stdout.write('\n');
    for (const [step, s] of Object.entries(report.steps)) console.log(`${step.padEnd(10)} ${String(s.requests).padStart(6)} req  ${String(s.errors).padStart(4)} err  ${String(s.perSecond).padStart(6)}/s  p50 ${s.p50} ms  p95 ${s.p95} ms  p99 ${s.p99} ms`);
    const files = writeReport(report, values.out as string);
    console.log(`report: ${files.json}\n        ${files.html}`);
    if (report.totals.errors > 0) process.exitCode = 1;
  } finally {
    await stop();
  }
}

export function wholeNumber(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`${flag} is a whole number above 0`);
  return Number(text);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
