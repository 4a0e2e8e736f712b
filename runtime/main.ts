/** `npm start`: the local OpenFaaS-compatible runtime with every function, and the storefront on it. */
import { logLine } from '../core/log';
import { startStorefront, storefrontConfig } from '../frontend/server';
import { COOKIE_SECRET } from './secrets';
import { startShop } from './shop';

async function main(): Promise<void> {
  const shop = await startShop({ log: (line) => logLine('info', line) });
  const storefront = await startStorefront({
    ...storefrontConfig({ ...process.env, COOKIE_SECRET: process.env.COOKIE_SECRET ?? shop.secrets[COOKIE_SECRET] }),
    gatewayUrl: shop.url,
  });
  const where = shop.store.kind === 'mongo' ? 'MongoDB' : `embedded store in ${shop.store.location}`;
  console.log(
    [
      ``,
      `  storefront  ${storefront.url}`,
      `  gateway     ${shop.url}   (${shop.functions.length} functions on ${where}; try ${shop.url}/function/inventory-list)`,
      `  /system/*   basic auth admin / contents of ${process.env.SECRETS_DIR}/basic-auth-password`,
      ``,
    ].join('\n'),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logLine('info', `${signal}: finishing calls in flight, then stopping`);
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
