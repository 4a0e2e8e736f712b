/**
 * What the benchmarks share: a JSON call, a closed loop, percentiles and how a figure meets its
 * aim. A figure counts only successful answers (2xx); the others are counted by status, printed
 * with it, and a figure some of whose calls failed does not meet its aim.
 */

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** POSTs `body` as JSON; resolves with the status once the answer is read (0: no answer). */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Answers by status: the successful ones (2xx) make a figure, the others are reported beside it. */
export class Answers {
  ok = 0;
  readonly others = new Map<number, number>();

  add(status: number): boolean {
    const success = status >= 200 && status < 300;
    if (success) this.ok++;
    else this.others.set(status, (this.others.get(status) ?? 0) + 1);
    return success;
  }

  get failed(): number {
    let n = 0;
    for (const count of this.others.values()) n += count;
    return n;
  }

  /** `1234 ok` or `1230 ok, 4 failed {"503":4}` (status 0: no answer). */
  toString(): string {
    return this.failed === 0 ? `${this.ok} ok` : `${this.ok} ok, ${this.failed} failed ${JSON.stringify(Object.fromEntries(this.others))}`;
  }
}

/**
 * Closed loop: `concurrency` callers each send the next call when the last one answered, for `ms`.
 * `call` resolves with the status of the answer that counts; the rate is of successful calls only.
 * The cores the machine kept busy meanwhile come with it: a rate can only grow where cores were idle.
 */
export async function throughput(concurrency: number, ms: number, call: (worker: number, i: number) => Promise<number>, answers = new Answers()): Promise<{ rate: number; answers: Answers; cores: CoresBusy }> {
  const until = Date.now() + ms;
  const started = process.hrtime.bigint();
  const coresBefore = machineTicks();
  const ownBefore = process.cpuUsage();
  const okBefore = answers.ok;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; Date.now() < until; i++) answers.add(await call(worker, i));
    }),
  );
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const own = process.cpuUsage(ownBefore);
  return { rate: (answers.ok - okBefore) / (elapsedMs / 1000), answers, cores: coresBusy(coresBefore, machineTicks(), (own.user + own.system) / 1000 / elapsedMs) };
}

/** Cores kept busy over a window, machine-wide (every process: the shop's, the load's, any other), and by the load generator alone; stolen: the hypervisor gave them to another machine. */
export interface CoresBusy {
  busy: number;
  byLoad: number;
  stolen: number;
}

/** The machine's CPU time since boot from /proc/stat, in ticks summed over its cores. */
function machineTicks(): { busy: number; steal: number; total: number } {
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = (/^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '').split(/\s+/).map(Number);
  return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

function coresBusy(before: ReturnType<typeof machineTicks>, after: ReturnType<typeof machineTicks>, byLoad: number): CoresBusy {
  const cores = cpus().length;
  const total = after.total - before.total || 1;
  return { busy: ((after.busy - before.busy) / total) * cores, byLoad, stolen: ((after.steal - before.steal) / total) * cores };
}

/**
 * `meets the aim (<= 1.2)`, `BELOW the aim (<= 1.2)`, or, when any call behind the figure failed,
 * `NOT MET: 4 of 1234 calls failed {"503":4} (aim <= 1.2)`: a figure made of fewer answers than were asked for says nothing.
 */
export const aim = (ok: boolean, text: string, ...behind: Answers[]) => {
  const failed = behind.reduce((n, a) => n + a.failed, 0);
  if (failed > 0) {
    const total = behind.reduce((n, a) => n + a.ok + a.failed, 0);
    return `NOT MET: ${failed} of ${total} calls failed ${behind.map((a) => JSON.stringify(Object.fromEntries(a.others))).join(' ')} (aim ${text})`;
  }
  return ok ? `meets the aim (${text})` : `BELOW the aim (${text})`;
};

export function percentile(sortedMs: readonly number[], p: number): number {
  if (sortedMs.length === 0) return NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1)] as number;
}

export function summary(label: string, samplesMs: number[], seconds: number): string {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1).padStart(7);
  return `${label.padEnd(28)} n=${String(sorted.length).padStart(5)}  ${(sorted.length / seconds).toFixed(0).padStart(5)}/s  p50 ${f(percentile(sorted, 50))} ms  p95 ${f(percentile(sorted, 95))} ms  p99 ${f(percentile(sorted, 99))} ms`;
}
