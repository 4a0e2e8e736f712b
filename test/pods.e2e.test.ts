/**
 * Replicas that fail the way pods fail: readiness and liveness probes (a frozen replica leaves
 * the rotation, then is killed and replaced), memory limits (a replica over limits.memory is
 * OOM-killed and restarted), no HTML or stack trace from a replica whatever the body, of-watchdog's
 * request line in every replica's log, and deploy, update, scale and removal at any moment
 * (during start-up, during another update, during shutdown) carried out or refused with a status.
 * Everything is waited for as events (a status, a process gone); nothing is timed.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { getPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../runtime/build';
import { deploymentFromStack } from '../runtime/deployments';
import { BASIC_AUTH_FILE } from '../runtime/secrets';
import { DEFAULT_REPLICA_NICENESS } from '../runtime/supervisor';
import { startShop, type RunningShop } from '../runtime/shop';
import { readStack } from '../runtime/stack';
import { alive, freePort, newShopperId, request } from './support/fixtures';
import { parseMetrics, sampleValue } from './support/metrics';
import { procStatFields } from './support/proc-stat';
import { startTestShop, type TestShop } from './support/shop';
import { until } from './support/until';

const stack = readStack(join(ROOT, 'stack.yml'), {});
const fromStack = (name: string) => deploymentFromStack(name, stack.functions[name] as NonNullable<(typeof stack.functions)[string]>);

/** Waits for something to become true (an event seen from outside), checking every 20 ms. */
const api = (url: string, auth: string, path: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(`${url}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers: { authorization: auth, 'content-type': 'application/json' }, body: init.body === undefined ? undefined : JSON.stringify(init.body) });

describe('replicas that fail like pods', () => {
  let t: TestShop;
  const system = (path: string, init: { method?: string; body?: unknown } = {}) => api(t.shop.url, t.admin(), path, init);
  const describeFn = async (name: string) => (await (await system(`/system/function/${name}`)).json()) as { replicas: number; availableReplicas: number; usage?: { totalMemoryBytes: number } };
  const replicas = (name: string) => t.shop.provider.replicasOf(name)?.instances ?? [];
  /** Five steps below the runtime (the gateway) that started them, as the test shop asks. */
  const belowTheGateway = () => Math.min(19, getPriority() + DEFAULT_REPLICA_NICENESS);
  /** The niceness of every thread of a process (Linux: /proc/PID/task/TID/stat), not only of its main one. */
  const threadNiceness = (pid: number | undefined) => readdirSync(`/proc/${pid}/task`).map((tid) => Number(procStatFields(`/proc/${pid}/task/${tid}/stat`)[16]));
  const metric = async (name: string, labels: Record<string, string>) => sampleValue(parseMetrics(await (await fetch(`${t.shop.url}/metrics`)).text()), name, labels) ?? 0;

  /**
   * Two replicas of `name`, one of them stopped (SIGSTOP) until it leaves the rotation; then ten
   * calls in a row, all answered by the other one.
   */
  async function freezeOneOf(name: string, query: Record<string, string>) {
    expect((await system(`/system/scale-function/${name}`, { body: { serviceName: name, replicas: 2 } })).status).toBe(202);
    await until(async () => (await describeFn(name)).availableReplicas === 2);
    const [replica] = replicas(name);
    const pid = replica?.pid as number;
    process.kill(pid, 'SIGSTOP');
    await until(async () => (await describeFn(name)).availableReplicas === 1);
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await t.call(name, { query })).status);
    expect(statuses).toEqual(Array(10).fill(200));
    return { replica, pid };
  }

  beforeAll(async () => {
    // Probes every 300 ms: readiness out at the first failure, liveness after six in a row (about
    // 8 s with its 1 s timeout), killed with a 1 s grace period.
    const probe = { initialDelayMs: 200, periodMs: 300, timeoutMs: 1_000, successThreshold: 1 };
    t = await startTestShop({ faults: true, probes: { readiness: { ...probe, failureThreshold: 1 }, liveness: { ...probe, failureThreshold: 6 } }, terminationGraceMs: 1_000, replicaNiceness: DEFAULT_REPLICA_NICENESS });
  });
  afterAll(() => t.stop());

  it('takes a replica that stops answering its probes out of the rotation, and back once it answers', async () => {
    const { replica: paused, pid } = await freezeOneOf('cart-get', { shopperId: newShopperId() });
    expect(await describeFn('cart-get')).toMatchObject({ replicas: 2, availableReplicas: 1 });
    process.kill(pid, 'SIGCONT');
    await until(async () => (await describeFn('cart-get')).availableReplicas === 2);
    expect([paused?.pid, paused?.restarts]).toEqual([pid, 0]);
  });

  it('kills a frozen replica that fails its liveness probe and restarts it, the healthy one answering meanwhile', async () => {
    const { replica: frozen, pid } = await freezeOneOf('inventory-get', { id: 'gooseneck-kettle' });
    // SIGTERM cannot reach a stopped process: SIGKILL after the grace period, then a new process in its slot.
    await until(() => !alive(pid));
    await until(async () => (await describeFn('inventory-get')).availableReplicas === 2);
    expect(frozen?.restarts).toBe(1);
    expect(frozen?.pid).not.toBe(pid);
    expect(new Set(threadNiceness(frozen?.pid))).toEqual(new Set([belowTheGateway()]));
    expect(await metric('shop_replica_terminations_total', { function_name: 'inventory-get.openfaas-fn', reason: 'Liveness probe failed' })).toBe(1);
  });

  it('runs every thread of every replica below the gateway’s CPU priority, so that a busy replica does not hold up the gateway’s answers', () => {
    // A runner above niceness 14 leaves fewer than five steps below it (none at 19): the assertions would say less.
    expect(getPriority()).toBeLessThanOrEqual(19 - DEFAULT_REPLICA_NICENESS);
    const all = t.shop.provider.names().flatMap((name) => replicas(name));
    expect(all.length).toBeGreaterThanOrEqual(Object.keys(stack.functions).length);
    const threads = all.map((r) => threadNiceness(r.pid));
    expect(threads.every((niceness) => niceness.length > 1)).toBe(true);
    expect(new Set(threads.flat())).toEqual(new Set([belowTheGateway()]));
  });

  it('gives each replica the heap its limits.memory allows, and OOM-kills and restarts one whose memory passes the limit', async () => {
    const [replica] = replicas('inventory-list');
    const pid = replica?.pid as number;
    // stack.yml: limits.memory 256Mi, three quarters of it for V8's heap.
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--max-old-space-size=192');
    await until(async () => ((await describeFn('inventory-list')).usage?.totalMemoryBytes ?? 0) > 0);
    // The replica holds 300 MB more, past its 256 Mi.
    expect((await system('/system/faults', { body: { memory: { 'inventory-list': { megabytes: 300 } } } })).status).toBe(200);
    await until(() => !alive(pid));
    await until(async () => (await describeFn('inventory-list')).availableReplicas === 1);
    await system('/system/faults', { method: 'DELETE' });
    expect(replica?.restarts).toBe(1);
    expect(await metric('shop_replica_terminations_total', { function_name: 'inventory-list.openfaas-fn', reason: 'OOMKilled' })).toBe(1);
    expect((await t.call('inventory-list', { query: { limit: '1' } })).status).toBe(200);
  });

  it('never answers HTML or a stack trace: undecodable, unsupported and oversized bodies get the shop’s JSON error', async () => {
    const send = (headers: Record<string, string>, body: Buffer | string, path = '/function/cart-add', method = 'POST') =>
      new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
        const req = http.request(`${t.shop.url}${path}`, { method, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const cases: [string, Promise<{ status: number; type: string; text: string }>, number, string][] = [
      ['br that does not decode', send({ 'content-encoding': 'br' }, 'not brotli'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['deflate that does not decode', send({ 'content-encoding': 'deflate' }, 'not deflate'), 400, 'INVALID_INPUT'],
      ['gzip that does not decode', send({ 'content-encoding': 'gzip' }, 'not gzip'), 400, 'INVALID_INPUT'],
      ['an unknown encoding', send({ 'content-encoding': 'compress' }, '{}'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['a body over MAX_RAW_SIZE', send({}, Buffer.alloc(1024 * 1024 + 1, 0x20)), 413, 'PAYLOAD_TOO_LARGE'],
      ['a path that is not percent-encoding', send({}, '', '/function/inventory-get/%E0%A4%A', 'GET'), 400, 'INVALID_INPUT'],
      ['a method the template has no route for', send({}, '', '/function/inventory-get', 'PROPFIND'), 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [name, answer, status, code] of cases) {
      const res = await answer;
      expect([name, res.status, res.type, JSON.parse(res.text).error.code]).toEqual([name, status, 'application/json; charset=utf-8', code]);
      expect([name, /<html|<pre>|\bat \w+ \(|\/node_modules\//i.test(res.text)]).toEqual([name, false]);
    }
    // As in stack.yml: the template's Express runs in production mode.
    const [replica] = replicas('cart-add');
    expect(readFileSync(`/proc/${replica?.pid}/environ`, 'utf8').split('\0')).toContain('NODE_ENV=production');
  });

  it('logs of-watchdog’s line for every call in the replica’s log, and none for the probes', async () => {
    for (const limit of ['1', '2', '3']) expect((await t.call('order-list', { query: { shopperId: newShopperId(), limit } })).status).toBe(200);
    const lines = async () => (await (await system('/system/logs?name=order-list&tail=100')).text()).trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
    await until(async () => (await lines()).length >= 3);
    const logged = await lines();
    for (const limit of ['1', '2', '3']) expect(logged).toContainEqual(expect.stringMatching(new RegExp(`^\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d GET /\\?shopperId=[\\w-]+&limit=${limit} - 200 OK - ContentLength: \\d+B \\(\\d+\\.\\d{4}s\\)$`)));
    // The probes ran every 300 ms all along, and left no line.
    expect(logged.filter((l) => /_\/health|kube-probe/.test(l))).toEqual([]);
  });
});

describe('deploy, update, scale and removal at any moment', () => {
  it('carries out an update and a removal sent while npm start is still starting, and finishes starting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shop-startup-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let shop: RunningShop | undefined;
    const starting = startShop({ port, dataDir: join(dir, 'data'), secretsDir: join(dir, 'secrets'), sweepEveryMs: 0, autoscale: false, echoFunctionLogs: false }).then((s) => (shop = s));
    try {
      // The API answers from the moment the gateway listens; /healthz says start-up is not over.
      await until(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 503);
      expect(await (await fetch(`${url}/healthz`)).text()).toMatch(/^starting: \d+ of 15 functions have a ready replica\n$/);
      const auth = `Basic ${Buffer.from(`admin:${readFileSync(join(dir, 'secrets', BASIC_AUTH_FILE), 'utf8').trim()}`).toString('base64')}`;
      const updated = { ...fromStack('inventory-get'), envVars: { ...fromStack('inventory-get').envVars, SHOP_MARK: 'updated-while-starting' } };
      expect((await api(url, auth, '/system/functions', { method: 'PUT', body: updated })).status).toBe(202);
      expect((await api(url, auth, '/system/functions', { method: 'DELETE', body: { functionName: 'order-recent' } })).status).toBe(202);
      expect(shop).toBeUndefined(); // both answered while it was starting
      await starting;
      expect([(await fetch(`${url}/healthz`)).status, await (await fetch(`${url}/healthz`)).text()]).toEqual([200, 'OK']);
      // Start-up did not wait for the update's rollout (the update's own): it comes up on its own time.
      await until(async () => ((await (await api(url, auth, '/system/function/inventory-get')).json()) as { availableReplicas: number }).availableReplicas === 1);
      expect(await (await api(url, auth, '/system/function/inventory-get')).json()).toMatchObject({ availableReplicas: 1, envVars: { SHOP_MARK: 'updated-while-starting' } });
      expect(((await (await api(url, auth, '/system/functions')).json()) as unknown[]).length).toBe(14);
      expect((await request(`${url}/function/inventory-get`, { query: { id: 'gooseneck-kettle' } })).status).toBe(200);
    } finally {
      await starting.catch(() => undefined);
      await shop?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('on a running shop', () => {
    let t: TestShop;
    let stoppedAlready = false;
    const system = (path: string, init: { method?: string; body?: unknown } = {}) => api(t.shop.url, t.admin(), path, init);
    beforeAll(async () => {
      t = await startTestShop({ faults: true });
    });
    afterAll(() => (stoppedAlready ? rmSync(dirname(t.dataDir), { recursive: true, force: true }) : t.stop()));

    it('carries out an update sent during another update and a scale sent during both: the newest wins, no replica is left behind', async () => {
      const fn = t.shop.provider.replicasOf('cart-get');
      const before = (fn?.instances ?? []).map((r) => r.pid as number);
      const marked = (mark: string) => ({ ...fromStack('cart-get'), envVars: { ...fromStack('cart-get').envVars, SHOP_MARK: mark } });
      const answers = await Promise.all([system('/system/functions', { method: 'PUT', body: marked('first') }), system('/system/functions', { method: 'PUT', body: marked('second') })]);
      expect(answers.map((a) => a.status)).toEqual([202, 202]);
      expect((await system('/system/scale-function/cart-get', { body: { serviceName: 'cart-get', replicas: 2 } })).status).toBe(202);
      const current = () => t.shop.provider.replicasOf('cart-get');
      await until(() => current()?.available() === 2 && current()?.instances.length === 2);
      const status = (await (await system('/system/function/cart-get')).json()) as { envVars: Record<string, string>; replicas: number; availableReplicas: number };
      expect([status.replicas, status.availableReplicas]).toEqual([2, 2]);
      expect(['first', 'second']).toContain(status.envVars.SHOP_MARK);
      expect(current()?.instances.every((r) => r.generation === current()?.generation)).toBe(true);
      // Every replica of the replaced rollouts is drained and gone.
      await until(() => before.every((pid) => !alive(pid)));
      expect((await t.call('cart-get', { query: { shopperId: newShopperId() } })).status).toBe(200);
    });

    it('refuses every change that arrives while the runtime stops, with 503, and leaves no process behind', async () => {
      const pids = t.shop.provider.names().flatMap((n) => (t.shop.provider.replicasOf(n)?.instances ?? []).map((r) => r.pid as number));
      // An async call held in flight keeps the queue, so the gateway, from closing while the test asks for changes.
      await system('/system/faults', { body: { functions: { 'cart-clear': { delayMs: 10_000 } } } });
      expect((await fetch(`${t.shop.url}/async-function/cart-clear`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ shopperId: newShopperId() }) })).status).toBe(202);
      await until(() => t.shop.faults?.injected === 1);
      const stopped = t.shop.stop();
      stoppedAlready = true;
      const healthz = await fetch(`${t.shop.url}/healthz`);
      expect([healthz.status, await healthz.text()]).toEqual([503, 'stopping\n']);
      const refused = [
        await system('/system/functions', { method: 'PUT', body: fromStack('cart-add') }),
        await system('/system/functions', { body: { ...fromStack('cart-add'), service: 'cart-add-copy' } }),
        await system('/system/scale-function/cart-add', { body: { serviceName: 'cart-add', replicas: 2 } }),
        await system('/system/functions', { method: 'DELETE', body: { functionName: 'cart-add' } }),
      ];
      expect(await Promise.all(refused.map(async (r) => [r.status, await r.text()]))).toEqual(Array(4).fill([503, 'the runtime is stopping; nothing was changed\n']));
      await stopped;
      expect(pids.filter(alive)).toEqual([]);
    });
  });
});
