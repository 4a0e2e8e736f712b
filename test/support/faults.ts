/**
 * Fault plans for a test shop (runtime/faults.ts), and which step each fault hit. The runtime
 * only counts faults; a test needs to know that its fault fired where it was aimed (a plan
 * naming an operation the checkout no longer calls fires nothing, and the case would pass on a
 * checkout that never met a fault). The shop runs in the test's process, so the steps are read
 * from its Faults object by wrapping the two methods the gateway and the supervisor ask.
 */
import type { FaultPlan, Faults } from '../../runtime/faults';
import type { TestShop } from './shop';

/** `store:OPERATION` or `function:NAME`: where a fault fired. */
export type FaultStep = `store:${string}` | `function:${string}`;

export interface FaultRecorder {
  /** Sets a plan (null clears it) through the gateway's /system/faults, as an operator would. */
  set(plan: FaultPlan | null): Promise<void>;
  /** Steps hit since the last `set`, with how many times each. */
  fired(): Record<FaultStep, number>;
  /** Resolves once `step` has fired `times` times since the last `set`. */
  firedAt(step: FaultStep, times?: number): Promise<void>;
  /** Resolves once every slowed store operation has finished (it lands after its caller gave up). */
  slowOperationsDone(): Promise<void>;
}

const recorders = new WeakMap<Faults, Map<FaultStep, number>>();

function record(faults: Faults): Map<FaultStep, number> {
  const known = recorders.get(faults);
  if (known) return known;
  const fired = new Map<FaultStep, number>();
  recorders.set(faults, fired);
  const hit = (step: FaultStep) => fired.set(step, (fired.get(step) ?? 0) + 1);
  const forFunction = faults.forFunction.bind(faults);
  const forStoreOperation = faults.forStoreOperation.bind(faults);
  faults.forFunction = (name) => {
    const fault = forFunction(name);
    if (fault) hit(`function:${name}`);
    return fault;
  };
  faults.forStoreOperation = (operation) => {
    const fault = forStoreOperation(operation);
    if (fault) hit(`store:${operation}`);
    return fault;
  };
  return fired;
}

async function until(condition: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  // Bounded so that a fault that never fires fails with its name, not with jest's timeout.
  const giveUp = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > giveUp) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function faultRecorder(t: TestShop): FaultRecorder {
  const faults = () => {
    if (!t.shop.faults) throw new Error('start the test shop with { faults: true }');
    return t.shop.faults;
  };
  return {
    async set(plan) {
      const fired = record(faults());
      const res = await fetch(`${t.shop.url}/system/faults`, {
        method: plan ? 'POST' : 'DELETE',
        headers: { authorization: t.admin(), 'content-type': 'application/json' },
        body: plan ? JSON.stringify(plan) : undefined,
      });
      if (res.status !== 200) throw new Error(`fault plan refused: ${res.status} ${await res.text()}`);
      if (plan) fired.clear();
    },
    fired: () => Object.fromEntries(record(faults())) as Record<FaultStep, number>,
    firedAt: (step, times = 1) => until(() => (record(faults()).get(step) ?? 0) >= times, `${step} to fire ${times} time(s); fired: ${JSON.stringify(Object.fromEntries(record(faults())))}`),
    slowOperationsDone: () => until(() => faults().pending === 0, 'slowed store operations to finish', 60_000),
  };
}
