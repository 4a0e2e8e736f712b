/**
 * Prometheus metrics in the text exposition format (0.0.4), without a client library: the
 * counters and histograms the local gateway and the storefront publish at /metrics.
 */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels = Record<string, string>;

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}` : '';
};

interface Series<T> {
  labels: Labels;
  value: T;
}

abstract class Metric<T> {
  protected readonly series = new Map<string, Series<T>>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  protected at(labels: Labels, initial: () => T): Series<T> {
    // Keyed by the values alone (each call site passes its labels in one order): cheap on the hot path.
    const key = Object.values(labels).join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      s = { labels, value: initial() };
      this.series.set(key, s);
    }
    return s;
  }
  abstract lines(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join('\n');
  }
}

export class Counter extends Metric<number> {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels, by = 1): void {
    this.at(labels, () => 0).value += by;
  }
  lines(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${labelText(s.labels)} ${s.value}`);
  }
}

export class Gauge extends Metric<number> {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(labels: Labels, value: number): void {
    this.at(labels, () => 0).value = value;
  }
  lines(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${labelText(s.labels)} ${s.value}`);
  }
}

interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Metric<HistogramValue> {
  constructor(
    name: string,
    help: string,
    private readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    super(name, help, 'histogram');
  }
  observe(labels: Labels, seconds: number): void {
    const s = this.at(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((le, i) => {
      if (seconds <= le) s.value.counts[i] = (s.value.counts[i] ?? 0) + 1;
    });
    s.value.sum += seconds;
    s.value.count++;
  }
  lines(): string[] {
    return [...this.series.values()].flatMap((s) => [
      ...this.buckets.map((le, i) => `${this.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${s.value.counts[i]}`),
      `${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.value.count}`,
      `${this.name}_sum${labelText(s.labels)} ${s.value.sum}`,
      `${this.name}_count${labelText(s.labels)} ${s.value.count}`,
    ]);
  }
  /** Count and sum per label set, for pages that show averages. */
  totals(): { labels: Labels; count: number; sum: number }[] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, count: s.value.count, sum: s.value.sum }));
  }
}

export class Registry {
  private readonly metrics: { render(): string }[] = [];
  register<M extends { render(): string }>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
