/**
 * `npm run seed`: loads seed/catalog.json (or --file) into the shop.
 *
 *   npm run seed                      into the store: MongoDB when the mongo-url secret or
 *                                     MONGO_URL is set, else the embedded store in DATA_DIR
 *   npm run seed -- --reset           ... and delete products that are not in the file
 *   npm run seed -- --gateway URL     through a running shop's inventory-restock function,
 *                                     with the admin token from SHOP_ADMIN_TOKEN or
 *                                     --token-file (default .secrets/shop-admin-token):
 *                                     hot-swaps the inventory while `npm start` holds DATA_DIR
 *   npm run seed -- --write-mongosh   regenerates seed/seed.js
 *
 * Upserts by id, so running it twice changes nothing the second time. Each product's
 * stock is set to the file's value; units held by orders are kept.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seedCatalog } from '../core/catalog';
import type { Product } from '../core/schemas';
import { closeStores, openStore, storeTarget } from '../core/store/open';
import { CATALOG_FILE, readCatalog } from './catalog';
import { MONGOSH_FILE, mongoshScript } from './mongosh';

/** A progress line that rewrites itself on a terminal; in a log, only its last state. */
const progress = (done: number, total: number) => {
  if (process.stdout.isTTY) process.stdout.write(`\rseeding ${done}/${total}`);
  else if (done === total) process.stdout.write(`seeding ${done}/${total}`);
};

async function throughGateway(gateway: string, token: string, catalog: readonly Product[]) {
  const summary = { created: 0, updated: 0, failed: 0 };
  for (const [i, product] of catalog.entries()) {
    const res = await fetch(`${gateway.replace(/\/+$/, '')}/function/inventory-restock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ product }),
    });
    const text = await res.text();
    if (res.status === 201) summary.created++;
    else if (res.status === 200) summary.updated++;
    else {
      summary.failed++;
      process.stdout.write(`\n${product.id}: ${res.status} ${text}\n`);
    }
    progress(i + 1, catalog.length);
  }
  return summary;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      file: { type: 'string', default: CATALOG_FILE },
      reset: { type: 'boolean', default: false },
      gateway: { type: 'string' },
      'token-file': { type: 'string', default: join(__dirname, '..', '.secrets', 'shop-admin-token') },
      'write-mongosh': { type: 'boolean', default: false },
    },
  });
  const catalog = readCatalog(values.file);

  if (values['write-mongosh']) {
    writeFileSync(MONGOSH_FILE, mongoshScript(catalog));
    console.log(`wrote ${MONGOSH_FILE} (${catalog.length} products)`);
    return;
  }

  if (values.gateway) {
    if (values.reset) throw new Error('--reset works on the store directly, not through the gateway');
    const token = process.env.SHOP_ADMIN_TOKEN ?? readFileSync(values['token-file'], 'utf8').trim();
    const summary = await throughGateway(values.gateway, token, catalog);
    console.log(`\nseeded through ${values.gateway}: ${summary.created} created, ${summary.updated} updated, ${summary.failed} failed`);
    if (summary.failed) process.exitCode = 1;
    return;
  }

  const target = storeTarget();
  const store = await openStore(target);
  try {
    const summary = await seedCatalog(store, catalog, { reset: values.reset, onProgress: progress });
    const where = target.kind === 'mongo' ? 'MongoDB' : target.location;
    console.log(`\nseeded ${where}: ${summary.created} created, ${summary.updated} updated, ${summary.unchanged} unchanged, ${summary.removed} removed`);
  } finally {
    await closeStores();
  }
}

main().catch((error: unknown) => {
  console.error(`seed failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
