import { MetricsWindow, bucketQuantile, type ReplicaCount } from './metrics-window';

/** A window on a clock the test moves: 6 steps of 10 s. */
function windowAt(start = 1_000_000_000) {
  let now = start;
  const counts: ReplicaCount[] = [{ name: 'order-create', replicas: 1, availableReplicas: 1 }];
  const window = new MetricsWindow(() => counts, { stepSeconds: 10, steps: 6 }, () => now);
  return { window, counts, advance: (seconds: number) => void (now += seconds * 1000) };
}

const series = (w: MetricsWindow, name = 'order-create') => w.snapshot().functions.find((f) => f.name === name)?.points ?? [];

describe('bucketQuantile', () => {
  it('reads a quantile as Prometheus’s histogram_quantile does: linear within the bucket, +Inf gives the highest bound', () => {
    // 10 calls in (0.05, 0.1], 10 in (0.1, 0.25]
    const counts = [0, 0, 0, 0, 10, 10, 0, 0, 0, 0, 0, 0];
    expect(bucketQuantile(0.5, counts)).toBeCloseTo(0.1);
    expect(bucketQuantile(0.95, counts)).toBeCloseTo(0.1 + 0.15 * 0.9);
    expect(bucketQuantile(0.5, [4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])).toBeCloseTo(0.0025);
    expect(bucketQuantile(0.99, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3])).toBe(10);
    expect(bucketQuantile(0.5, new Uint32Array(12))).toBeNull();
  });
});

describe('MetricsWindow', () => {
  it('turns a step’s calls into rates, refusals and errors apart, latency of the calls not refused', () => {
    const { window } = windowAt();
    for (let i = 0; i < 10; i++) window.record('order-create', 201, 0.07);
    for (let i = 0; i < 10; i++) window.record('order-create', 201, 0.2);
    for (let i = 0; i < 5; i++) window.record('order-create', 429, 0.001);
    window.record('order-create', 503, 0.001);
    window.record('order-create', 502, 0.2);
    window.record('order-create', 409, 0.07); // sold out: the shop's answer, not a failure
    const last = series(window).at(-1);
    expect(last).toMatchObject({ callsPerSecond: 2.8, refusalsPerSecond: 0.6, errorsPerSecond: 0.1, replicas: 1, available: 1 });
    // 22 timed calls: 11 at or below 0.1 s, 11 in (0.1, 0.25]; refusals (1 ms) pull nothing down.
    expect(last?.p50).toBeCloseTo(0.1);
    expect(last?.p95).toBeCloseTo(0.1 + 0.15 * ((0.95 * 22 - 11) / 11));
  });

  it('answers a fixed number of steps, oldest first, with the steps it never saw empty', () => {
    const { window, advance } = windowAt();
    window.record('order-create', 200, 0.01);
    advance(20);
    const points = series(window);
    expect(points).toHaveLength(6);
    expect(points.map((p) => p.t)).toEqual(points.map((_, i) => (points.at(-1)?.t as number) - (5 - i) * 10));
    expect(points.map((p) => p.callsPerSecond)).toEqual([0, 0, 0, 0.1, 0, 0]);
    // Only a sample notes the replicas (the timer, off here; the snapshot itself): unknown, not zero, before.
    expect(points.map((p) => p.replicas)).toEqual([null, null, null, null, null, 1]);
    expect(points[4]?.p50).toBeNull();
  });

  it('keeps its memory fixed: after the ring comes round the old steps are gone', () => {
    const { window, advance } = windowAt();
    for (let step = 0; step < 50; step++) {
      window.record('order-create', 200, 0.01);
      advance(10);
    }
    window.record('order-create', 200, 0.01);
    window.record('order-create', 200, 0.01);
    const points = series(window);
    expect(points).toHaveLength(6);
    expect(points.map((p) => p.callsPerSecond)).toEqual([0.1, 0.1, 0.1, 0.1, 0.1, 0.2]);
  });

  it('marks each step with the replicas seen, and forgets a function no longer deployed', () => {
    const { window, counts, advance } = windowAt();
    window.sampleReplicas();
    advance(10);
    counts[0] = { name: 'order-create', replicas: 3, availableReplicas: 1 };
    counts.push({ name: 'cart-get', replicas: 1, availableReplicas: 0 });
    const points = series(window);
    expect(points.slice(-2).map((p) => [p.replicas, p.available])).toEqual([
      [1, 1],
      [3, 1],
    ]);
    expect(series(window, 'cart-get').at(-1)).toMatchObject({ replicas: 1, available: 0, callsPerSecond: 0 });
    counts.splice(0, 1);
    expect(window.snapshot().functions.map((f) => f.name)).toEqual(['cart-get']);
  });
});
