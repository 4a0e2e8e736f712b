/**
 * New connections taken in a rush. libuv as Node 20 ships it (1.46) accepts one connection per
 * turn of the event loop on a listening handle (libuv/libuv#3696), and a turn of a storefront
 * busy with a rush's pages lasts tens of milliseconds: 300 shoppers arriving at once waited up to
 * 3 s to be let in or refused. Each more handle on the same listening socket accepts one more
 * per turn. Node 20 can neither duplicate a descriptor nor listen with SO_REUSEPORT, but a handle
 * sent over a cluster's channel arrives as a new descriptor: a worker sends its listening handle
 * to the primary, which sends it back and closes its own copy.
 */
import cluster from 'node:cluster';
import type http from 'node:http';
import net from 'node:net';

/** Listening handles per storefront process: a rush's 300 new connections taken in about ten turns, not 300 (README, "Under a rush"). */
export const ACCEPT_HANDLES = 32;
/** How long a starting worker waits for its handles; it serves with those it has by then. */
const WAIT_MS = 2_000;

const ASK = { type: 'storefront:accept-handle' } as const;
const isAsk = (message: unknown): message is typeof ASK => (message as { type?: unknown } | null)?.type === ASK.type;

/** The primary's side: each handle a worker sends comes back to it as a new descriptor. */
export function giveAcceptHandles(): void {
  cluster.on('message', (worker, message: unknown, handle?: { close(): void }) => {
    if (!isAsk(message) || !handle) return;
    // Closed once sent (a handle closed before is not sent); a worker gone meanwhile gets nothing.
    worker.send(ASK, handle as net.Server, undefined, () => handle.close());
  });
}

/**
 * A worker's side: `count` more handles on `server`'s listening socket, each handing its
 * connections to `server`. Resolves with those that came within WAIT_MS (none outside a
 * cluster); one that comes later is closed.
 */
export function acceptOnMore(server: http.Server, count = ACCEPT_HANDLES - 1): Promise<net.Server[]> {
  const send = process.send?.bind(process);
  if (!cluster.isWorker || !send || count <= 0) return Promise.resolve([]);
  const more: net.Server[] = [];
  let waiting = true;
  return new Promise((resolve) => {
    const done = () => {
      waiting = false;
      clearTimeout(timer);
      resolve(more);
    };
    const timer = setTimeout(done, WAIT_MS);
    process.on('message', (message: unknown, handle?: net.Server) => {
      if (!isAsk(message) || !handle) return;
      if (!waiting) return void handle.close();
      const extra = net.createServer((socket) => server.emit('connection', socket));
      extra.on('error', () => extra.close());
      more.push(extra.listen(handle));
      if (more.length === count) done();
    });
    // The server's native handle crosses the channel: the net.Server itself would have the primary listen on it.
    const { _handle } = server as unknown as { _handle: net.Server };
    for (let i = 0; i < count; i++) send(ASK, _handle);
  });
}
