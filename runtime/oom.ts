/**
 * Memory limits, as a pod has them: `limits.memory` of a deployment (stack.yml) becomes
 * - each replica's V8 heap limit (--max-old-space-size, three quarters of the limit: the rest is
 *   for the young generation, code and buffers, as Node's documentation advises), and
 * - a ceiling on its resident memory: a replica whose RSS passes the limit is SIGKILLed, as the
 *   kernel's OOM killer ends a container over its cgroup limit (reason OOMKilled, exit 137), and
 *   the supervisor restarts it with its backoff.
 * The watcher samples every replica's RSS from /proc (Linux), which also gives FunctionStatus's
 * usage.totalMemoryBytes. The cgroup also counts page cache; RSS is what a process is charged for
 * here.
 */
import { readFile } from 'node:fs/promises';

const UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE]([-+]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E))?$/;

/** A Kubernetes memory quantity ("256Mi", "1G", "128974848", "129e6") in bytes; undefined if it is not one. */
export function memoryBytes(quantity: string | undefined): number | undefined {
  const match = QUANTITY.exec(quantity?.trim() ?? '');
  if (!match) return undefined;
  const [, number, exponent, unit = ''] = match;
  const bytes = Number(number) * (exponent ? 10 ** Number(exponent) : (UNITS[unit] as number));
  return Number.isFinite(bytes) && bytes > 0 ? Math.ceil(bytes) : undefined;
}

/** The V8 old-space limit, in MiB, for a replica limited to `limitBytes`. */
export function heapLimitMb(limitBytes: number): number {
  return Math.max(16, Math.floor((limitBytes * 0.75) / 2 ** 20));
}

/** A process's resident set size, in bytes, or undefined when it is gone (or there is no /proc). */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** What the watcher needs of a replica. */
export interface Watched {
  readonly pid: number | undefined;
  readonly memoryLimitBytes: number | undefined;
  /** The last sample, kept for the function's usage. */
  rssBytes?: number;
  /** Over its limit: killed as the OOM killer would. */
  oomKill(rssBytes: number): void;
}

/** Samples every replica's RSS every `everyMs`, and OOM-kills those over their limit. */
export class MemoryWatcher {
  private timer?: NodeJS.Timeout;
  private sampling = false;

  constructor(
    private readonly replicas: () => Iterable<Watched>,
    private readonly everyMs: number,
  ) {}

  start(): void {
    if (process.platform !== 'linux') return;
    this.timer ??= setInterval(() => void this.sample(), this.everyMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      await Promise.all(
        [...this.replicas()].map(async (replica) => {
          const pid = replica.pid;
          if (pid === undefined) return;
          const rss = await residentBytes(pid);
          // The replica may have been replaced while /proc was read: only its current process counts.
          if (rss === undefined || replica.pid !== pid) return;
          replica.rssBytes = rss;
          if (replica.memoryLimitBytes !== undefined && rss > replica.memoryLimitBytes) replica.oomKill(rss);
        }),
      );
    } finally {
      this.sampling = false;
    }
  }
}
