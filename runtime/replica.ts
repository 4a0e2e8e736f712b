/**
 * One replica of a function: the process a pod runs. It loads the function's bundle
 * (FUNCTION_HANDLER, dist/functions/NAME/handler.js) into the node20 template's app, puts the
 * watchdog in front, listens on a loopback port of its own and tells the supervisor which
 * (IPC). SIGTERM drains calls in flight, then exits. Built into dist/runtime/replica.js.
 *
 * With SHOP_FAULT_INJECTION=1, the function's store asks the supervisor, before each store
 * operation a fault plan names, whether to fail, hang or be slow (runtime/faults.ts decides,
 * so that a plan counts across every replica), and a plan can make the replica hold memory.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ShopStore } from '../core/store/store';
import { node20App } from './node20';
import { requestErrorsAsJson, unroutedAsJson } from './request-errors';
import { watchdog, watchdogOptions } from './watchdog';

export interface StoreFault {
  mode: 'fail' | 'hang' | 'slow';
  delayMs?: number;
}
export type ToSupervisor = { type: 'ready'; port: number } | { type: 'store-fault?'; id: number; operation: string } | { type: 'slow-done' };
export type ToReplica = { type: 'faults'; operations: string[] } | { type: 'store-fault'; id: number; fault: StoreFault | null } | { type: 'hold-memory'; megabytes: number };

/** Read by core/store/open.ts: every store this process opens is wrapped with it. */
export const STORE_WRAPPER = Symbol.for('openfaas-shop.store-wrapper');

const send = (message: ToSupervisor) => process.send?.(message);

/**
 * How long a starting replica waits for its function to prepare (core/fn.ts: open the store)
 * before it listens anyway. Prepared first, so that the first calls do not pay for it: locally
 * that is loading the embedded store's engine (mingo alone takes 165 ms), which made every new
 * replica's first call take 200-400 ms against 5-20 ms after. A store that fails to open, or is
 * not open by then, is opened by the calls, as before.
 */
const PREPARE_WAIT_MS = 5_000;

function injectStoreFaults(): void {
  let planned = new Set<string>();
  let nextId = 0;
  const answers = new Map<number, (fault: StoreFault | null) => void>();
  const held: Buffer[] = [];
  process.on('message', (message: ToReplica) => {
    if (message.type === 'faults') planned = new Set(message.operations);
    // Filled, so that every page is resident: a leak the OOM watcher sees.
    if (message.type === 'hold-memory') held.push(Buffer.alloc(message.megabytes * 2 ** 20, 1));
    if (message.type === 'store-fault') {
      answers.get(message.id)?.(message.fault);
      answers.delete(message.id);
    }
  });
  const ask = (operation: string) =>
    new Promise<StoreFault | null>((resolve) => {
      const id = ++nextId;
      answers.set(id, resolve);
      send({ type: 'store-fault?', id, operation });
    });
  (globalThis as Record<symbol, unknown>)[STORE_WRAPPER] = (store: ShopStore): ShopStore =>
    new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function' || !planned.has(String(property))) return value;
        return async (...args: unknown[]) => {
          const fault = await ask(String(property));
          if (!fault) return value.apply(target, args);
          if (fault.mode === 'hang') return new Promise(() => {}); // the process died here
          if (fault.mode === 'slow') {
            await new Promise((r) => setTimeout(r, fault.delayMs ?? 1_000));
            try {
              return await value.apply(target, args);
            } finally {
              send({ type: 'slow-done' });
            }
          }
          const error = new Error(`injected fault: ${String(property)} failed`);
          error.name = 'MongoNetworkError'; // the database unreachable
          throw error;
        };
      },
    });
}

async function main(): Promise<void> {
  const handlerFile = process.env.FUNCTION_HANDLER;
  if (!handlerFile) throw new Error('FUNCTION_HANDLER names the function bundle to serve');
  if (process.env.SHOP_FAULT_INJECTION === '1') injectStoreFaults();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the template loads handlers with require, so does a replica
  const handler = require(handlerFile);
  if (typeof handler !== 'function') throw new Error(`${handlerFile} does not export a function (module.exports = handler)`);
  // The template's app, and what a replica answers where the template would answer Express's HTML page.
  const app = node20App(handler, process.env);
  app.use(unroutedAsJson);
  app.use(requestErrorsAsJson);
  const dog = watchdog(app, watchdogOptions(process.env));
  const server = http.createServer(dog.listener);
  server.keepAliveTimeout = 60_000;
  // The supervisor is gone (npm start was killed): so is the pod.
  process.once('disconnect', () => process.exit(0));
  // Stopped before it listens, it leaves at once (close answers at once that it was not listening).
  process.once('SIGTERM', () => {
    void dog.drain().then(() => {
      server.close(() => process.exit(0));
      server.closeIdleConnections();
    });
  });
  if (typeof handler.prepare === 'function') {
    let timer: NodeJS.Timeout | undefined;
    // Called inside the promise: a prepare that throws at once is a failure like any other.
    const prepared = Promise.resolve().then(() => handler.prepare()).catch(() => undefined);
    await Promise.race([prepared, new Promise((resolve) => (timer = setTimeout(resolve, PREPARE_WAIT_MS)))]);
    clearTimeout(timer);
  }
  server.listen(0, '127.0.0.1', () => send({ type: 'ready', port: (server.address() as AddressInfo).port }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
