/**
 * The storefront as `npm start` runs it: a process of its own, as on VM 1, running what its
 * container runs (dist/storefront/server.js beside its views and stylesheet), as a cluster
 * worker. The runtime holds the listening port and hands each connection to a worker, so a new
 * storefront (a save under frontend/) takes over without a refused connection or a dropped
 * request: the new worker starts and listens first; only then is the old one sent SIGTERM, on
 * which it drains (frontend/server.ts: no new connections, every later answer closes its
 * connection, and it exits once its connections are closed). A handler swap inside one process
 * could not do that: re-loading the storefront's modules leaks the old ones and registers its
 * metrics twice. Each worker runs from its own copy of the folder, so one that is draining keeps
 * the views its code was written for. A worker that dies on its own is started again.
 */
import cluster, { type Worker } from 'node:cluster';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StorefrontOptions {
  /** dist/storefront */
  distDir: string;
  /** The worker's environment over this process's (STOREFRONT_PORT, GATEWAY_URL, ...). */
  env: Record<string, string>;
  log(line: string, fields?: Record<string, unknown>): void;
  /** How long a draining worker may take before it is killed (its own bound is 15 s). */
  drainTimeoutMs?: number;
}

export interface StorefrontProcess {
  url: string;
  /** Starts a storefront from the current bundle; once it listens, the old one drains. False if the new one did not start. */
  replace(): Promise<boolean>;
  stop(): Promise<void>;
}

interface Running {
  worker: Worker;
  dir: string;
}

export async function startStorefrontProcess(options: StorefrontOptions): Promise<StorefrontProcess> {
  // The worker accepts its connections itself from the shared listening socket. In Node's default
  // round-robin mode this process accepts them and hands each over, one at a time per worker,
  // waiting for the worker's event loop to take it: under a rush new connections queued here for
  // up to 18 s while the storefront's pages took 0.5 s.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const runDir = mkdtempSync(join(tmpdir(), 'openfaas-shop-storefront-'));
  let started = 0;
  let stopping = false;
  const draining = new Set<Promise<void>>();

  /** A worker from a copy of the bundle's folder; resolves once it listens, rejects if it exits first. */
  const launch = (): Promise<Running & { port: number; address: string }> => {
    const dir = join(runDir, String(++started));
    cpSync(options.distDir, dir, { recursive: true });
    cluster.setupPrimary({ exec: join(dir, 'server.js'), execArgv: [], args: [] });
    const worker = cluster.fork(options.env);
    return new Promise((resolve, reject) => {
      // One that neither listens nor exits within a minute is stopped: the one serving stays.
      const stuck = setTimeout(() => worker.process.kill('SIGKILL'), 60_000);
      const early = (code: number | null, signal: string | null) => {
        clearTimeout(stuck);
        rmSync(dir, { recursive: true, force: true });
        reject(new Error(`the storefront exited before it listened (${signal ?? `code ${code}`}); its output is above`));
      };
      worker.once('exit', early);
      worker.once('listening', (address) => {
        clearTimeout(stuck);
        worker.off('exit', early);
        resolve({ worker, dir, port: address.port, address: address.address });
      });
    });
  };

  const drain = ({ worker, dir }: Running): Promise<void> => {
    const done = new Promise<void>((resolve) => {
      if (worker.isDead()) return resolve();
      const kill = setTimeout(() => worker.process.kill('SIGKILL'), options.drainTimeoutMs ?? 20_000);
      worker.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      worker.process.kill('SIGTERM');
    }).then(() => rmSync(dir, { recursive: true, force: true }));
    draining.add(done);
    void done.then(() => draining.delete(done));
    return done;
  };

  /** Started again after a second when it dies on its own, as the supervisor does with replicas. */
  const keep = (running: Running) => {
    running.worker.once('exit', (code, signal) => {
      if (stopping || current !== running) return;
      rmSync(running.dir, { recursive: true, force: true });
      options.log('storefront exited; restarting', { code, signal });
      setTimeout(() => void restart(), 1_000).unref();
    });
  };
  const restart = async () => {
    if (stopping) return;
    try {
      current = await launch();
      keep(current);
    } catch (error) {
      options.log('storefront did not start; trying again', { error: String(error) });
      setTimeout(() => void restart(), 5_000).unref();
    }
  };

  const first = await launch();
  let current: Running = first;
  keep(current);
  const host = first.address === '0.0.0.0' || first.address === '::' ? '127.0.0.1' : first.address;

  return {
    url: `http://${host}:${first.port}`,
    async replace() {
      let next: Running;
      try {
        next = await launch();
      } catch (error) {
        options.log(String(error instanceof Error ? error.message : error));
        return false;
      }
      const old = current;
      current = next;
      keep(next);
      void drain(old);
      return true;
    },
    async stop() {
      stopping = true;
      await Promise.all([drain(current), ...draining]);
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
