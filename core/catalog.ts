/**
 * Browsing the catalog and changing it (admin).
 */
import { z } from './zod';
import { invalidInput, notFound } from './errors';
import type { Product } from './schemas';
import type { PutOutcome, ShopStore } from './store/store';

export const DEFAULT_PAGE_SIZE = 24;

const CursorPosition = z.strictObject({ name: z.string().max(200), id: z.string().max(64) });

/** The cursor is the (name, id) of the last product shown, opaque to callers. */
export function encodeCursor(product: Pick<Product, 'name' | 'id'>): string {
  return Buffer.from(JSON.stringify({ name: product.name, id: product.id })).toString('base64url');
}

export function decodeCursor(cursor: string): z.infer<typeof CursorPosition> {
  try {
    return CursorPosition.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw invalidInput('The cursor is not one this shop issued', [{ path: ['cursor'], message: 'unknown cursor' }]);
  }
}

export async function browseProducts(
  store: ShopStore,
  query: { q?: string; limit?: number; cursor?: string },
): Promise<{ items: Product[]; nextCursor?: string }> {
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const q = query.q?.trim() || undefined;
  // One extra row tells whether there is a next page without a count query.
  const rows = await store.listProducts({ q, limit: limit + 1, after });
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return rows.length > limit && last ? { items, nextCursor: encodeCursor(last) } : { items };
}

export async function findProduct(store: ShopStore, id: string): Promise<Product> {
  const [product] = await store.getProducts([id]);
  if (!product) throw notFound('PRODUCT_NOT_FOUND', `There is no product ${id}`, { productId: id });
  return product;
}

export async function setStock(store: ShopStore, productId: string, stock: number): Promise<Product> {
  const product = await store.setStock(productId, stock);
  if (!product) throw notFound('PRODUCT_NOT_FOUND', `There is no product ${productId}`, { productId });
  return product;
}

export async function putProduct(store: ShopStore, product: Product): Promise<{ product: Product; outcome: PutOutcome }> {
  const outcome = await store.putProduct(product);
  return { product: await findProduct(store, product.id), outcome };
}

/** Loads a catalog: upserts every product by id; with `reset`, removes products not in it. */
export async function seedCatalog(
  store: ShopStore,
  products: readonly Product[],
  options: { reset?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<Record<PutOutcome | 'removed', number>> {
  const summary = { created: 0, updated: 0, unchanged: 0, removed: 0 };
  for (const [i, product] of products.entries()) {
    summary[await store.putProduct(product)]++;
    options.onProgress?.(i + 1, products.length);
  }
  if (options.reset) summary.removed = await store.removeProductsExcept(products.map((p) => p.id));
  return summary;
}
