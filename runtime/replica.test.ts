/**
 * A replica (runtime/replica.ts) as the supervisor starts it, with a handler of the test's own:
 * it says it is ready only once its function has prepared, so that the first calls find the
 * store open; a function that cannot prepare still gets a replica, whose calls open the store.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let dir: string;
const replicas: ChildProcess[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'replica-test-'));
});
afterAll(() => {
  for (const replica of replicas) replica.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a replica of a handler whose `prepare` calls `prepare` (JavaScript; a throw is thrown at once); its calls answer whether it had prepared. */
async function replicaOf(name: string, prepare: string): Promise<string> {
  const handler = join(dir, `${name}.js`);
  writeFileSync(
    handler,
    `let prepared = false;
module.exports = Object.assign(
  async (event, context) => { context.status(200); context.headers({ 'Content-Type': 'application/json' }); context.succeed(JSON.stringify({ prepared })); },
  { prepare: () => Promise.resolve((${prepare})()).then(() => { prepared = true; }) },
);`,
  );
  const replica = fork(join(__dirname, 'replica.ts'), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, FUNCTION_HANDLER: handler }, stdio: 'ignore' });
  replicas.push(replica);
  const port = await new Promise<number>((resolve, reject) => {
    replica.on('message', (message: { type?: string; port?: number }) => message.type === 'ready' && resolve(message.port as number));
    replica.once('exit', (code) => reject(new Error(`the replica exited (${code}) before it was ready`)));
  });
  return `http://127.0.0.1:${port}`;
}

it('says it is ready only once its function has prepared', async () => {
  const url = await replicaOf('slow-to-prepare', '() => new Promise((resolve) => setTimeout(resolve, 2000))');
  expect(await (await fetch(url)).json()).toEqual({ prepared: true });
});

it.each([
  ['a failed promise', '() => Promise.reject(new Error("the store is down"))'],
  ['an error thrown at once', '() => { throw new Error("the secrets cannot be read"); }'],
])('is ready and serves when its function fails to prepare (%s)', async (_how, prepare) => {
  const url = await replicaOf(`cannot-prepare-${replicas.length}`, prepare);
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ prepared: false });
});
