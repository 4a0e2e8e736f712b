/**
 * The shop's stock invariant, checked from the data itself.
 *
 * At any moment, on a snapshot of the products (one read: checkouts may be in flight), for every
 * product: supplied (initial stock + restocks) = stock + held + returning + sold, with no bucket
 * below zero (`snapshotInvariant`, `InvariantSampler`).
 *
 * At a quiet moment (nothing in flight, abandoned checkouts swept) also (`checkInvariant`):
 *   nothing is held or returning any more
 *   sold = the units of confirmed (and cancelling) orders
 *   the ledger's movements add up to the stock, its supplies to `supplied`, and its reserves
 *     minus releases and returns to the units sold
 * and for every order: a confirmed one charged, line by line, the catalog's price for the units
 * it asked for, and its total is the sum of those lines (computed here, not with the shop's own
 * code); it names the hold of each of its lines and its stock is sold; a failed or cancelled one
 * holds and has sold nothing.
 */
import type { Order } from '../../core/schemas';
import type { ShopStore, StockAudit } from '../../core/store/store';
import { readCatalog } from '../../seed/catalog';

export interface InvariantReport {
  products: number;
  checks: number;
  violations: string[];
}

/** Product id -> name and price, as the seeded catalog has them. */
export type Prices = ReadonlyMap<string, { name: string; priceCents: number }>;
export const catalogPrices = (): Prices => new Map(readCatalog().map((p) => [p.id, { name: p.name, priceCents: p.priceCents }]));

/** Violations of supplied = stock + held + returning + sold on one snapshot of the products. */
function bucketViolations(audits: readonly StockAudit[]): string[] {
  const violations: string[] = [];
  for (const a of audits) {
    for (const bucket of ['stock', 'held', 'returning', 'sold'] as const) if (!(a[bucket] >= 0)) violations.push(`${a.productId}: ${bucket} ${a[bucket]} is negative`);
    if (a.supplied !== a.stock + a.held + a.returning + a.sold) violations.push(`${a.productId}: supplied ${a.supplied} != stock ${a.stock} + held ${a.held} + returning ${a.returning} + sold ${a.sold}`);
  }
  return violations;
}

/** The invariant on one snapshot, whatever is in flight; `inFlight` is how many units were held or returning in it. */
export async function snapshotInvariant(store: ShopStore): Promise<{ violations: string[]; inFlight: number }> {
  const audits = await store.stockAudit();
  return { violations: bucketViolations(audits), inFlight: audits.reduce((n, a) => n + a.held + a.returning, 0) };
}

/**
 * Reads snapshots one after the other until stopped, while checkouts run: each must satisfy the
 * invariant. `inFlight` counts the snapshots that caught units held or returning, so a test can
 * show that it sampled a rush, not a quiet moment.
 */
export class InvariantSampler {
  samples = 0;
  inFlight = 0;
  readonly violations: string[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly store: ShopStore) {
    this.loop = this.run();
  }

  /** One snapshot now (also used at chosen moments, e.g. while a fault holds a checkout mid-way). */
  async sample(): Promise<{ violations: string[]; inFlight: number }> {
    const snapshot = await snapshotInvariant(this.store);
    this.samples++;
    if (snapshot.inFlight > 0) this.inFlight++;
    this.violations.push(...snapshot.violations);
    return snapshot;
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.sample();
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async stop(): Promise<this> {
    this.running = false;
    await this.loop;
    return this;
  }
}

export async function checkInvariant(store: ShopStore, orders: readonly Order[], options: { prices?: Prices } = {}): Promise<InvariantReport> {
  const violations: string[] = [];
  let checks = 0;
  const check = (ok: boolean, message: string) => {
    checks++;
    if (!ok) violations.push(message);
  };
  const soldUnits = new Map<string, number>();
  for (const order of orders) {
    if (order.status === 'confirmed' || order.status === 'cancelling') {
      let total = 0;
      for (const line of order.items) total += line.priceCents * line.quantity;
      check(order.totalCents === total, `order ${order.id} total ${order.totalCents} is not the sum of its lines ${total}`);
      const asked = new Map<string, number>();
      for (const line of order.requested) asked.set(line.productId, (asked.get(line.productId) ?? 0) + line.quantity);
      const charged = new Map(order.items.map((line) => [line.productId, line.quantity]));
      check(JSON.stringify([...asked].sort()) === JSON.stringify([...charged].sort()), `order ${order.id} charged for ${JSON.stringify([...charged])}, asked for ${JSON.stringify([...asked])}`);
      for (const line of options.prices ? order.items : []) {
        const listed = options.prices?.get(line.productId);
        check(listed?.priceCents === line.priceCents && listed.name === line.name, `order ${order.id} charged ${line.priceCents} for ${line.productId} (${line.name}); the catalog says ${JSON.stringify(listed)}`);
      }
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
  for (const message of bucketViolations(audits)) check(false, message);
  for (const a of audits) {
    check(a.held === 0 && a.returning === 0, `${a.productId}: ${a.held} held and ${a.returning} returning at a quiet moment`);
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
