/**
 * The whole backend in one process: every function of stack.yml, bundled, behind the local
 * gateway, on the embedded store (or MongoDB when configured). `npm start` runs this; the
 * integration tests start it the same way on a free port and a fresh data directory.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { seedCatalog } from '../core/catalog';
import type { Node20Handler } from '../core/node20';
import { closeStores, openStore, openWrappedStore, storeTarget, type StoreTarget } from '../core/store/open';
import { readCatalog } from '../seed/catalog';
import { ROOT, buildIfStale } from './build';
import { Faults } from './faults';
import { startGateway, type LoadedFunction } from './gateway';
import { importNedbData } from './import-nedb';
import { BASIC_AUTH_SECRET, ensureLocalSecrets } from './secrets';
import { readStack } from './stack';

export interface ShopOptions {
  port?: number;
  dataDir?: string;
  secretsDir?: string;
  stackFile?: string;
  log?: (line: string) => void;
  /** Fault injection at /system/faults (reliability tests); also SHOP_FAULT_INJECTION=1. */
  faults?: boolean;
  /** How often the runtime calls order-sweep, as the cron-connector does in the cluster; 0: never. */
  sweepEveryMs?: number;
}

export interface RunningShop {
  url: string;
  store: StoreTarget;
  secrets: Record<string, string>;
  functions: string[];
  faults?: Faults;
  stop(): Promise<void>;
}

export async function startShop(options: ShopOptions = {}): Promise<RunningShop> {
  const log = options.log ?? (() => {});
  const secretsDir = resolve(options.secretsDir ?? process.env.SECRETS_DIR ?? join(ROOT, '.secrets'));
  const secrets = ensureLocalSecrets(secretsDir);
  // The functions read these, as they read their environment and secret mounts in a pod.
  process.env.SECRETS_DIR = secretsDir;
  process.env.DATA_DIR = resolve(options.dataDir ?? process.env.DATA_DIR ?? join(ROOT, 'data'));

  await buildIfStale(log);
  const stack = readStack(options.stackFile ?? join(ROOT, 'stack.yml'));
  const functions: LoadedFunction[] = Object.entries(stack.functions).map(([name, spec]) => {
    const dir = isAbsolute(spec.handler) ? spec.handler : join(ROOT, spec.handler);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the template loads handlers with require, so do we
    const handler = require(join(dir, 'handler.js')) as Node20Handler;
    if (typeof handler !== 'function') throw new Error(`${dir}/handler.js does not export a function (module.exports = handler)`);
    return { name, spec, handler };
  });

  const target = storeTarget();
  if (target.kind === 'embedded') await importNedbData(target.location, log);
  const faults = options.faults || process.env.SHOP_FAULT_INJECTION === '1' ? new Faults() : undefined;
  const store = faults ? await openWrappedStore(target, (s) => faults.wrapStore(s)) : await openStore(target);
  if ((await store.countProducts()) === 0) {
    const summary = await seedCatalog(store, readCatalog());
    log(`seeded the catalog: ${summary.created} products`);
  }

  const gateway = await startGateway(functions, {
    port: options.port ?? Number(process.env.GATEWAY_PORT ?? 8080),
    basicAuthPassword: secrets[BASIC_AUTH_SECRET] as string,
    faults,
  });
  process.env.GATEWAY_URL = gateway.url;

  const sweepEveryMs = options.sweepEveryMs ?? Number(process.env.SWEEP_EVERY_MS ?? 60_000);
  const sweeper =
    sweepEveryMs > 0 && functions.some((f) => f.name === 'order-sweep')
      ? setInterval(() => {
          fetch(`${gateway.url}/function/order-sweep`, { method: 'POST' }).then(
            (res) => res.arrayBuffer(),
            (error: unknown) => log(`order-sweep could not be called: ${String(error)}`),
          );
        }, sweepEveryMs).unref()
      : undefined;

  return {
    url: gateway.url,
    store: target,
    secrets,
    functions: functions.map((f) => f.name),
    faults,
    async stop() {
      clearInterval(sweeper);
      await gateway.close();
      await closeStores();
    },
  };
}
