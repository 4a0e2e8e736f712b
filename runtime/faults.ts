/**
 * Fault injection for the reliability tests: off unless the runtime is started with
 * `faults: true` (or SHOP_FAULT_INJECTION=1); then POST /system/faults (basic auth) sets a plan,
 * GET reads how many faults fired and how many slowed operations are still running, and DELETE
 * clears it.
 *
 * - At the gateway, per function: answer a status without calling it, drop the connection,
 *   or delay the call (a delay past exec_timeout is a gateway timeout, 504).
 * - In the store, per operation: fail (the database is unreachable: 503), hang (the process
 *   died there: the call never finishes) or slow (delayMs, then the real operation: a slow
 *   function that still finishes after its caller gave up), after letting `after` calls
 *   through. Replicas ask before each planned operation (runtime/replica.ts), so `after` and
 *   `times` count across every replica of every function.
 * - In a function's replicas: hold `megabytes` of memory more (a leak), once, for the memory
 *   limit's tests (runtime/oom.ts).
 */
import { z } from '../core/zod';
import type { StoreFault } from './replica';

const Times = z.number().int().min(1).optional();

export const FaultPlan = z.strictObject({
  functions: z
    .record(
      z.string(),
      z.strictObject({ status: z.number().int().min(400).max(599).optional(), drop: z.boolean().optional(), delayMs: z.number().int().min(0).max(60_000).optional(), times: Times }),
    )
    .optional(),
  store: z
    .array(
      z.strictObject({
        operation: z.string(),
        mode: z.enum(['fail', 'hang', 'slow']),
        delayMs: z.number().int().min(0).max(60_000).optional(),
        after: z.number().int().min(0).optional(),
        times: Times,
      }),
    )
    .optional(),
  memory: z.record(z.string(), z.strictObject({ megabytes: z.number().int().min(1).max(4096) })).optional(),
});
export type FaultPlan = z.infer<typeof FaultPlan>;

export interface FunctionFault {
  status?: number;
  drop?: boolean;
  delayMs?: number;
}

export class Faults {
  private plan: FaultPlan = {};
  private readonly seen = new Map<string, number>();
  private readonly used = new Map<string, number>();
  /** How many faults fired, for the tests' reports. */
  injected = 0;
  /** Slowed store operations still running: a test waits for none to be left before it checks the data. */
  pending = 0;

  constructor(private readonly onPlan: (storeOperations: string[], memory: Record<string, number>) => void = () => {}) {}

  set(plan: FaultPlan): void {
    this.plan = plan;
    this.seen.clear();
    this.used.clear();
    this.onPlan(this.storeOperations(), Object.fromEntries(Object.entries(plan.memory ?? {}).map(([name, m]) => [name, m.megabytes])));
  }

  clear(): void {
    this.set({});
  }

  /** The store operations the plan names: the ones replicas ask about. */
  storeOperations(): string[] {
    return [...new Set((this.plan.store ?? []).map((f) => f.operation))];
  }

  /** The fault for this call of a function, if one is due. */
  forFunction(name: string): FunctionFault | undefined {
    const fault = this.plan.functions?.[name];
    if (!fault || !this.take(`fn:${name}`, 0, fault.times)) return undefined;
    return fault;
  }

  /** The fault for this store operation, if one is due; a slow one counts as pending until `slowDone`. */
  forStoreOperation(operation: string): StoreFault | null {
    const fault = this.plan.store?.find((f) => f.operation === operation);
    if (!fault || !this.take(`store:${operation}`, fault.after ?? 0, fault.times)) return null;
    if (fault.mode === 'slow') this.pending++;
    return fault.delayMs === undefined ? { mode: fault.mode } : { mode: fault.mode, delayMs: fault.delayMs };
  }

  slowDone(count = 1): void {
    this.pending = Math.max(0, this.pending - count);
  }

  private take(key: string, after: number, times: number | undefined): boolean {
    const seen = (this.seen.get(key) ?? 0) + 1;
    this.seen.set(key, seen);
    if (seen <= after) return false;
    const used = this.used.get(key) ?? 0;
    if (times !== undefined && used >= times) return false;
    this.used.set(key, used + 1);
    this.injected++;
    return true;
  }
}
