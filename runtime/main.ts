/**
 * `npm start`: the local OpenFaaS-like runtime with every function, the storefront on it in a
 * process of its own, and, unless WATCH=0 (or CI is set), the watch: a save under functions/,
 * core/, frontend/ or in stack.yml is built and rolled out like `faas-cli up` (runtime/up.ts).
 */
import { join } from 'node:path';
import { logger } from '../core/log';
import { storefrontWorkers } from '../frontend/workers';
import { ROOT, STOREFRONT_DIR } from './build';
import type { LocalProvider } from './provider';
import { BASIC_AUTH_FILE, COOKIE_SECRET_FILE, SCALER_PASSWORD_FILE } from './secrets';
import { startShop } from './shop';
import { startStorefrontProcess } from './storefront';
import { prepareDevLoop } from './up';
import { WATCHED } from './watch';

const log = (msg: string, fields?: Record<string, unknown>) => logger.info(fields, msg);

/** Every replica of every function ready (start-up waits for one of each), or a minute passed. */
async function everyReplicaReady(provider: LocalProvider): Promise<boolean> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    if (provider.list().every((fn) => fn.availableReplicas >= fn.replicas)) return true;
  }
  return false;
}

async function main(): Promise<void> {
  const env = process.env;
  const watching = env.WATCH !== undefined ? env.WATCH !== '0' : !env.CI;
  const watch = watching ? prepareDevLoop(ROOT) : undefined;
  const shop = await startShop().catch(async (error: unknown) => {
    await watch?.stop();
    throw error;
  });
  const secretsDir = env.SECRETS_DIR as string;
  const storefront = await startStorefrontProcess({
    distDir: STOREFRONT_DIR,
    env: {
      GATEWAY_URL: shop.url,
      // The scaler's credentials, never the gateway's admin password (README, Security).
      SCALER_PASSWORD_FILE: join(secretsDir, SCALER_PASSWORD_FILE),
      ...(env.COOKIE_SECRET ? {} : { COOKIE_SECRET_FILE: join(secretsDir, COOKIE_SECRET_FILE) }),
    },
    workers: storefrontWorkers(env),
    log,
  });
  const where = shop.store.kind === 'mongo' ? 'MongoDB' : `embedded store in ${shop.store.location}`;
  const replicas = shop.provider.list().reduce((n, fn) => n + fn.replicas, 0);
  console.log(
    [
      ``,
      `  storefront  ${storefront.url}`,
      `  gateway     ${shop.url}   (${shop.functions.length} functions, ${replicas} replica processes, on ${where}; try ${shop.url}/function/inventory-list)`,
      `  /system/*   basic auth admin / contents of ${join(secretsDir, BASIC_AUTH_FILE)}`,
      `  faas-cli    faas-cli login -g ${shop.url} -u admin --password-stdin < ${join(secretsDir, BASIC_AUTH_FILE)}`,
      ``,
    ].join('\n'),
  );
  const loop = await watch?.start({ provider: shop.provider, stack: shop.stack, storefront, print: (line) => console.log(`[watch] ${line}`), printError: (line) => console.error(`[watch] ${line}`) });
  const allReady = await everyReplicaReady(shop.provider);
  const status = shop.provider.list();
  console.log(
    `${allReady ? 'ready' : 'NOT READY'}: ${status.reduce((n, fn) => n + fn.availableReplicas, 0)}/${status.reduce((n, fn) => n + fn.replicas, 0)} replicas of ${status.length} functions and the storefront answer; ` +
      (loop ? `watching ${WATCHED.map((w) => (w.includes('.') ? w : `${w}/`)).join(', ')} (WATCH=0 turns it off)` : 'not watching the sources (WATCH=0 or CI)'),
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: finishing calls in flight, then stopping`);
    Promise.resolve(loop?.stop())
      .then(() => Promise.all([storefront.stop(), shop.stop()]))
      .then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
