/** Reading a Prometheus text exposition (0.0.4) in tests: one sample per line, labels in any order. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// prom-client writes NaN as "Nan" (a gauge with no sample yet, such as the event loop's lag at start).
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|NaN|Nan|\+Inf|-Inf)(?: -?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;

/** Every sample; a line that is not a valid sample fails the test that reads it. */
export function parseMetrics(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const match = LINE.exec(line);
      if (!match) throw new Error(`not a Prometheus sample: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(LABEL)].map((m) => [m[1] as string, (m[2] as string).replace(/\\(.)/g, '$1')]));
      return { name: match[1] as string, labels, value: Number(match[3]) };
    });
}

/** The value of the sample with this name and (at least) these labels. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
