/**
 * New connections taken in a rush. libuv as Node 20 ships it (1.46) accepts one connection per
 * turn of the event loop on a listening handle (libuv/libuv#3696), and a turn of a server busy
 * with a rush lasts tens of milliseconds: 300 shoppers arriving at once waited up to 3 s to be
 * let in or refused. Each more handle on the same listening socket accepts one more per turn.
 * Node 20 can neither duplicate a descriptor nor listen with SO_REUSEPORT, but a handle sent to
 * another process arrives there as a new descriptor: a short-lived helper process sends back
 * every handle it is sent, and exits. Used by the storefront and by the local runtime's gateway.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';

/** Listening handles per server: a rush's 300 new connections taken in about ten turns, not 300 (README, "Under a rush"). */
export const ACCEPT_HANDLES = 32;
/** How long a starting server waits for its handles; it serves with those it has by then. */
const WAIT_MS = 2_000;

/** The helper: sends each handle back, closes its own copy once sent, and leaves after the last. */
const ECHO = `let left = Number(process.argv[1]);
process.on('message', (message, handle) => {
  if (handle) process.send(message, handle, undefined, () => { handle.close(); if (--left === 0) process.disconnect(); });
});`;

/**
 * `count` more handles on `server`'s listening socket, each handing its connections to `server`.
 * Resolves with those that came back within WAIT_MS; a helper that cannot start gives none, and
 * the server serves on its own handle as before.
 */
export function acceptOnMore(server: net.Server, count = ACCEPT_HANDLES - 1): Promise<net.Server[]> {
  const more: net.Server[] = [];
  if (count <= 0) return Promise.resolve(more);
  const helper = spawn(process.execPath, ['-e', ECHO, String(count)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let waiting = true;
  return new Promise((resolve) => {
    const done = () => {
      waiting = false;
      clearTimeout(timer);
      helper.kill();
      resolve(more);
    };
    const timer = setTimeout(done, WAIT_MS);
    helper.on('error', done);
    helper.on('exit', done);
    helper.on('message', (_message: unknown, handle?: net.Server) => {
      if (!handle) return;
      if (!waiting) return void handle.close();
      const extra = net.createServer((socket) => server.emit('connection', socket));
      extra.on('error', () => extra.close());
      more.push(extra.listen(handle));
      if (more.length === count) done();
    });
    // The server's native handle crosses the channel: the net.Server itself would have the helper listen on it.
    const { _handle } = server as unknown as { _handle: net.Server };
    // A helper that could not start answers each with an error ('error' above ends the wait).
    for (let i = 0; i < count; i++) helper.send({ type: 'accept-handle' }, _handle, undefined, () => undefined);
  });
}
