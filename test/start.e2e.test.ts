/**
 * `npm start`'s command as a developer runs it: a real process that seeds, serves the gateway
 * and the storefront, finishes calls in flight on SIGTERM, and keeps its data across restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../runtime/build';
import { freePort, newShopperId, request } from './support/fixtures';

let dir: string;
let port: number;
let storefrontPort: number;
const started: ChildProcess[] = [];
const stopGroup = (child: ChildProcess) => process.kill(-(child.pid as number), 'SIGTERM');


function start(): Promise<{ child: ChildProcess; output: () => string }> {
  // The exact command of `npm start`, exec'd so that the runtime's own exit code is seen
  // (npm itself dies of the signal instead of reporting its child's exit).
  const command = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const child = spawn('sh', ['-c', `exec ${command}`], {
    cwd: ROOT,
    env: { ...process.env, GATEWAY_PORT: String(port), STOREFRONT_PORT: String(storefrontPort), DATA_DIR: join(dir, 'data'), SECRETS_DIR: join(dir, 'secrets'), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as in a terminal: Ctrl-C, or systemd's stop, signals the whole group.
    detached: true,
  });
  started.push(child);
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not come up:\n${output}`)), 30_000);
    child.stdout?.on('data', () => {
      if (output.includes(`http://127.0.0.1:${port}`) && output.includes(`http://127.0.0.1:${storefrontPort}`)) {
        clearTimeout(timer);
        resolve({ child, output: () => output });
      }
    });
    child.on('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
  });
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
const fn = (name: string) => `http://127.0.0.1:${port}/function/${name}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shop-start-'));
  port = await freePort();
  storefrontPort = await freePort();
});
afterAll(() => {
  for (const child of started) if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('serves the seeded catalog, drains calls in flight on SIGTERM, and keeps data across a restart', async () => {
    const first = await start();
    const catalog = await request(fn('inventory-list'), { query: { limit: '100' } });
    expect(catalog.json.items).toHaveLength(12);
    const home = await fetch(`http://127.0.0.1:${storefrontPort}/`);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('Gooseneck Kettle');

    // A call in flight when SIGTERM arrives: its body is still being sent.
    const shopperId = newShopperId();
    const body = JSON.stringify({ shopperId, productId: 'paper-filters-100', quantity: 3 });
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = http.request(fn('cart-add'), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        stopGroup(first.child);
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 100);
    });
    const exit = exited(first.child);
    expect(await inFlight).toBe(200);
    expect(await exit).toBe(0);
    expect(first.output()).toContain('SIGTERM: finishing calls in flight');
    expect(first.output()).toContain('"msg":"call"');

    const second = await start();
    const cart = await request(fn('cart-get'), { query: { shopperId } });
    expect(cart.json.items).toEqual([expect.objectContaining({ productId: 'paper-filters-100', quantity: 3 })]);
    const again = exited(second.child);
    stopGroup(second.child);
    expect(await again).toBe(0);
  });
});
