/** A whole shop (runtime/shop.ts) on a free port and a fresh data directory, for integration tests. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startShop, type RunningShop, type ShopOptions } from '../../runtime/shop';
import { request, type CallOptions } from './fixtures';

export interface TestShop {
  shop: RunningShop;
  dataDir: string;
  call(fn: string, options?: CallOptions): ReturnType<typeof request>;
  restart(): Promise<void>;
  /** The gateway going away and coming back, on the same address. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** A fingerprint of every byte the store has written: equal before and after means nothing changed. */
  snapshot(): string;
  stop(): Promise<void>;
}

export async function startTestShop(extra: Pick<ShopOptions, 'faults'> = {}): Promise<TestShop> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-e2e-'));
  const dataDir = join(dir, 'data');
  const options = { port: 0, dataDir, secretsDir: join(dir, 'secrets'), sweepEveryMs: 0, ...extra };
  const shop = await startShop(options);
  // A restart comes back on the same address, as the cluster's gateway would.
  options.port = Number(new URL(shop.url).port);
  delete process.env.MONGO_URL;
  const handle: TestShop = {
    shop,
    dataDir,
    call: (fn, callOptions) => request(`${handle.shop.url}/function/${fn}`, callOptions),
    async restart() {
      await handle.shop.stop();
      handle.shop = await startShop(options);
    },
    async down() {
      await handle.shop.stop();
    },
    async up() {
      handle.shop = await startShop(options);
    },
    snapshot() {
      const hash = createHash('sha256');
      for (const file of readdirSync(dataDir).filter((f) => f.endsWith('.db')).sort()) hash.update(file).update(readFileSync(join(dataDir, file)));
      return hash.digest('hex');
    },
    async stop() {
      await handle.shop.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
