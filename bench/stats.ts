/** What the benchmarks share: a JSON call, a closed loop, percentiles and how a figure meets its aim. */

/** POSTs `body` as JSON; resolves with the status once the answer is read. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** Closed loop: `concurrency` callers each send the next call when the last one answered, for `ms`; calls per second. */
export async function throughput(concurrency: number, ms: number, call: (worker: number, i: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const until = Date.now() + ms;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; Date.now() < until; i++) {
        await call(worker, i);
        done++;
      }
    }),
  );
  return done / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** `meets the aim (<= 1.2)` or `BELOW the aim (<= 1.2)`. */
export const aim = (ok: boolean, text: string) => (ok ? `meets the aim (${text})` : `BELOW the aim (${text})`);

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
