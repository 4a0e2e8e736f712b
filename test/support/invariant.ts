/**
 * The shop's stock invariant, checked from the data itself. At a quiet moment (nothing in
 * flight, abandoned checkouts swept), for every product:
 *   supplied (initial stock + restocks) = stock + held + returning + sold, with nothing held or
 *     returning any more, and stock >= 0
 *   sold = the units of confirmed (and cancelling) orders
 *   the ledger's movements add up to the stock, its supplies to `supplied`, and its reserves
 *     minus releases and returns to the units sold
 * and for every order: a confirmed one's total is the sum of the prices it was reserved at and it
 * names the holds of its lines; a failed or cancelled one holds and has sold nothing.
 */
import { linesTotal } from '../../core/cart';
import type { Order } from '../../core/schemas';
import type { ShopStore } from '../../core/store/store';

export interface InvariantReport {
  products: number;
  checks: number;
  violations: string[];
}

export async function checkInvariant(store: ShopStore, orders: readonly Order[]): Promise<InvariantReport> {
  const violations: string[] = [];
  let checks = 0;
  const check = (ok: boolean, message: string) => {
    checks++;
    if (!ok) violations.push(message);
  };
  const soldUnits = new Map<string, number>();
  for (const order of orders) {
    if (order.status === 'confirmed' || order.status === 'cancelling') {
      check(order.totalCents === linesTotal(order.items), `order ${order.id} total ${order.totalCents} is not the sum of its lines`);
      const decision = await store.getDecision(order.id);
      const counted = decision?.kind === 'order' ? decision.stock.holdTokens : {};
      check(order.items.every((i) => i.productId in counted), `confirmed order ${order.id} does not name the holds of all its lines`);
      for (const line of order.items) soldUnits.set(line.productId, (soldUnits.get(line.productId) ?? 0) + line.quantity);
    }
  }
  // A confirmed order's holds are sold, a failed or cancelled one's given back: nothing is left on the products.
  const entries = await store.openEntries();
  check(entries.length === 0, `entries still in flight: ${JSON.stringify(entries)}`);
  const audits = await store.stockAudit();
  for (const a of audits) {
    check(a.stock >= 0, `${a.productId}: stock ${a.stock} is negative`);
    check(a.supplied === a.stock + a.held + a.returning + a.sold, `${a.productId}: supplied ${a.supplied} != stock ${a.stock} + held ${a.held} + returning ${a.returning} + sold ${a.sold}`);
    check(a.sold === (soldUnits.get(a.productId) ?? 0), `${a.productId}: sold ${a.sold} != units in confirmed orders ${soldUnits.get(a.productId) ?? 0}`);
    const movements = await store.listMovements({ productId: a.productId });
    const sum = (...kinds: string[]) => movements.filter((m) => kinds.length === 0 || kinds.includes(m.kind)).reduce((total, m) => total + m.quantity, 0);
    check(sum() === a.stock, `${a.productId}: ledger adds up to ${sum()}, stock is ${a.stock}`);
    check(sum('supply') === a.supplied, `${a.productId}: ledger supplied ${sum('supply')}, documents ${a.supplied}`);
    check(-sum('reserve', 'release', 'return') === a.held + a.returning + a.sold, `${a.productId}: ledger took ${-sum('reserve', 'release', 'return')}, documents hold and sold ${a.held + a.returning + a.sold}`);
  }
  return { products: audits.length, checks, violations };
}

/** Every order of these shoppers, as the store has them. */
export async function ordersOf(store: ShopStore, shopperIds: Iterable<string>): Promise<Order[]> {
  const all: Order[] = [];
  for (const id of new Set(shopperIds)) all.push(...(await store.listOrders(id, 1000)));
  return all;
}

/** One summary line per scenario, printed past jest's console capture. */
export function report(scenario: string, figures: Record<string, number | string>): void {
  process.stdout.write(`reliability ${scenario}: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
}
