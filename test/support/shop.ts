/** A whole shop (runtime/shop.ts) on a free port and a fresh data directory, for integration tests. */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATABASE_FILE } from '../../core/store/embedded';
import { FAAS_NETES_PROBES } from '../../runtime/probes';
import { BASIC_AUTH_FILE } from '../../runtime/secrets';
import { STORE_CHECKS } from '../../runtime/store-health';
import { startShop, type RunningShop, type ShopOptions } from '../../runtime/shop';
import { request, type CallOptions } from './fixtures';

export interface TestShop {
  shop: RunningShop;
  /** The Authorization header of the gateway's admin user. */
  admin(): string;
  dataDir: string;
  call(fn: string, options?: CallOptions): ReturnType<typeof request>;
  /** Stops and starts it again on the same data and address, with `changes` to its options. */
  restart(changes?: Partial<ShopOptions>): Promise<void>;
  /** The gateway going away and coming back, on the same address. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** A fingerprint of every document in the store: equal before and after means nothing changed. */
  snapshot(): string;
  stop(): Promise<void>;
}

/**
 * Every document of every table of the embedded store in DATA_DIR, hashed in a stable order;
 * but the runtime's own write check (runtime/store-health.ts), which it rewrites every few seconds.
 */
export function storeFingerprint(dataDir: string): string {
  const db = new Database(join(dataDir, DATABASE_FILE), { readonly: true });
  try {
    const hash = createHash('sha256');
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    for (const { name } of tables.filter((t) => t.name !== STORE_CHECKS)) {
      hash.update(`\0${name}\0`);
      for (const row of db.prepare(`SELECT id, doc FROM ${name} ORDER BY id`).iterate() as IterableIterator<{ id: string; doc: string }>) hash.update(row.id).update('\0').update(row.doc);
    }
    return hash.digest('hex');
  } finally {
    db.close();
  }
}

/**
 * Tests choose: no autoscaling (a suite that wants it turns it on), no timer sweeps, replicas
 * restarted after 200 ms, and the replicas' logs kept (for /system/logs) but not printed. The
 * liveness probe gives a replica a minute rather than 6 s: the embedded store's lock wait still
 * blocks a replica's event loop for up to SQLITE_BUSY_TIMEOUT_MS, which the heaviest suites reach
 * on a busy machine (the probes' own suite sets faas-netes's timings).
 */
export async function startTestShop(
  extra: Pick<ShopOptions, 'faults' | 'replicas' | 'autoscale' | 'dataDir' | 'queueWorker' | 'functionEnv' | 'probes' | 'terminationGraceMs' | 'queue' | 'storeCheckEveryMs' | 'admission' | 'replicaNiceness'> & {
    prepare?: (dataDir: string) => Promise<void>;
  } = {},
): Promise<TestShop> {
  const { prepare, ...shopOptions } = extra;
  const dir = mkdtempSync(join(tmpdir(), 'shop-e2e-'));
  // Another shop's data directory, when given: two runtimes on one store.
  const dataDir = extra.dataDir ?? join(dir, 'data');
  await prepare?.(dataDir);
  const probes = { readiness: FAAS_NETES_PROBES.readiness, liveness: { ...FAAS_NETES_PROBES.liveness, failureThreshold: 30 } };
  // Suites send bursts of a hundred checkouts at once to prove what holds under contention, as no
  // client that honours Retry-After would: their replicas take every call (max_inflight 0), and
  // test/admission.e2e.test.ts sets its own to prove the refusals.
  const functionEnv = { max_inflight: '0', ...shopOptions.functionEnv };
  const options: ShopOptions = { port: 0, dataDir, secretsDir: join(dir, 'secrets'), sweepEveryMs: 0, autoscale: false, echoFunctionLogs: false, restartDelayMs: 200, probes, ...shopOptions, functionEnv };
  const shop = await startShop(options);
  // A restart comes back on the same address, as the cluster's gateway would.
  options.port = Number(new URL(shop.url).port);
  delete process.env.MONGO_URL;
  const handle: TestShop = {
    shop,
    dataDir,
    admin: () => `Basic ${Buffer.from(`admin:${handle.shop.secrets[BASIC_AUTH_FILE]}`).toString('base64')}`,
    call: (fn, callOptions) => request(`${handle.shop.url}/function/${fn}`, callOptions),
    async restart(changes: Partial<ShopOptions> = {}) {
      await handle.shop.stop();
      Object.assign(options, changes);
      handle.shop = await startShop(options);
    },
    async down() {
      await handle.shop.stop();
    },
    async up() {
      handle.shop = await startShop(options);
    },
    snapshot: () => storeFingerprint(dataDir),
    async stop() {
      await handle.shop.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
