/**
 * seed/seed.js, the catalog as a mongosh script for
 *   docker exec -i mongo-db mongosh ... < seed/seed.js
 * generated from seed/catalog.json (`npm run seed -- --write-mongosh`), so the two never
 * drift; a test fails when the committed file is stale. It upserts by id and, like the
 * stores, leaves the units held by orders alone.
 */
import { join } from 'node:path';
import type { Product } from '../core/schemas';

export const MONGOSH_FILE = join(__dirname, 'seed.js');

export function mongoshScript(catalog: readonly Product[], dbName = 'shopdb'): string {
  const docs = catalog.map(({ id, ...fields }) => ({ _id: id, ...fields }));
  // One statement per line: mongosh reads piped input like typed input.
  return [
    '// Generated from seed/catalog.json by `npm run seed -- --write-mongosh`. Do not edit by hand.',
    `const shop = db.getSiblingDB(${JSON.stringify(dbName)});`,
    `const catalog = ${JSON.stringify(docs)};`,
    'let changed = 0; for (const { _id, ...fields } of catalog) { const r = shop.products.updateOne({ _id }, { $set: fields }, { upsert: true }); changed += r.upsertedCount + r.modifiedCount; }',
    'print(`catalog: ${catalog.length} products, ${changed} created or updated`);',
    '',
  ].join('\n');
}
