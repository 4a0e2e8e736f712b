/**
 * seed/seed.js, the catalog as a mongosh script for
 *   docker exec -i mongo-db mongosh ... < seed/seed.js
 * generated from seed/catalog.json (`npm run seed -- --write-mongosh`), so the two never
 * drift; a test fails when the committed file is stale, and runs it against the embedded store.
 *
 * It upserts by id: an existing product gets the file's name, description, price and image; a
 * new one is created with its stock supplied, recorded in its ledger outbox (`journal`) the way
 * the store records a supply (core/store/document-store.ts), so the sweep moves it to the
 * ledger. The stock of existing products is left as it is: changing it must be counted as a
 * supply against what checkouts hold, which inventory-restock and `npm run seed` do.
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
    'let created = 0, updated = 0; for (const { _id, stock, ...fields } of catalog) { const supply = { kind: "supply", quantity: stock, at: new Date().toISOString() }; const r = shop.products.updateOne({ _id }, { $set: fields, $setOnInsert: { stock, supplied: stock, sold: 0, journal: { ["supply:" + _id + ":" + new ObjectId().toString()]: supply } } }, { upsert: true }); created += r.upsertedCount; updated += r.modifiedCount; }',
    'print(`catalog: ${catalog.length} products, ${created} created, ${updated} updated; the stock of products that existed is unchanged (set it with inventory-restock or npm run seed)`);',
    '',
  ].join('\n');
}
