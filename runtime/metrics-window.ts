/**
 * The local runtime's memory of the last minutes, for the operator page (what Prometheus keeps
 * in the cluster): per function, a ring of fixed steps (15 minutes of 10 s by default) holding
 * calls, errors, refusals, a latency histogram and the replicas seen. A step is reused when the
 * ring comes round, so memory is fixed whatever the uptime: steps x functions (at most 15 on CE).
 */
import { HISTORY_SECONDS, callOutcome, type FunctionHistory, type HistoryPoint } from '../core/function-history';

/** The gateway histogram's buckets (prom-client's and Go's defaults), so quantiles match Prometheus's. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface Step {
  /** Which step of the clock this slot holds now (floor(time / step)); -1: never used. */
  index: number;
  calls: number;
  errors: number;
  refusals: number;
  /** Calls not refused, per bucket (not cumulative); the last one is +Inf. */
  buckets: Uint32Array;
  replicas: number | null;
  available: number | null;
}

export interface ReplicaCount {
  name: string;
  replicas: number;
  availableReplicas: number;
}

export interface WindowSettings {
  stepSeconds: number;
  steps: number;
}

export const LOCAL_WINDOW: WindowSettings = { stepSeconds: 10, steps: HISTORY_SECONDS / 10 };

/**
 * The q-quantile of a histogram as Prometheus's histogram_quantile reads it: linear within the
 * bucket the rank falls in, the lowest bucket starting at 0, the +Inf bucket giving the highest bound.
 */
export function bucketQuantile(q: number, counts: ArrayLike<number>, bounds: readonly number[] = LATENCY_BUCKETS): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i] as number;
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const count = counts[i] as number;
    if (below + count >= rank && count > 0) {
      const lower = i === 0 ? 0 : (bounds[i - 1] as number);
      return lower + ((bounds[i] as number) - lower) * ((rank - below) / count);
    }
    below += count;
  }
  return bounds[bounds.length - 1] as number;
}

export class MetricsWindow {
  private readonly rings = new Map<string, Step[]>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly replicaCounts: () => ReplicaCount[],
    private readonly settings: WindowSettings = LOCAL_WINDOW,
    private readonly now: () => number = Date.now,
  ) {}

  /** A finished call of a deployed function (the gateway only reports those). */
  record(name: string, status: number, seconds: number): void {
    const step = this.current(name);
    const outcome = callOutcome(status);
    step.calls++;
    if (outcome === 'error') step.errors++;
    if (outcome === 'refused') return void step.refusals++;
    let bucket = LATENCY_BUCKETS.findIndex((bound) => seconds <= bound);
    if (bucket < 0) bucket = LATENCY_BUCKETS.length;
    (step.buckets[bucket] as number)++;
  }

  /** Notes each function's replicas in the current step, and forgets functions no longer deployed. */
  sampleReplicas(): void {
    const counts = this.replicaCounts();
    const names = new Set(counts.map((c) => c.name));
    for (const name of this.rings.keys()) if (!names.has(name)) this.rings.delete(name);
    for (const count of counts) {
      const step = this.current(count.name);
      step.replicas = count.replicas;
      step.available = count.availableReplicas;
    }
  }

  /** The last `steps` steps of every function, oldest first; the current step counts as far as it has come. */
  snapshot(): FunctionHistory {
    this.sampleReplicas();
    const last = this.stepOf(this.now());
    const { stepSeconds, steps } = this.settings;
    const functions = [...this.rings]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, ring]) => ({
        name,
        points: Array.from({ length: steps }, (_, i): HistoryPoint => {
          const index = last - steps + 1 + i;
          const step = ring[index % steps] as Step;
          const held = step.index === index;
          return {
            t: (index + 1) * stepSeconds,
            callsPerSecond: held ? step.calls / stepSeconds : 0,
            errorsPerSecond: held ? step.errors / stepSeconds : 0,
            refusalsPerSecond: held ? step.refusals / stepSeconds : 0,
            p50: held ? bucketQuantile(0.5, step.buckets) : null,
            p95: held ? bucketQuantile(0.95, step.buckets) : null,
            replicas: held ? step.replicas : null,
            available: held ? step.available : null,
          };
        }),
      }));
    return { stepSeconds, functions };
  }

  /** Samples the replicas twice a step, so every step shows them, even one with no call, whatever the timer's drift. */
  start(): void {
    this.timer ??= setInterval(() => this.sampleReplicas(), this.settings.stepSeconds * 500).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private stepOf(ms: number): number {
    return Math.floor(ms / 1000 / this.settings.stepSeconds);
  }

  /** The slot of the current step for this function, emptied first if it held an older step. */
  private current(name: string): Step {
    let ring = this.rings.get(name);
    if (!ring) {
      ring = Array.from({ length: this.settings.steps }, () => ({ index: -1, calls: 0, errors: 0, refusals: 0, buckets: new Uint32Array(LATENCY_BUCKETS.length + 1), replicas: null, available: null }));
      this.rings.set(name, ring);
    }
    const index = this.stepOf(this.now());
    const step = ring[index % ring.length] as Step;
    if (step.index !== index) {
      Object.assign(step, { index, calls: 0, errors: 0, refusals: 0, replicas: null, available: null });
      step.buckets.fill(0);
    }
    return step;
  }
}
