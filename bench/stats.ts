/** Latency figures for the benchmarks. */
export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1)] as number;
}

export function summary(label: string, samplesMs: number[], seconds: number): string {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1).padStart(7);
  return `${label.padEnd(28)} n=${String(sorted.length).padStart(5)}  ${(sorted.length / seconds).toFixed(0).padStart(5)}/s  p50 ${f(percentile(sorted, 50))} ms  p95 ${f(percentile(sorted, 95))} ms  p99 ${f(percentile(sorted, 99))} ms`;
}

export async function timed<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  try {
    return await fn();
  } finally {
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
}
