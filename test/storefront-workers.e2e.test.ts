/**
 * The storefront on several processes (STOREFRONT_WORKERS=2, frontend/workers.ts), as its
 * container runs it: the bundle's server.js as the cluster's primary, in front of a test shop's
 * gateway. Which worker takes a new connection is the kernel's choice, so every check here holds
 * whatever the spread: totals over both workers, and workers replaced one by one (a worker that
 * kept anything of its own, a cookie secret or a count of wrong passwords, would lose it).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOGIN_THROTTLE } from '../frontend/admin';
import { CONCURRENCY_DEFAULTS } from '../frontend/admission';
import { STOREFRONT_DIR } from '../runtime/build';
import { SCALER_PASSWORD_FILE } from '../runtime/secrets';
import { freePort } from './support/fixtures';
import { arrivalsWhileBusy, onNewConnection } from './support/busy';
import { parseMetrics, sampleValue } from './support/metrics';
import { startTestShop, type TestShop } from './support/shop';
import { until } from './support/until';

describe('the storefront on two workers', () => {
  let t: TestShop;
  let primary: ChildProcessWithoutNullStreams;
  let url: string;
  let output = '';
  const listening = () => output.split('\n').filter((line) => line.startsWith('storefront on')).length;
  const workerPids = (): number[] => {
    try {
      return readFileSync(`/proc/${primary.pid}/task/${primary.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return []; // the primary is gone
    }
  };
  /** Waits for `done`; if it never comes, says what the storefront printed meanwhile. */
  const seen = (done: () => boolean, what: string) => until(done, () => `${what}; the storefront said:\n${output}`, 3_000);
  /** Each worker killed in turn, waiting for the one started in its place to listen. */
  const replaceEveryWorker = async () => {
    for (const pid of workerPids()) {
      const before = listening();
      process.kill(pid, 'SIGKILL');
      await seen(() => listening() > before && workerPids().length === 2 && !workerPids().includes(pid), `replaced worker ${pid}`);
    }
  };

  beforeAll(async () => {
    t = await startTestShop();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // No COOKIE_SECRET: outside production the storefront makes a random one, which its workers must share.
    primary = spawn(process.execPath, [join(STOREFRONT_DIR, 'server.js')], {
      cwd: STOREFRONT_DIR,
      env: { PATH: process.env.PATH, STOREFRONT_WORKERS: '2', STOREFRONT_PORT: String(port), GATEWAY_URL: t.shop.url, SCALER_PASSWORD: t.shop.secrets[SCALER_PASSWORD_FILE] as string, LOG_LEVEL: 'silent' },
    });
    primary.stdout.on('data', (d) => (output += String(d)));
    primary.stderr.on('data', (d) => (output += String(d)));
    await seen(() => listening() === 2, 'two workers listening');
  });
  afterAll(async () => {
    if (primary && primary.exitCode === null) {
      const workers = workerPids();
      primary.kill('SIGKILL');
      for (const pid of workers) process.kill(pid, 'SIGKILL');
    }
    await t?.stop();
  });

  it('shows the operator the bound on pages in flight of all workers together', async () => {
    const page = await onNewConnection(`${url}/admin`, { headers: { authorization: `Basic ${Buffer.from(`admin:${t.shop.secrets['shop-admin-token']}`).toString('base64')}` } });
    expect(page.status).toBe(200);
    // Before any page: neither bound has moved from where it starts.
    expect(page.html).toContain(`<span class="limit">${2 * CONCURRENCY_DEFAULTS.initial}</span>`);
  });

  it('answers 503 for /metrics while a worker is frozen rather than a sum without it, and still shows the operator page', async () => {
    const [frozen] = workerPids() as [number];
    process.kill(frozen, 'SIGSTOP');
    try {
      // The worker still running takes every new connection: the frozen one accepts none.
      const metrics = await onNewConnection(`${url}/metrics`);
      expect(metrics.status).toBe(503);
      expect(Number(metrics.headers['retry-after'])).toBeGreaterThan(0);
      const page = await onNewConnection(`${url}/admin`, { headers: { authorization: `Basic ${Buffer.from(`admin:${t.shop.secrets['shop-admin-token']}`).toString('base64')}` } });
      expect(page.status).toBe(200);
      expect(page.html).toContain('Not every storefront worker gave its figures in time');
      expect(page.html).toContain('Recent orders');
    } finally {
      process.kill(frozen, 'SIGCONT');
    }
    expect((await onNewConnection(`${url}/metrics`)).status).toBe(200);
  });

  it('adds up every worker’s metrics on /metrics', async () => {
    const metric = async (name: string, labels?: Record<string, string>) => sampleValue(parseMetrics((await onNewConnection(`${url}/metrics`)).html), name, labels);
    expect(await metric('storefront_concurrency_limit')).toBe(2 * CONCURRENCY_DEFAULTS.initial);
    const pages = { method: 'GET', route: '/', code: '200' };
    const before = (await metric('http_requests_total', pages)) ?? 0;
    for (let i = 0; i < 20; i++) expect((await onNewConnection(`${url}/`)).status).toBe(200);
    expect(await metric('http_requests_total', pages)).toBe(before + 20);
  });

  it('keeps a shopper’s cart whichever worker serves the page, and after every worker was replaced', async () => {
    const product = await onNewConnection(`${url}/products/paper-filters-100`);
    const cookies = new Map(product.setCookies.map((c) => (c.split(';')[0] as string).split('=') as [string, string]));
    const csrf = /name="_csrf" value="([^"]+)"/.exec(product.html)?.[1] as string;
    const cookie = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const added = await onNewConnection(`${url}/cart/add`, {
      method: 'POST',
      headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, productId: 'paper-filters-100', quantity: '2' }).toString(),
    });
    expect(added.status).toBe(303);
    for (const c of added.setCookies) cookies.set(...((c.split(';')[0] as string).split('=') as [string, string]));
    const cartCount = async () => /class="count"[^>]*>(\d+)</.exec((await onNewConnection(`${url}/cart`, { headers: { cookie: cookie() } })).html)?.[1];
    for (let i = 0; i < 10; i++) expect(await cartCount()).toBe('2');
    await replaceEveryWorker();
    expect(await cartCount()).toBe('2');
  });

  it('counts wrong operator passwords once for all workers, and still after every worker was replaced', async () => {
    const admin = (password: string) => onNewConnection(`${url}/admin`, { headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } });
    for (let i = 0; i < LOGIN_THROTTLE.attempts; i++) expect((await admin(`wrong-${i}`)).status).toBe(401);
    await replaceEveryWorker();
    const refused = await admin('wrong-again');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('lets new shoppers in while others keep it busy, not one connection per turn of its event loop', async () => {
    // Taken one per turn, the last of 60 waited some 30 turns of both workers (about 15,000 answers).
    const { answeredMeanwhile, statuses } = await arrivalsWhileBusy(url, '/healthz');
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(answeredMeanwhile).toBeLessThan(5_000);
  });

  it('drains every worker on SIGTERM and exits 0', async () => {
    const workers = workerPids();
    const exited = new Promise<number | null>((resolve) => primary.once('exit', resolve));
    primary.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  });
});
