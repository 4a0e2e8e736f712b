/**
 * `npm start` as a child process for the benchmarks: the load comes from the bench's own
 * process, and memory is read for the whole process tree (the runtime and every replica):
 * resident set (RSS, which counts pages shared between the processes, such as Node's own
 * code, once per process) and proportional set size (PSS, shared pages split between their
 * sharers: what the tree really costs the machine).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../runtime/build';
import { BASIC_AUTH_FILE } from '../runtime/secrets';
import { freePort } from '../test/support/fixtures';
import { procStatFields } from '../test/support/proc-stat';

export interface ShopProcess {
  url: string;
  storefrontUrl: string;
  child: ChildProcess;
  adminToken: string;
  basicAuth: string;
  /** Milliseconds from spawn to the runtime printing its addresses. */
  startedInMs: number;
  memory(): { processes: number; rssMb: number; pssMb: number };
  stop(): Promise<void>;
}

/** The process and all its descendants, from /proc. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(procStatFields(`/proc/${entry}/stat`)[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i] as number) ?? []));
  return tree;
}

/** Resident and proportional set sizes of one process, in KiB (0 when it is gone). */
export function memoryOf(pid: number): { rss: number; pss: number } {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
    return { rss: kb('Rss'), pss: kb('Pss') };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

export interface ShopProcessOptions {
  /**
   * Runs the shop's process tree at this niceness (1-19), below the bench's own process. For the
   * latency benches: shoppers' browsers do not share the shop's CPU, and a load generator that
   * waits for the CPU behind the shop adds its own wait to every latency it measures.
   */
  niceness?: number;
}

export async function startShopProcess(dir: string, env: Record<string, string> = {}, options: ShopProcessOptions = {}): Promise<ShopProcess> {
  const [port, storefrontPort] = [await freePort(), await freePort()];
  const command = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const secretsDir = join(dir, 'secrets');
  const started = Date.now();
  const nice = options.niceness ? `nice -n ${options.niceness} ` : '';
  const child = spawn('sh', ['-c', `exec ${nice}${command}`], {
    cwd: ROOT,
    env: { ...process.env, GATEWAY_PORT: String(port), STOREFRONT_PORT: String(storefrontPort), DATA_DIR: join(dir, 'data'), SECRETS_DIR: secretsDir, LOG_LEVEL: 'silent', SWEEP_EVERY_MS: '0', AUTOSCALE: '0', WATCH: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += String(d);
      if (out.includes(`http://127.0.0.1:${port}`)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${out}`)));
  });
  const startedInMs = Date.now() - started;
  const read = (file: string) => readFileSync(join(secretsDir, file), 'utf8').trim();
  return {
    url: `http://127.0.0.1:${port}`,
    storefrontUrl: `http://127.0.0.1:${storefrontPort}`,
    child,
    adminToken: read('shop-admin-token'),
    basicAuth: `Basic ${Buffer.from(`admin:${read(BASIC_AUTH_FILE)}`).toString('base64')}`,
    startedInMs,
    memory() {
      const tree = processTree(child.pid as number).map(memoryOf).filter((m) => m.rss > 0);
      const sum = (key: 'rss' | 'pss') => tree.reduce((n, m) => n + m[key], 0) / 1024;
      return { processes: tree.length, rssMb: sum('rss'), pssMb: sum('pss') };
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `npm start` on a fresh data directory for the length of `use`; stopped and removed after, whatever happens. */
export async function withShopProcess<T>(use: (shop: ShopProcess, dir: string) => Promise<T>, env: Record<string, string> = {}, options: ShopProcessOptions = {}): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-bench-'));
  try {
    const shop = await startShopProcess(dir, env, options);
    try {
      return await use(shop, dir);
    } finally {
      await shop.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a bench's main: an error is printed and the process exits 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
