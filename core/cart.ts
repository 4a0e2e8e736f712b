/**
 * The shopper's cart. Lines hold product and quantity only; names and prices are read from
 * the catalog whenever the cart is shown, so a cart never carries a stale or forged price.
 */
import { conflict, shopError } from './errors';
import { findProduct } from './catalog';
import { MAX_CART_LINES, MAX_LINE_QUANTITY, type Cart, type OrderLineRequest, type Product } from './schemas';
import type { CartRecord, ShopStore } from './store/store';

export type CartChange = { kind: 'add' | 'set'; productId: string; quantity: number } | { kind: 'clear' };

/** Applies a change to cart lines (pure). `set` to 0 removes the line. */
export function applyCartChange(lines: readonly OrderLineRequest[], change: CartChange): OrderLineRequest[] {
  if (change.kind === 'clear') return [];
  const current = lines.find((l) => l.productId === change.productId)?.quantity ?? 0;
  const quantity = change.kind === 'add' ? current + change.quantity : change.quantity;
  if (quantity > MAX_LINE_QUANTITY) {
    throw conflict('CONFLICT', `At most ${MAX_LINE_QUANTITY} of one product fit in a cart`, {
      productId: change.productId,
      inCart: current,
      max: MAX_LINE_QUANTITY,
    });
  }
  if (quantity === 0) return lines.filter((l) => l.productId !== change.productId);
  if (current === 0) {
    if (lines.length >= MAX_CART_LINES) throw conflict('CONFLICT', `A cart holds at most ${MAX_CART_LINES} different products`);
    return [...lines, { productId: change.productId, quantity }];
  }
  return lines.map((l) => (l.productId === change.productId ? { ...l, quantity } : l));
}

/** What priced lines cost together, in cents: a cart's total and an order's. */
export function linesTotal(items: readonly { priceCents: number; quantity: number }[]): number {
  return items.reduce((sum, i) => sum + i.priceCents * i.quantity, 0);
}

/** Prices lines from the catalog; lines whose product is gone are left out. */
export function priceCart(shopperId: string, lines: readonly OrderLineRequest[], products: readonly Product[]): Cart {
  const byId = new Map(products.map((p) => [p.id, p]));
  const items = lines.flatMap((l) => {
    const p = byId.get(l.productId);
    return p ? [{ productId: p.id, name: p.name, priceCents: p.priceCents, quantity: l.quantity }] : [];
  });
  return { shopperId, items, totalCents: linesTotal(items) };
}

export async function showCart(store: ShopStore, shopperId: string): Promise<Cart> {
  const { lines } = await store.getCart(shopperId);
  const products = lines.length ? await store.getProducts(lines.map((l) => l.productId)) : [];
  return priceCart(shopperId, lines, products);
}

const MAX_ATTEMPTS = 10;

/**
 * Optimistic concurrency for every cart change: read, compute the new lines, write if nobody
 * changed the cart meanwhile, else retry. `next` returns null when there is nothing to write.
 */
async function replaceLines(
  store: ShopStore,
  shopperId: string,
  next: (current: readonly OrderLineRequest[]) => OrderLineRequest[] | null,
  now: () => string,
  known?: CartRecord,
): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const cart = attempt === 0 && known ? known : await store.getCart(shopperId);
    const lines = next(cart.lines);
    if (lines === null || (await store.replaceCart(shopperId, lines, cart.version, now()))) return;
  }
  throw shopError(409, 'CONFLICT', 'The cart is being changed elsewhere; try again');
}

/**
 * Empties a cart without reading it back (after an order: nobody is looking at it). `known`, the
 * cart as the checkout read it, spares reading it again unless it changed since.
 */
export function emptyCart(store: ShopStore, shopperId: string, now: () => string, known?: CartRecord): Promise<void> {
  return replaceLines(store, shopperId, (current) => (current.length === 0 ? null : []), now, known);
}

/**
 * Changes a cart and shows the result. Adding checks the product exists and has the units
 * (the real guard is the reservation at checkout; this one spares the shopper a surprise there).
 */
export async function changeCart(store: ShopStore, shopperId: string, change: CartChange, now: () => string): Promise<Cart> {
  const product = change.kind === 'clear' ? undefined : await findProduct(store, change.productId);
  await replaceLines(store, shopperId, (current) => {
    const lines = applyCartChange(current, change);
    if (product) {
      const quantityOf = (ls: readonly OrderLineRequest[]) => ls.find((l) => l.productId === product.id)?.quantity ?? 0;
      const wanted = quantityOf(lines);
      // Only growing a line is refused: a shopper may always lower or remove one.
      if (wanted > product.stock && wanted > quantityOf(current)) {
        throw conflict('OUT_OF_STOCK', `Only ${product.stock} of ${product.name} left`, [
          { productId: product.id, requested: wanted, available: product.stock },
        ]);
      }
    }
    return lines;
  }, now);
  return showCart(store, shopperId);
}
