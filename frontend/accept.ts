/**
 * New connections taken in a rush. libuv as Node 20 ships it (1.46) accepts one connection per
 * turn of the event loop on a listening handle (libuv/libuv#3696), and a turn of a server busy
 * with a rush lasts tens of milliseconds: 300 shoppers arriving at once waited up to 3 s to be
 * let in or refused. Each more handle on the same listening socket accepts one more per turn.
 * Node 20 can neither duplicate a descriptor nor listen with SO_REUSEPORT, but a handle sent to
 * another process arrives there as a new descriptor: a short-lived helper process sends back
 * every handle it is sent, and exits. Used by the storefront and by the local runtime's gateway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** Listening handles per server: a rush's 300 new connections taken in about ten turns, not 300 (README, "Under a rush"). */
export const ACCEPT_HANDLES = 32;
/** A helper still there after this is stopped (it takes a fraction of a second); the handles it gave stay. */
const HELPER_BOUND_MS = 10_000;

/** The helper: sends each handle back, closes its own copy once sent, and leaves after the last. */
const ECHO = `let left = Number(process.argv[1]);
process.on('message', (message, handle) => {
  if (handle) process.send(message, handle, undefined, () => { handle.close(); if (--left === 0) process.disconnect(); });
});`;

/** What a listening server sets on the sockets it accepts (http.Server: no Nagle, half-open allowed), for the extra handles to set the same. */
type SocketOptions = Pick<net.ServerOpts, 'noDelay' | 'allowHalfOpen' | 'keepAlive' | 'keepAliveInitialDelay'>;

export interface AcceptHandles {
  /** Closes the extra handles (a helper still at work is stopped, and what it sends later closed); resolves once their connections have ended. */
  close(): Promise<void>;
}

/**
 * Gives `server` `count` more handles on its listening socket, each handing its connections to
 * `server`, as they come back from the helper (the server serves on its own handle meanwhile).
 * Returns at once. A helper that cannot start, or a handle that cannot be sent (a round-robin
 * cluster worker's), leaves the server on its own handle, as before.
 */
export function acceptOnMore(server: net.Server, count = ACCEPT_HANDLES - 1): AcceptHandles {
  const more: net.Server[] = [];
  const options = server as unknown as SocketOptions;
  const socketOptions: SocketOptions = { noDelay: options.noDelay, allowHalfOpen: options.allowHalfOpen, keepAlive: options.keepAlive, keepAliveInitialDelay: options.keepAliveInitialDelay };
  let closed = false;
  let helper: ChildProcess | undefined;
  const stopHelper = () => {
    clearTimeout(bound);
    helper?.kill();
  };
  const bound = setTimeout(stopHelper, HELPER_BOUND_MS).unref();
  try {
    // NODE_OPTIONS left out: an inspector port or a preloaded module is the server's, not the helper's.
    helper = spawn(process.execPath, ['-e', ECHO, String(count)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, NODE_OPTIONS: '' } });
    helper.on('error', stopHelper);
    helper.on('exit', () => clearTimeout(bound));
    helper.on('message', (_message: unknown, handle?: net.Server) => {
      if (!handle) return;
      if (closed) return void handle.close();
      const extra = net.createServer(socketOptions, (socket) => server.emit('connection', socket));
      extra.on('error', () => extra.close());
      more.push(extra.listen(handle));
      if (more.length === count) stopHelper();
    });
    // The server's native handle crosses the channel: the net.Server itself would have the helper listen on it.
    const { _handle } = server as unknown as { _handle: net.Server };
    for (let i = 0; i < count; i++) helper.send({ type: 'accept-handle' }, _handle, undefined, () => undefined);
  } catch {
    // The helper could not start (EMFILE, ENOMEM: no channel), or the handle is not one that can be sent.
    stopHelper();
  }
  return {
    close: async () => {
      closed = true;
      stopHelper();
      await Promise.all(more.map((extra) => new Promise((resolve) => extra.close(resolve))));
    },
  };
}
