/**
 * Ratios that stay meaningful on a noisy machine: each compares two things measured the same
 * way, one after the other, in one run. Each figure is printed with how it was obtained.
 *   1. a function through the local gateway vs the same handler behind a bare Node server
 *      (1 and 2 alternate short windows of both sides, from a separate process)
 *   2. the catalog page vs a static page of the same size from the same server
 *   3. order-create vs cart-add calls per second, 100 concurrent shoppers, plentiful stock
 *   4. cold start of a bundled function vs the same function from unbundled sources; bundle sizes
 * (The memory of `npm start` is measured by bench/replicas.ts, for the whole process tree.)
 * BENCH_SECONDS (3) sets each throughput window.
 */
import './quiet';
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { createStorefront } from '../frontend/app';
import { BUNDLE_OPTIONS, DIST_DIR, ROOT, buildIfStale } from '../runtime/build';
import { node20App } from '../runtime/node20';
import { startShop } from '../runtime/shop';
import { Answers, aim, percentile, post, throughput } from './stats';

const WINDOW_MS = Number(process.env.BENCH_SECONDS ?? 3) * 1000;
/**
 * Two closed loops compared from a separate process (so the load's own work does not share the
 * measured server's event loop; this machine has 2 cores), alternating short windows A, B, A, B...
 * so that a drift of the machine's speed during the run hits both sides alike. One pair of windows
 * first is not counted: both servers' code and the callers' own are compiled by then.
 */
