/**
 * The storefront on several processes (STOREFRONT_WORKERS): Node's cluster, each worker a whole
 * storefront on the same port, so that all of VM 1's cores render pages (one Node process
 * renders on one core). The primary starts, restarts and stops the workers, and answers what
 * must be one across them:
 * - /metrics and the operator page: a worker asks the primary, which asks every worker for its
 *   metrics and hands them back; the worker adds them up with prom-client's AggregatorRegistry
 *   (counters and histograms are summed; a gauge says how it adds up);
 * - the operator page's login throttle: one count per address across workers
 *   (@express-rate-limit/cluster-memory-store).
 * A storefront alone (one process, a lone worker of npm start, the tests) keeps its own.
 */
import cluster, { type Worker } from 'node:cluster';
import { ClusterMemoryStorePrimary, ClusterMemoryStoreWorker } from '@express-rate-limit/cluster-memory-store';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { Store } from 'express-rate-limit';
import { unavailable } from '../core/errors';
import { positive } from './env';

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

/** Worker to primary: every worker's metrics, please (answered with `all`). */
const ASK_ALL = 'storefront:metrics';
/** Primary to worker: your own metrics, please (answered with `metrics`). */
const ASK_ONE = 'storefront:metrics-of-one';
/**
 * How long the primary waits for one worker's metrics: a worker frozen or gone makes the scrape
 * a 503 after this, rather than holding it up. A worker waits for the lot twice as long.
 */
const WORKER_WAIT_MS = 2_000;

interface MetricsMessage {
  type: typeof ASK_ALL | typeof ASK_ONE;
  id: number;
  /** Only these metrics (the operator page's), so that none is collected for nothing; all when absent. */
  names?: string[];
  metrics?: Metrics;
  all?: Metrics[];
}
const isMetricsMessage = (message: unknown): message is MetricsMessage =>
  typeof message === 'object' && message !== null && [ASK_ALL, ASK_ONE].includes((message as MetricsMessage).type) && typeof (message as MetricsMessage).id === 'number';

/** Answers to requests by id, each given up (undefined) after `ms`. */
function requests<T>(ms: number) {
  let last = 0;
  const open = new Map<number, (answer: T | undefined) => void>();
  return {
    send(send: (id: number) => void): Promise<T | undefined> {
      const id = ++last;
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle(id, undefined), ms);
        open.set(id, (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        send(id);
      });
    },
    /** An answer, or undefined: the other side could not give one (settled at once rather than at the timeout). */
    answered: (id: number, answer: T | undefined) => settle(id, answer),
  };
  function settle(id: number, answer: T | undefined) {
    open.get(id)?.(answer);
    open.delete(id);
  }
}

/** How many processes serve the storefront (STOREFRONT_WORKERS; 1: one process, no cluster). */
export const storefrontWorkers = (env: NodeJS.ProcessEnv = process.env): number => positive(env, 'STOREFRONT_WORKERS') ?? 1;

/**
 * This process is one of several storefront workers: what they share goes through the primary.
 * A lone worker (npm start's default) keeps its own, as one process does.
 */
const oneOfSeveral = () => cluster.isWorker && storefrontWorkers() > 1;

let serving = false;

/**
 * The primary's side, once per process: in frontend/server.ts with STOREFRONT_WORKERS above 1,
 * and in the runtime, which runs `npm start`'s storefront as its own cluster workers.
 */
export function serveStorefrontWorkers(): void {
  if (serving) return;
  serving = true;
  // Each worker accepts its own connections from the shared listening socket. In Node's default
  // round-robin mode the primary accepts them and hands each over, one at a time per worker,
  // waiting for the worker's event loop to take it: under a rush new connections queued there
  // for up to 18 s while the storefront's pages took 0.5 s.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  new ClusterMemoryStorePrimary().init();
  // A message to a worker whose channel just closed is an 'error' on it: never this process's end.
  cluster.on('fork', (worker) => worker.on('error', () => undefined));
  // Asked once they listen (a worker still starting has no metrics yet), until their channel
  // closes; a draining worker still counts.
  const listening = new Set<Worker>();
  cluster.on('listening', (worker) => listening.add(worker));
  cluster.on('disconnect', (worker) => listening.delete(worker));
  cluster.on('exit', (worker) => listening.delete(worker));
  const own = requests<Metrics>(WORKER_WAIT_MS);
  const ofOne = (worker: Worker, names?: string[]) => own.send((id) => worker.isConnected() && worker.send({ type: ASK_ONE, id, names } satisfies MetricsMessage));
  cluster.on('message', (worker, message: unknown) => {
    if (!isMetricsMessage(message)) return;
    if (message.type === ASK_ONE) own.answered(message.id, message.metrics);
    if (message.type === ASK_ALL) {
      void Promise.all([...listening].map((one) => ofOne(one, message.names))).then((answers) => {
        // A sum without a worker would read as its counters going back: nothing rather than that.
        const all = answers.every((metrics) => metrics !== undefined) ? (answers as Metrics[]) : undefined;
        if (worker.isConnected()) worker.send({ type: ASK_ALL, id: message.id, all } satisfies MetricsMessage);
      });
    }
  });
}

