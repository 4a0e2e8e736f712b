/** `npm start`: the local OpenFaaS-like runtime with every function, and the storefront on it. */
import { join } from 'node:path';
import { logger } from '../core/log';
import { startStorefront, storefrontConfig } from '../frontend/server';
import { BASIC_AUTH_FILE, COOKIE_SECRET_FILE, SCALER_PASSWORD_FILE } from './secrets';
import { startShop } from './shop';

async function main(): Promise<void> {
  const shop = await startShop();
  const storefront = await startStorefront({
    ...storefrontConfig({ ...process.env, COOKIE_SECRET: process.env.COOKIE_SECRET ?? shop.secrets[COOKIE_SECRET_FILE] }),
    gatewayUrl: shop.url,
    gatewayCredentials: { user: 'scaler', password: shop.secrets[SCALER_PASSWORD_FILE] as string },
  });
  const where = shop.store.kind === 'mongo' ? 'MongoDB' : `embedded store in ${shop.store.location}`;
  const replicas = shop.provider.list().reduce((n, fn) => n + fn.replicas, 0);
  console.log(
    [
      ``,
      `  storefront  ${storefront.url}`,
      `  gateway     ${shop.url}   (${shop.functions.length} functions, ${replicas} replica processes, on ${where}; try ${shop.url}/function/inventory-list)`,
      `  /system/*   basic auth admin / contents of ${join(process.env.SECRETS_DIR as string, BASIC_AUTH_FILE)}`,
      `  faas-cli    faas-cli login -g ${shop.url} -u admin --password-stdin < ${join(process.env.SECRETS_DIR as string, BASIC_AUTH_FILE)}`,
      ``,
    ].join('\n'),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: finishing calls in flight, then stopping`);
    Promise.all([storefront.close(), shop.stop()]).then(
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
