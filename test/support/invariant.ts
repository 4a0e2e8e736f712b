/**
 * The shop's stock invariant, checked from the data itself. At a quiet moment (nothing in
 * flight, abandoned checkouts swept), for every product:
 *   supplied (initial stock + restocks) = stock + units held
 *   units held = units in confirmed (or cancelling) orders, and failed or cancelled orders hold none
 *   the ledger's movements add up to the stock, and its reserves minus releases to the units held
 *   stock >= 0
 * and every confirmed order's total is the sum of the prices it was reserved at.
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
  const byId = new Map(orders.map((o) => [o.id, o]));
  const holds = await store.allHolds();
  for (const [orderId, lines] of holds) {
    const status = byId.get(orderId)?.status;
    check(status === 'confirmed' || status === 'cancelling', `order ${orderId} (${status ?? 'unknown'}) holds ${JSON.stringify(lines)}`);
  }
  const soldUnits = new Map<string, number>();
  for (const order of orders) {
    if (order.status !== 'confirmed' && order.status !== 'cancelling') continue;
    check(order.totalCents === linesTotal(order.items), `order ${order.id} total ${order.totalCents} is not the sum of its lines`);
    const reservation = await store.getReservation(order.id);
    check(JSON.stringify(reservation?.items) === JSON.stringify(order.items), `order ${order.id} lines differ from its reservation`);
    for (const line of order.items) soldUnits.set(line.productId, (soldUnits.get(line.productId) ?? 0) + line.quantity);
  }
  const audits = await store.stockAudit();
  for (const a of audits) {
    check(a.stock >= 0, `${a.productId}: stock ${a.stock} is negative`);
    check(a.supplied === a.stock + a.held, `${a.productId}: supplied ${a.supplied} != stock ${a.stock} + held ${a.held}`);
    check(a.held === (soldUnits.get(a.productId) ?? 0), `${a.productId}: held ${a.held} != units in confirmed orders ${soldUnits.get(a.productId) ?? 0}`);
    const movements = await store.listMovements({ productId: a.productId });
    const sum = (kind?: string) => movements.filter((m) => !kind || m.kind === kind).reduce((total, m) => total + m.quantity, 0);
    check(sum() === a.stock, `${a.productId}: ledger adds up to ${sum()}, stock is ${a.stock}`);
    check(-(sum('reserve') + sum('release')) === a.held, `${a.productId}: ledger holds ${-(sum('reserve') + sum('release'))}, documents ${a.held}`);
    check(sum('supply') === a.supplied, `${a.productId}: ledger supplied ${sum('supply')}, documents ${a.supplied}`);
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