async function compareThroughput(concurrency: number, ms: number, a: string, b: string, headers: Record<string, string> = {}): Promise<[number, number, Answers]> {
  // Only 200s count toward a side's rate; the others are counted by status and sent back.
  const script = `
    const [a, b, headers, concurrency, ms] = [process.argv[1], process.argv[2], JSON.parse(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
    const windowMs = 250, totals = [[0, 0], [0, 0]], others = {};
    const run = async (url, side, counted = true) => { const until = Date.now() + windowMs; const t0 = process.hrtime.bigint(); let done = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => { while (Date.now() < until) {
        const status = await fetch(url, { headers }).then(async (r) => { await r.arrayBuffer(); return r.status; }, () => 0);
        if (status === 200) done++; else if (counted) others[status] = (others[status] || 0) + 1; } }));
      if (counted) { totals[side][0] += done; totals[side][1] += Number(process.hrtime.bigint() - t0) / 1e9; } };
    (async () => { await run(a, 0, false); await run(b, 1, false); for (let i = 0; i < Math.max(1, Math.round(ms / windowMs / 2)); i++) { await run(a, 0); await run(b, 1); }
      process.stdout.write(JSON.stringify({ rates: totals.map(([n, s]) => n / s), ok: totals[0][0] + totals[1][0], others })); })();`;
  const child = spawn(process.execPath, ['-e', script, a, b, JSON.stringify(headers), String(concurrency), String(ms * 2)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((resolve) => child.on('exit', resolve));
  const { rates, ok, others } = JSON.parse(out) as { rates: [number, number]; ok: number; others: Record<string, number> };
  const answers = new Answers();
  answers.ok = ok;
  for (const [status, count] of Object.entries(others)) answers.others.set(Number(status), count);
  return [rates[0], rates[1], answers];
}

async function listen(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function main(): Promise<void> {
  await buildIfStale();
  const dir = mkdtempSync(join(tmpdir(), 'shop-ratios-'));
  // Every call admitted (max_inflight 0): these figures compare what calls cost, not how a rush is shed (bench/flash-sale-aims.ts).
  // Replicas at the runtime's priority: figure 1's bare server runs in this process, which would otherwise run above the replica it is compared with.
  const shop = await startShop({ port: 0, dataDir: join(dir, 'data'), secretsDir: join(dir, 'secrets'), sweepEveryMs: 0, functionEnv: { max_inflight: '0' }, replicaNiceness: 0 });
  const fn = (name: string) => `${shop.url}/function/${name}`;
  console.log(`ratio benchmarks, node ${process.version}, ${WINDOW_MS / 1000} s windows\n`);
  try {
    // 1. Gateway and template emulation overhead.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the shipped bundle, loaded as the template loads it
    const handler = require(join(DIST_DIR, 'inventory-get', 'handler.js'));
    const bare = await listen(node20App(handler, { RAW_BODY: 'true', MAX_RAW_SIZE: '1mb' }));
    const query = '?id=gooseneck-kettle';
    const [gatewayRate, bareRate, getAnswers] = await compareThroughput(32, WINDOW_MS, `${fn('inventory-get')}${query}`, `${bare.url}/${query}`);
    await bare.close();
    const r1 = gatewayRate / bareRate;
    console.log(`1. gateway / bare server        ${r1.toFixed(2)}  ${aim(r1 >= 0.7, '>= 0.7', getAnswers)}`);
    console.log(`   inventory-get, 32 concurrent keep-alive callers in a separate process, alternating 250 ms windows: ${gatewayRate.toFixed(0)}/s through the local gateway, ${bareRate.toFixed(0)}/s from the same bundle behind a bare node20 server (200s only; answers: ${getAnswers})`);

    // 2. Catalog page vs a static page of the same size, same server.
    // Every page admitted, as every call is (max_inflight=0): the figure is a page's cost, and this process's loop also carries the gateway.
    const storefront = createStorefront({ gatewayUrl: shop.url, cookieSecret: 'ratio-bench-cookie-secret-0123456789', concurrency: { min: 10_000, max: 10_000 } });
    const outer = express();
    let staticPage = Buffer.alloc(0);
    outer.get('/static-page', (_req, res) => void res.type('html').send(staticPage));
    outer.use(storefront);
    const site = await listen(outer);
    const visit = await fetch(`${site.url}/`);
    const cookie = visit.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    staticPage = Buffer.from(await visit.text());
    const [catalogRate, staticRate, pageAnswers] = await compareThroughput(32, WINDOW_MS, `${site.url}/`, `${site.url}/static-page`, { cookie });
    await site.close();
    const r2 = catalogRate / staticRate;
    console.log(`2. catalog page / static page   ${r2.toFixed(2)}  ${aim(r2 >= 0.5, '>= 0.5', pageAnswers)}`);
    console.log(`   GET / (${staticPage.length} bytes, one shopper's cookie) ${catalogRate.toFixed(0)}/s vs the same bytes as a static page ${staticRate.toFixed(0)}/s, 32 concurrent callers in a separate process, alternating 250 ms windows (200s only; answers: ${pageAnswers})`);

    // 3. Checkout vs cart-add, 100 concurrent shoppers, plentiful stock.
    await post(fn('inventory-restock'), { productId: 'paper-filters-100', stock: 1_000_000 }, { authorization: `Bearer ${shop.secrets['shop-admin-token']}` });
    const SHOPPERS = 100;
    const CARTS = 2_000;
    const shopperIds = Array.from({ length: CARTS }, (_, i) => `bench-shopper-${String(i).padStart(10, '0')}`);
    let next = 0;
    const filledCarts = new Set<string>();
    const adds = await throughput(SHOPPERS, WINDOW_MS, async () => {
      const shopperId = shopperIds[next++ % CARTS] as string;
      const status = await post(fn('cart-add'), { shopperId, productId: 'paper-filters-100', quantity: 1 });
      if (status === 200) filledCarts.add(shopperId);
      return status;
    });
    // Every cart that got a line above is checked out once; only the order-create calls are timed,
    // and only the orders placed (201) count.
    const carts = [...filledCarts];
    let cursor = 0;
    const orderStarted = process.hrtime.bigint();
    const orders = new Answers();
    await Promise.all(
      Array.from({ length: SHOPPERS }, async () => {
        while (cursor < carts.length) {
          const shopperId = carts[cursor++] as string;
          orders.add(await post(fn('order-create'), { shopperId, customer: { name: 'Bench', email: 'b@example.com', address: '1 Bench St' } }, { 'idempotency-key': `bench-key-${shopperId}` }));
        }
      }),
    );
    const orderRate = orders.ok / (Number(process.hrtime.bigint() - orderStarted) / 1e9);
    const r3 = orderRate / adds.rate;
    console.log(`3. order-create / cart-add      ${r3.toFixed(2)}  ${aim(r3 >= 0.4, '>= 0.4', adds.answers, orders)}`);
    console.log(`   100 concurrent shoppers: cart-add ${adds.rate.toFixed(0)}/s (${adds.answers}); order-create ${orderRate.toFixed(0)} orders/s over ${carts.length} one-line carts (${orders})`);
  } finally {
    await shop.stop();
  }

  // 4. Cold start and bundle sizes.
  const cold = await coldStarts(dir);
  const r4 = cold.bundled / cold.unbundled;
  console.log(`4. cold start bundled / sources ${r4.toFixed(2)}  ${aim(r4 <= 0.8, '<= 0.8', ...cold.answers)}`);
  console.log(`   process start to first answer of inventory-get (the product, 200), median of ${cold.runs}: bundle ${cold.bundled.toFixed(0)} ms (${cold.answers[0]}), unbundled sources (transpiled, node_modules) ${cold.unbundled.toFixed(0)} ms (${cold.answers[1]})`);
  const sizes = readdirSync(DIST_DIR).map((name) => ({ name, kb: statSync(join(DIST_DIR, name, 'handler.js')).size / 1024 }));
  const largest = sizes.reduce((a, b) => (b.kb > a.kb ? b : a));
  console.log(`   bundle sizes (minified): ${Math.min(...sizes.map((s) => s.kb)).toFixed(0)}-${largest.kb.toFixed(0)} KB, largest ${largest.name}; ${aim(largest.kb <= 1024, '<= 1 MB')}`);

  rmSync(dir, { recursive: true, force: true });
}

const COLD_START_LIMIT_MS = 30_000;
/** Process start to the first answer, and that answer's status (the figure counts only a 200: the product). */
async function timeToFirstAnswer(script: string, handlerPath: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; status: number }> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [script, handlerPath, String(port)], { env, stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => (exited = true));
  const giveUpAt = Date.now() + COLD_START_LIMIT_MS;
  try {
    for (;;) {
      const answered = await fetch(`http://127.0.0.1:${port}/?id=gooseneck-kettle`).then((r) => r.status, () => 0);
      // A process that died (a port already taken, a handler that does not load) or never listens is no answer (0): a failed start.
      if (answered !== 0 || exited || Date.now() > giveUpAt) return { ms: Number(process.hrtime.bigint() - started) / 1e6, status: answered };
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill();
  }
}

async function coldStarts(dir: string): Promise<{ bundled: number; unbundled: number; runs: number; answers: Answers[] }> {
  const work = join(dir, 'cold');
  // The same template emulation serves both; it is not part of what is compared.
  await build({ ...BUNDLE_OPTIONS, minify: false, entryPoints: [join(ROOT, 'runtime', 'node20.ts')], outfile: join(work, 'node20.js'), external: ['express4', 'body-parser'] });
  writeFileSync(
    join(work, 'serve.js'),
    `const { node20App } = require('./node20.js');\nconst handler = require(process.argv[2]);\nrequire('node:http').createServer(node20App(handler, { RAW_BODY: 'true' })).listen(Number(process.argv[3]), '127.0.0.1');\n`,
  );
  // Unbundled: every source file transpiled on its own, packages loaded from node_modules.
  const sources = ['core', 'functions/inventory-get'].flatMap((d) => listTs(join(ROOT, d)));
  // Dynamic imports become require(): left as import('./embedded'), Node cannot resolve them from
  // the transpiled files, and every unbundled start answered 500 (which this figure used to time).
  await build({ entryPoints: sources, outdir: join(work, 'src'), outbase: ROOT, bundle: false, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning', supported: { 'dynamic-import': false } });
  // The shop's seeded data (it is stopped by now): the first answer is the product, not a 404.
  const env = { PATH: process.env.PATH, NODE_PATH: join(ROOT, 'node_modules'), DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'silent' };
  const runs = 7;
  const answers = [new Answers(), new Answers()];
  const median = async (handlerPath: string, counted: Answers) => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const first = await timeToFirstAnswer(join(work, 'serve.js'), handlerPath, env);
      if (counted.add(first.status)) times.push(first.ms);
    }
    return percentile(times.sort((a, b) => a - b), 50);
  };
  const bundled = await median(join(DIST_DIR, 'inventory-get', 'handler.js'), answers[0] as Answers);
  const unbundled = await median(join(work, 'src', 'functions', 'inventory-get', 'handler.js'), answers[1] as Answers);
  return { bundled, unbundled, runs, answers };
}

function listTs(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) return listTs(full);
    return entry.endsWith('.ts') && !entry.endsWith('.test.ts') ? [full] : [];
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
