/** The catalog the shop starts with: seed/catalog.json, checked against the same schema the functions use. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Catalog, type Product } from '../core/schemas';

export const CATALOG_FILE = join(__dirname, 'catalog.json');

export function readCatalog(path: string = CATALOG_FILE): Product[] {
  return Catalog.parse(JSON.parse(readFileSync(path, 'utf8')));
}
