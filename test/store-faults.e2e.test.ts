/**
 * A store that cannot write, for real: the data directory on a 16 MB tmpfs filled to the last
 * block (SQLITE_FULL), and the database file deleted while the shop runs. Writes answer 503
 * STORE_UNAVAILABLE with Retry-After and change nothing, reads keep working, /healthz and the
 * metrics say why, and the shop takes writes again once there is room.
 *
 * Mounting needs root (or CAP_SYS_ADMIN); where the machine refuses it, the full-disk case says
 * so and is skipped, and the deleted-file case still runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATABASE_FILE } from '../core/store/embedded';
import { newShopperId } from './support/fixtures';
import { parseMetrics, sampleValue } from './support/metrics';
import { startTestShop, type TestShop } from './support/shop';
import { until } from './support/until';


/** A fresh tmpfs of `size`, or undefined when this machine does not let the tests mount one. */
function mountTmpfs(size: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'shop-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return dir;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    console.warn(`full-disk test skipped: mounting a tmpfs is not permitted here (${String(error).split('\n')[0]})`);
    return undefined;
  }
}
const mounted = mountTmpfs('16m');

const addToCart = (t: TestShop, shopperId: string) => t.call('cart-add', { body: { shopperId, productId: 'gooseneck-kettle', quantity: 1 } });
const health = async (t: TestShop) => {
  const res = await fetch(`${t.shop.url}/healthz`);
  return { status: res.status, text: await res.text() };
};
const metric = async (t: TestShop, name: string, labels: Record<string, string> = {}) => sampleValue(parseMetrics(await (await fetch(`${t.shop.url}/metrics`)).text()), name, labels);

(mounted ? describe : describe.skip)('a full disk', () => {
  let t: TestShop;
  const disk = mounted as string;
  beforeAll(async () => {
    t = await startTestShop({ dataDir: join(disk, 'data'), storeCheckEveryMs: 100 });
  });
  afterAll(async () => {
    await t.stop();
    execFileSync('umount', [disk]);
    rmSync(disk, { recursive: true, force: true });
  });

  it('answers writes 503 STORE_UNAVAILABLE with Retry-After and changes nothing, keeps reads working, says why, and recovers', async () => {
    const earlier = newShopperId();
    expect((await addToCart(t, earlier)).status).toBe(200);
    expect(await health(t)).toEqual({ status: 200, text: 'OK' });

    // Fill every block left: big files, then small ones.
    const fillers: string[] = [];
    for (const size of [1024 * 1024, 64 * 1024, 4096]) {
      for (;;) {
        const file = join(disk, `filler-${fillers.length}`);
        try {
          writeFileSync(file, Buffer.alloc(size));
          fillers.push(file);
        } catch {
          rmSync(file, { force: true });
          break;
        }
      }
    }

    const refused = [];
    for (let i = 0; i < 20; i++) {
      const shopperId = newShopperId();
      refused.push({ shopperId, res: await addToCart(t, shopperId) });
    }
    for (const { res } of refused) {
      expect([res.status, res.headers.get('retry-after'), res.json?.error?.code, res.json?.error?.details]).toEqual([503, '30', 'STORE_UNAVAILABLE', { cause: 'SQLITE_FULL' }]);
      expect(res.json.error.message).toBe('The database’s disk is full; nothing was saved. Try again later');
    }
    // Reads keep working: the catalog, and the cart written before the disk filled up.
    expect((await t.call('inventory-list', { query: { limit: '2' } })).status).toBe(200);
    const cart = await t.call('cart-get', { query: { shopperId: earlier } });
    expect([cart.status, cart.json.items.length]).toEqual([200, 1]);
    // The runtime's own check says why.
    await until(async () => (await health(t)).status === 503);
    expect((await health(t)).text).toMatch(/^the store cannot write since \S+: SQLITE_FULL The database’s disk is full\n$/);
    expect(await metric(t, 'shop_store_writable')).toBe(0);
    expect(await metric(t, 'shop_store_write_check_failures', { code: 'SQLITE_FULL' })).toBeGreaterThanOrEqual(1);

    for (const file of fillers) rmSync(file);
    await until(async () => (await health(t)).status === 200);
    expect(await metric(t, 'shop_store_writable')).toBe(1);
    expect((await addToCart(t, newShopperId())).status).toBe(200);
    // Nothing a refused write asked for was kept.
    for (const { shopperId } of refused.slice(0, 5)) expect((await t.call('cart-get', { query: { shopperId } })).json.items).toEqual([]);
  });
});

describe('a database file deleted while the shop runs', () => {
  let t: TestShop;
  beforeAll(async () => {
    t = await startTestShop({ storeCheckEveryMs: 100 });
  });
  afterAll(() => t.stop());

  it('is reported by /healthz, and a replica started afterwards answers 503 instead of starting an empty shop', async () => {
    // The replica running now has the database open, and keeps reading the deleted file.
    expect((await t.call('inventory-get', { query: { id: 'gooseneck-kettle' } })).status).toBe(200);
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(t.dataDir, `${DATABASE_FILE}${suffix}`), { force: true });
    await until(async () => (await health(t)).status === 503);
    expect((await health(t)).text).toMatch(/^the store cannot write since \S+: ENOENT .*shop\.sqlite is gone/);
    // A new replica: it must not create a new, empty database beside the one the others still write.
    const scaled = await fetch(`${t.shop.url}/system/scale-function/inventory-get`, { method: 'POST', headers: { authorization: t.admin() }, body: JSON.stringify({ serviceName: 'inventory-get', replicas: 2 }) });
    expect(scaled.status).toBe(202);
    await until(() => t.shop.provider.replicasOf('inventory-get')?.available() === 2);
    const answers = [await t.call('inventory-get', { query: { id: 'gooseneck-kettle' } }), await t.call('inventory-get', { query: { id: 'gooseneck-kettle' } })];
    const fromNew = answers.find((a) => a.status !== 200);
    expect([fromNew?.status, fromNew?.headers.get('retry-after'), fromNew?.json?.error?.code, fromNew?.json?.error?.details]).toEqual([503, '30', 'STORE_UNAVAILABLE', { cause: 'ENOENT' }]);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
  });
});
