/**
 * The storefront as `npm start` runs it: a process of its own, as on VM 1, running what its
 * container runs (dist/storefront/server.js beside its views and stylesheet), as a cluster
 * worker. The runtime holds the listening socket and each worker accepts from it (on several
 * handles, frontend/accept.ts), so a new storefront (a save under frontend/) takes over without
 * a refused connection or a dropped request: the new worker starts and listens first; only then
 * is the old one sent SIGTERM, on which it drains (frontend/server.ts: no new connections, every
 * later answer closes its connection, and it exits once its connections are closed). A handler
 * swap inside one process could not do that: re-loading the storefront's modules leaks the old
 * ones and registers its metrics twice. Each worker runs from its own copy of the folder, so one
 * that is draining keeps the views its code was written for. A worker that dies on its own is
 * started again.
 */
import cluster, { type Worker } from 'node:cluster';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveStorefrontWorkers } from '../frontend/workers';

export interface StorefrontOptions {
  /** dist/storefront */
  distDir: string;
  /** The worker's environment over this process's (STOREFRONT_PORT, GATEWAY_URL, ...). */
  env: Record<string, string>;
  /** Workers serving at once (STOREFRONT_WORKERS, as frontend/server.ts reads it; default 1). */
  workers?: number;
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

/** The workers started from one copy of the bundle. */
interface Generation {
  workers: Set<Worker>;
  dir: string;
}

export async function startStorefrontProcess(options: StorefrontOptions): Promise<StorefrontProcess> {
  // Each worker accepts its own connections; what several share goes through this process (frontend/workers.ts).
  serveStorefrontWorkers();
  const count = options.workers ?? 1;
  const runDir = mkdtempSync(join(tmpdir(), 'openfaas-shop-storefront-'));
  let started = 0;
  let stopping = false;
  const draining = new Set<Promise<void>>();

  /** A worker of `generation`; resolves once it listens, rejects if it exits first. */
  const fork = (generation: Generation): Promise<{ port: number; address: string }> => {
    cluster.setupPrimary({ exec: join(generation.dir, 'server.js'), execArgv: [], args: [] });
    const worker = cluster.fork(options.env);
    generation.workers.add(worker);
    return new Promise((resolve, reject) => {
      // One that neither listens nor exits within a minute is stopped: the one serving stays.
      const stuck = setTimeout(() => worker.process.kill('SIGKILL'), 60_000);
      const early = (code: number | null, signal: string | null) => {
        clearTimeout(stuck);
        generation.workers.delete(worker);
        reject(new Error(`the storefront exited before it listened (${signal ?? `code ${code}`}); its output is above`));
      };
      worker.once('exit', early);
      worker.once('listening', (address) => {
        clearTimeout(stuck);
        worker.off('exit', early);
        keep(generation, worker);
        resolve({ port: address.port, address: address.address });
      });
    });
  };

  /** `count` workers from a copy of the bundle's folder, once they all listen; none if one of them did not start. */
  const launch = async (): Promise<{ generation: Generation; port: number; address: string }> => {
    const generation: Generation = { workers: new Set(), dir: join(runDir, String(++started)) };
    cpSync(options.distDir, generation.dir, { recursive: true });
    const listening = await Promise.allSettled(Array.from({ length: count }, () => fork(generation)));
    const failed = listening.find((result) => result.status === 'rejected');
    if (failed) {
      await drain(generation);
      throw failed.reason;
    }
    return { generation, ...(listening[0] as PromiseFulfilledResult<{ port: number; address: string }>).value };
  };

  /** Every worker of `generation` drains and exits (killed after drainTimeoutMs); then its folder goes. */
  const drain = (generation: Generation): Promise<void> => {
    const exits = [...generation.workers].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          const kill = setTimeout(() => worker.process.kill('SIGKILL'), options.drainTimeoutMs ?? 20_000);
          worker.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          worker.process.kill('SIGTERM');
        }),
    );
    const done = Promise.all(exits).then(() => rmSync(generation.dir, { recursive: true, force: true }));
    draining.add(done);
    void done.then(() => draining.delete(done));
    return done;
  };

  /** A worker of the serving generation that dies on its own is started again after a second, as the supervisor does with replicas. */
  const keep = (generation: Generation, worker: Worker) => {
    worker.once('exit', (code, signal) => {
      generation.workers.delete(worker);
      if (stopping || current !== generation) return;
      options.log('storefront exited; restarting', { code, signal });
      setTimeout(() => void restart(generation), 1_000).unref();
    });
  };
  const restart = async (generation: Generation) => {
    if (stopping || current !== generation) return;
    await fork(generation).catch((error: unknown) => {
      options.log('storefront did not start; trying again', { error: String(error) });
      setTimeout(() => void restart(generation), 5_000).unref();
    });
  };

  let current: Generation | undefined;
  const first = await launch();
  current = first.generation;
  const host = first.address === '0.0.0.0' || first.address === '::' ? '127.0.0.1' : first.address;

  return {
    url: `http://${host}:${first.port}`,
    async replace() {
      let next: Generation;
      try {
        next = (await launch()).generation;
      } catch (error) {
        options.log(String(error instanceof Error ? error.message : error));
        return false;
      }
      const old = current as Generation;
      current = next;
      void drain(old);
      return true;
    },
    async stop() {
      stopping = true;
      await Promise.all([drain(current as Generation), ...draining]);
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