/** A registry's metrics as JSON: all of them, or only those named. */
async function metricsOf(registry: Registry, names?: readonly string[]): Promise<Metrics> {
  if (!names) return registry.getMetricsAsJSON();
  const named = names.map((name) => registry.getSingleMetric(name)).filter((metric) => metric !== undefined);
  return Promise.all(named.map((metric) => metric.get() as Promise<Metrics[number]>));
}

/**
 * The storefront's metrics across its processes, as one registry, all of them (/metrics) or only
 * those named (the operator page): this process's own when it works alone; in one of several
 * workers, every worker's added up. A worker that did not answer in time makes it a 503: a sum
 * without it would read as its counters falling back to zero.
 */
export function storefrontMetrics(own: Registry): (names?: string[]) => Promise<Registry> {
  if (!oneOfSeveral()) return async (names) => (names ? AggregatorRegistry.aggregate([await metricsOf(own, names)]) : own);
  const all = requests<Metrics[]>(2 * WORKER_WAIT_MS);
  process.on('message', (message: unknown) => {
    if (!isMetricsMessage(message)) return;
    if (message.type === ASK_ONE) {
      // A collector that fails is no answer, given at once.
      void metricsOf(own, message.names).then(
        (metrics) => process.send?.({ type: ASK_ONE, id: message.id, metrics } satisfies MetricsMessage),
        () => process.send?.({ type: ASK_ONE, id: message.id } satisfies MetricsMessage),
      );
    }
    if (message.type === ASK_ALL) all.answered(message.id, message.all);
  });
  return async (names) => {
    const answers = await all.send((id) => process.send?.({ type: ASK_ALL, id, names } satisfies MetricsMessage));
    if (!answers?.length) throw unavailable('Not every storefront worker gave its metrics in time; try again.');
    return AggregatorRegistry.aggregate(answers);
  };
}

/** Where a rate limit counts: in the primary when this is one of several workers, so that all of them count the same hits. */
export const rateLimitStore = (prefix: string): Store | undefined => (oneOfSeveral() ? new ClusterMemoryStoreWorker({ prefix }) : undefined);

/**
 * The primary of `node server.js` with STOREFRONT_WORKERS above 1: starts `count` workers (each
 * runs this same file), starts another when one dies, and on SIGTERM or SIGINT has them all
 * drain (frontend/server.ts) and exits 0 once they have (1 if one outlived the bound). A worker
 * of the first set that exits before it listened stops everything with code 1: a configuration
 * error shows once, and the container's restart policy takes over, as with one process; later,
 * one that does not start is tried again every 5 s, while the others serve.
 */
export function runStorefrontWorkers(count: number, env: Record<string, string>): void {
  serveStorefrontWorkers();
  const alive = new Set<Worker>();
  let stopping = false;
  // Every worker of the first set has listened: from then on, one that does not start is tried again.
  let listenings = 0;
  const start = () => {
    if (stopping) return;
    const worker = cluster.fork(env);
    alive.add(worker);
    let listened = false;
    worker.once('listening', () => {
      listened = true;
      listenings++;
    });
    worker.once('exit', (code, signal) => {
      alive.delete(worker);
      if (stopping) {
        if (alive.size === 0) process.exit(0);
        return;
      }
      if (!listened && listenings < count) {
        console.error(`a storefront worker exited before it listened (${signal ?? `code ${code}`}); stopping`);
        process.exit(1);
      }
      console.error(`storefront worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another`);
      setTimeout(start, listened ? 1_000 : 5_000);
    });
  };
  for (let i = 0; i < count; i++) start();
  const stop = () => {
    stopping = true;
    for (const worker of alive) worker.process.kill('SIGTERM');
    // Each drains within 15 s of its own; this is the bound on the lot.
    setTimeout(() => process.exit(1), 20_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
