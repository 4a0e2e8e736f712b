/**
 * `npm start`'s command as a developer runs it: a real process that seeds, serves the gateway
 * and the storefront, finishes calls in flight on SIGTERM, and keeps its data across restarts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { newShopperId, request } from './support/fixtures';
import { shopProcessHome, type ShopProcessHome } from './support/process';
import { until } from './support/until';

let home: ShopProcessHome;

beforeAll(async () => {
  home = await shopProcessHome();
});
afterAll(() => home.dispose());

describe('npm start', () => {
  it('serves the seeded catalog, drains calls in flight on SIGTERM, and keeps data across a restart', async () => {
    const first = await home.start();
    const catalog = await request(home.fn('inventory-list'), { query: { limit: '100' } });
    expect(catalog.json.items).toHaveLength(12);
    const page = await fetch(`http://127.0.0.1:${home.storefrontPort}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Gooseneck Kettle');

    // A call in flight when SIGTERM arrives: the gateway has started it, its body is still coming.
    const shopperId = newShopperId();
    const body = JSON.stringify({ shopperId, productId: 'paper-filters-100', quantity: 3 });
    const req = http.request(home.fn('cart-add'), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    const inFlight = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });
    req.write(body.slice(0, 10));
    await until(async () => /^gateway_function_invocation_started\{function_name="cart-add\.openfaas-fn"\} 1$/m.test(await (await fetch(`http://127.0.0.1:${home.port}/metrics`)).text()), 'the call in flight', 3_000);
    first.signal('SIGTERM');
    await until(async () => first.output().includes('SIGTERM: finishing calls in flight'), 'the runtime draining', 3_000);
    req.end(body.slice(10));
    const exit = first.exited;
    expect(await inFlight).toBe(200);
    expect(await exit).toBe(0);
    expect(first.output()).toContain('SIGTERM: finishing calls in flight');
    expect(first.output()).toContain('"msg":"call"');

    const second = await home.start();
    const cart = await request(home.fn('cart-get'), { query: { shopperId } });
    expect(cart.json.items).toEqual([expect.objectContaining({ productId: 'paper-filters-100', quantity: 3 })]);
    const again = second.exited;
    second.signal('SIGTERM');
    expect(await again).toBe(0);
  });

  it('starts the storefront again when it dies', async () => {
    const shop = await home.start();
    /** The storefront's process: the one running a copy of its bundle. */
    const storefrontPid = () =>
      readdirSync('/proc')
        .filter((entry) => /^\d+$/.test(entry))
        .find((pid) => {
          try {
            return /openfaas-shop-storefront-[^/]+\/\d+\/server\.js/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')) && readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`STOREFRONT_PORT=${home.storefrontPort}\0`);
          } catch {
            return false; // gone meanwhile, or not ours to read
          }
        });
    const first = storefrontPid() as string;
    expect(first).toBeDefined();
    process.kill(Number(first), 'SIGKILL');
    await until(async () => shop.output().includes('storefront exited; restarting'), 'the storefront restarted', 3_000);
    await until(async () => (await fetch(`http://127.0.0.1:${home.storefrontPort}/healthz`).then((r) => r.status, () => 0)) === 200, 'the new storefront answering', 3_000);
    expect(storefrontPid()).not.toBe(first);
    const stopped = shop.exited;
    shop.signal('SIGTERM');
    expect(await stopped).toBe(0);
  });
});
