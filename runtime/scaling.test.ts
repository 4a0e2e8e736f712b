/**
 * OpenFaaS CE's scaling steps and autoscaling rule, on a clock the test moves: the alert fires
 * after the rate stayed above 5/s for 5 s, each notification adds ceil(max × 20 / 100), it
 * repeats every 30 s while firing, and a resolved alert goes back to the minimum.
 */
import { Autoscaler, CE_AUTOSCALING, calculateReplicas, scaleStep } from './scaling';

describe('scaling steps', () => {
  it('steps by ceil(max / 100 × 20), adds it while firing and goes back to the minimum when resolved', () => {
    expect([1, 2, 3, 4, 5, 10].map(scaleStep)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(calculateReplicas('firing', 1, { min: 1, max: 5 })).toBe(2);
    expect(calculateReplicas('firing', 5, { min: 1, max: 5 })).toBe(5);
    expect(calculateReplicas('firing', 2, { min: 1, max: 3 })).toBe(3);
    expect(calculateReplicas('resolved', 4, { min: 2, max: 5 })).toBe(2);
  });
});

describe('autoscaler', () => {
  let now = 0;
  let replicas: Record<string, number>;
  const labels: Record<string, { min: number; max: number }> = { busy: { min: 1, max: 3 }, fixed: { min: 1, max: 1 } };
  const scaler = () =>
    new Autoscaler(
      { functions: () => Object.keys(labels), bounds: (n) => labels[n] as { min: number; max: number }, replicas: (n) => replicas[n] ?? 0, setReplicas: (n, r) => (replicas[n] = r) },
      CE_AUTOSCALING,
      () => now,
    );
  /** `perSecond` successful calls in each second for `seconds`, evaluating the rule every second. */
  const load = (a: Autoscaler, name: string, perSecond: number, seconds: number, status = 200) => {
    for (let s = 0; s < seconds; s++) {
      for (let i = 0; i < perSecond; i++) a.record(name, status);
      now += 1_000;
      a.evaluate();
    }
  };

  beforeEach(() => {
    now = 1_000_000;
    replicas = { busy: 1, fixed: 1 };
  });

  it('fires once the rate stayed above 5/s for 5 s, repeats every 30 s, and resolves back to the minimum', () => {
    const a = scaler();
    load(a, 'busy', 20, 5); // the rate climbs over the 10 s window: above 5/s from the 3rd second
    expect(replicas.busy).toBe(1);
    load(a, 'busy', 20, 3);
    expect(replicas.busy).toBe(2);
    load(a, 'busy', 20, 29);
    expect(replicas.busy).toBe(2);
    load(a, 'busy', 20, 1);
    expect(replicas.busy).toBe(3);
    load(a, 'busy', 20, 60);
    expect(replicas.busy).toBe(3); // the maximum
    load(a, 'busy', 0, 11); // the 10 s window empties: resolved
    expect(replicas.busy).toBe(1);
  });

  it('counts only 200s, and leaves a function with min = max alone', () => {
    const a = scaler();
    load(a, 'busy', 50, 20, 201);
    expect(replicas.busy).toBe(1);
    load(a, 'fixed', 50, 20);
    expect(replicas.fixed).toBe(1);
  });

  it('does not fire on a burst shorter than 5 s above the threshold', () => {
    const a = scaler();
    load(a, 'busy', 100, 1);
    load(a, 'busy', 0, 12);
    expect(replicas.busy).toBe(1);
  });
});
