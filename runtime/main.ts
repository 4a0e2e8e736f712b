/** `npm start`: the local OpenFaaS-compatible runtime with every function of the shop. */
import { logLine } from '../core/log';
import { startShop } from './shop';

async function main(): Promise<void> {
  const shop = await startShop({ log: (line) => logLine('info', line) });
  const where = shop.store.kind === 'mongo' ? 'MongoDB' : `embedded store in ${shop.store.location}`;
  console.log(
    [
      ``,
      `  OpenFaaS shop: ${shop.functions.length} functions on ${where}`,
      `  gateway   ${shop.url}   (try ${shop.url}/function/inventory-list)`,
      `  /system/* basic auth: admin / contents of ${process.env.SECRETS_DIR}/basic-auth-password`,
      ``,
    ].join('\n'),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logLine('info', `${signal}: finishing calls in flight, then stopping`);
    shop.stop().then(
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
