/**
 * How many replicas a function runs, as OpenFaaS Community Edition decides it.
 *
 * Bounds: core/replica-bounds.ts. A deploy starts at the minimum; a scale call is held to the bounds.
 *
 * Autoscaling, CE's rule: Prometheus fires the alert APIHighInvocationRate when
 *   sum by (function_name) (rate(gateway_function_invocation_total{code="200"}[10s])) > 5
 * has held for 5 s, and AlertManager repeats it every 30 s while it fires; each notification
 * adds ceil(max / 100 * 20) replicas up to the maximum (openfaas/faas gateway/handlers/
 * alerthandler.go, CalculateReplicas, scaling factor 20). When the alert resolves, the function
 * goes back to its minimum. Setting min = max turns it off for a function.
 */
import { CE_MAX_REPLICAS, type ReplicaBounds } from '../core/replica-bounds';

const SCALING_FACTOR = 20;

/** The alert handler's step: how many replicas one firing notification adds. */
export function scaleStep(max: number): number {
  return Math.ceil((Math.min(max, CE_MAX_REPLICAS) / 100) * SCALING_FACTOR);
}

/** CalculateReplicas: a firing alert adds a step up to the maximum; a resolved one goes back to the minimum. */
export function calculateReplicas(status: 'firing' | 'resolved', current: number, bounds: ReplicaBounds): number {
  return status === 'firing' ? Math.min(current + scaleStep(bounds.max), bounds.max) : bounds.min;
}

export interface AutoscalerSettings {
  /** The alert's threshold: successful calls per second, over the window. */
  threshold: number;
  windowMs: number;
  /** How long the rate must stay above the threshold before the alert fires (`for:`). */
  forMs: number;
  /** AlertManager's repeat_interval: how often a firing alert is sent again. */
  repeatMs: number;
  /** How often the rule is evaluated. */
  evaluateEveryMs: number;
}

export const CE_AUTOSCALING: AutoscalerSettings = { threshold: 5, windowMs: 10_000, forMs: 5_000, repeatMs: 30_000, evaluateEveryMs: 1_000 };

export interface ScalingTarget {
  functions(): string[];
  bounds(name: string): ReplicaBounds;
  replicas(name: string): number;
  setReplicas(name: string, replicas: number): void;
}

interface AlertState {
  /** Since when the rate has been above the threshold, or null. */
  pendingSince: number | null;
  firing: boolean;
  lastSent: number;
}

export class Autoscaler {
  /** Per function, its successful calls per second of the clock, within the window. */
  private readonly successes = new Map<string, Map<number, number>>();
  private readonly alerts = new Map<string, AlertState>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly target: ScalingTarget,
    private readonly settings: AutoscalerSettings = CE_AUTOSCALING,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a call, as gateway_function_invocation_total does; only 200s count toward the alert. */
  record(name: string, status: number): void {
    if (status !== 200) return;
    let perSecond = this.successes.get(name);
    if (!perSecond) this.successes.set(name, (perSecond = new Map()));
    const second = Math.floor(this.now() / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }

  /** Successful calls per second over the window, as rate(...[10s]) reads them. */
  rate(name: string): number {
    const oldest = Math.floor((this.now() - this.settings.windowMs) / 1000);
    let calls = 0;
    for (const [second, count] of this.successes.get(name) ?? []) {
      if (second > oldest) calls += count;
      else this.successes.get(name)?.delete(second);
    }
    return calls / (this.settings.windowMs / 1000);
  }

  /** One evaluation of the rule for every function, and the notifications it sends. */
  evaluate(): void {
    const now = this.now();
    for (const name of this.target.functions()) {
      const bounds = this.target.bounds(name);
      if (bounds.min === bounds.max) continue;
      const alert = this.alerts.get(name) ?? { pendingSince: null, firing: false, lastSent: 0 };
      this.alerts.set(name, alert);
      if (this.rate(name) > this.settings.threshold) {
        alert.pendingSince ??= now;
        const due = alert.firing ? now - alert.lastSent >= this.settings.repeatMs : now - alert.pendingSince >= this.settings.forMs;
        if (due) {
          alert.firing = true;
          alert.lastSent = now;
          this.notify(name, 'firing', bounds);
        }
      } else {
        alert.pendingSince = null;
        if (alert.firing) {
          alert.firing = false;
          this.notify(name, 'resolved', bounds);
        }
      }
    }
  }

  start(): void {
    this.timer ??= setInterval(() => this.evaluate(), this.settings.evaluateEveryMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private notify(name: string, status: 'firing' | 'resolved', bounds: ReplicaBounds): void {
    const current = this.target.replicas(name);
    const next = calculateReplicas(status, current, bounds);
    if (next !== current) this.target.setReplicas(name, next);
  }
}
