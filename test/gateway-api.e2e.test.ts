/**
 * The OpenFaaS gateway API on the local runtime, driven with the requests faas-cli sends (shaped
 * from faas-cli's proxy/*.go) and checked against the answers the gateway and faas-netes CE give
 * (openfaas/faas gateway/, faas-provider types/, faas-netes pkg/handlers/): login and list,
 * describe and ready, invoke (namespaced, method, query, headers, path), async invoke with a
 * callback, version, namespaces, secrets, logs, deploy, update, scale and remove; every /system
 * route behind basic auth, wrong methods and unknown paths as the gateway's router answers them,
 * and nothing changed by a refused call.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readStack } from '../runtime/stack';
import { deploymentFromStack } from '../runtime/deployments';
import { ROOT } from '../runtime/build';
import { arrivalsWhileBusy } from './support/busy';
import { callbackServer } from './support/callback';
import { newShopperId, request } from './support/fixtures';
import { startTestShop, type TestShop } from './support/shop';
import { until } from './support/until';

let t: TestShop;
const stack = readStack(join(ROOT, 'stack.yml'), {});
/** What `faas-cli deploy -f stack.yml --filter NAME` sends. */
const fromStack = (name: string) => deploymentFromStack(name, stack.functions[name] as NonNullable<(typeof stack.functions)[string]>);

beforeAll(async () => {
  // The replicas log at info (so /system/logs has lines); this process stays quiet.
  t = await startTestShop({ faults: true, functionEnv: { LOG_LEVEL: 'info' } });
});
afterAll(() => t.stop());

const api = (path: string, init: { method?: string; body?: unknown; auth?: string | null } = {}) =>
  fetch(`${t.shop.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...(init.auth === null ? {} : { authorization: init.auth ?? t.admin() }), 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
const json = async (path: string) => (await api(path)).json();
const secretsDir = () => process.env.SECRETS_DIR as string;
const ready = (name: string) => until(async () => (((await json(`/system/function/${name}`)) as { availableReplicas?: number }).availableReplicas ?? 0) > 0);

describe('faas-cli login, list, describe, ready', () => {
  it('lists every function as a FunctionStatus, behind basic auth', async () => {
    const denied = await api('/system/functions', { auth: null });
    expect([denied.status, denied.headers.get('www-authenticate'), await denied.text()]).toEqual([401, 'Basic realm="Restricted"', 'invalid credentials']);
    expect((await api('/system/functions', { auth: `Basic ${Buffer.from('admin:wrong').toString('base64')}` })).status).toBe(401);
    const list = (await json('/system/functions?namespace=openfaas-fn')) as Record<string, unknown>[];
    expect(list).toHaveLength(15);
    expect(list.find((f) => f.name === 'order-create')).toEqual({
      name: 'order-create',
      image: '192.168.122.11:5000/shop-order-create:1.0.0',
      namespace: 'openfaas-fn',
      envProcess: 'node index.js',
      envVars: { RAW_BODY: 'true', MAX_RAW_SIZE: '1mb', NODE_ENV: 'production', GATEWAY_URL: 'http://gateway.openfaas:8080', max_inflight: '8' },
      constraints: [],
      secrets: ['mongo-url', 'shop-internal-token'],
      labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '3' },
      annotations: {},
      limits: { memory: '256Mi', cpu: '500m' },
      requests: { memory: '64Mi', cpu: '50m' },
      readOnlyRootFilesystem: false,
      invocationCount: expect.any(Number),
      replicas: 1,
      availableReplicas: 1,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      // The replicas' resident memory, as faas-cli describe shows it (RAM).
      usage: { totalMemoryBytes: expect.any(Number) },
    });
    expect((await api('/system/functions?namespace=kube-system')).status).toBe(400);
  });

  it('describes one function, and answers 404 for one that is not deployed', async () => {
    expect(await json('/system/function/cart-get?namespace=openfaas-fn')).toMatchObject({ name: 'cart-get', replicas: 1, availableReplicas: 1 });
    const missing = await api('/system/function/no-such-function');
    expect([missing.status, await missing.text()]).toEqual([404, '']);
  });
});

describe('faas-cli invoke', () => {
  it('reaches a function as NAME and as NAME.openfaas-fn, with any method, query, headers and sub-path', async () => {
    const plain = await request(`${t.shop.url}/function/inventory-get`, { query: { id: 'gooseneck-kettle' } });
    const namespaced = await request(`${t.shop.url}/function/inventory-get.openfaas-fn`, { query: { id: 'gooseneck-kettle' }, headers: { 'x-call-id': 'from-faas-cli-1' } });
    expect(namespaced.status).toBe(200);
    expect(namespaced.json).toEqual(plain.json);
    expect(namespaced.headers.get('x-call-id')).toBe('from-faas-cli-1');
    // The function sees what follows /function/NAME: a sub-path, and a method it refuses.
    expect((await request(`${t.shop.url}/function/inventory-list.openfaas-fn/any/path`, { query: { limit: '1' } })).json.items).toHaveLength(1);
    const put = await request(`${t.shop.url}/function/inventory-list`, { method: 'PUT', body: {} });
    expect([put.status, put.json.error.code]).toEqual([405, 'METHOD_NOT_ALLOWED']);
    const other = await request(`${t.shop.url}/function/inventory-get.kube-system`, { query: { id: 'gooseneck-kettle' } });
    expect([other.status, other.text]).toEqual([404, 'Cannot find service: inventory-get.kube-system.']);
    expect((await request(`${t.shop.url}/function/no-such-function`)).text).toBe('Cannot find service: no-such-function.');
  });

  it('runs an async call later and posts its result to X-Callback-Url with the queue-worker’s headers', async () => {
    const callback = await callbackServer();
    try {
      const shopperId = newShopperId();
      const accepted = await fetch(`${t.shop.url}/async-function/cart-add.openfaas-fn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-callback-url': callback.url },
        body: JSON.stringify({ shopperId, productId: 'paper-filters-100', quantity: 2 }),
      });
      expect(accepted.status).toBe(202);
      const callId = accepted.headers.get('x-call-id') as string;
      expect(callId).toMatch(/^[0-9a-f-]{36}$/);
      expect(await accepted.text()).toBe('');
      await until(() => callback.received.length === 1);
      const [result] = callback.received;
      expect(result?.headers).toMatchObject({ 'x-call-id': callId, 'x-function-status': '200', 'x-function-name': 'cart-add' });
      expect(Number(result?.headers['x-duration-seconds'])).toBeGreaterThan(0);
      expect(JSON.parse(result?.body as string)).toMatchObject({ shopperId, items: [expect.objectContaining({ productId: 'paper-filters-100', quantity: 2 })] });
      expect((await request(`${t.shop.url}/function/cart-get`, { query: { shopperId } })).json.items).toHaveLength(1);
    } finally {
      await callback.close();
    }
    expect((await fetch(`${t.shop.url}/async-function/cart-add`, { method: 'GET' })).status).toBe(405);
    const bad = await fetch(`${t.shop.url}/async-function/cart-add`, { method: 'POST', headers: { 'x-callback-url': 'ftp://example.com/x' }, body: '{}' });
    expect(bad.status).toBe(400);
    expect((await fetch(`${t.shop.url}/async-function/no-such-function`, { method: 'POST', body: '{}' })).status).toBe(404);
    // Over MAX_RAW_SIZE (1 MB): refused before it is kept.
    expect((await fetch(`${t.shop.url}/async-function/cart-add`, { method: 'POST', body: new Uint8Array(1024 * 1024 + 1) })).status).toBe(413);
  });

  it('keeps an accepted async call through a restart, and runs it once the queue-worker runs', async () => {
    const callback = await callbackServer();
    try {
      await t.restart({ queueWorker: false });
      const shopperId = newShopperId();
      const accepted = await fetch(`${t.shop.url}/async-function/cart-add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-callback-url': callback.url, 'x-call-id': 'kept-across-a-restart' },
        body: JSON.stringify({ shopperId, productId: 'paper-filters-100', quantity: 1 }),
      });
      expect([accepted.status, accepted.headers.get('x-call-id')]).toEqual([202, 'kept-across-a-restart']);
      await t.restart({ queueWorker: true });
      await until(() => callback.received.length === 1);
      expect(callback.received[0]?.headers['x-call-id']).toBe('kept-across-a-restart');
      expect((await request(`${t.shop.url}/function/cart-get`, { query: { shopperId } })).json.items).toEqual([expect.objectContaining({ quantity: 1 })]);
    } finally {
      await callback.close();
    }
  });
});

describe('faas-cli version and namespace list', () => {
  it('answers /system/info as the gateway does, provider and gateway versions included', async () => {
    expect(await json('/system/info')).toEqual({
      provider: { provider: expect.any(String), orchestration: expect.any(String), version: { sha: expect.any(String), release: expect.any(String) } },
      version: { sha: expect.any(String), release: expect.any(String) },
      arch: expect.any(String),
    });
    expect((await api('/system/info', { auth: null })).status).toBe(401);
  });

  it('lists the one namespace CE has', async () => {
    expect(await json('/system/namespaces')).toEqual(['openfaas-fn']);
  });
});

describe('faas-cli secret', () => {
  it('lists names only, creates, updates and removes secrets as files the functions read', async () => {
    const list = (await json('/system/secrets')) as { name: string; namespace: string }[];
    expect(list).toEqual(expect.arrayContaining([{ name: 'shop-admin-token', namespace: 'openfaas-fn' }, { name: 'shop-internal-token', namespace: 'openfaas-fn' }]));
    expect(JSON.stringify(list)).not.toContain(t.shop.secrets['shop-admin-token']);
    expect((await api('/system/secrets', { body: { name: 'payment-key', value: 'first', namespace: 'openfaas-fn' } })).status).toBe(202);
    expect((await api('/system/secrets', { body: { name: 'payment-key', value: 'again' } })).status).toBe(409);
    expect(readFileSync(join(secretsDir(), 'payment-key'), 'utf8')).toBe('first');
    expect((await api('/system/secrets', { method: 'PUT', body: { name: 'payment-key', rawValue: Buffer.from('second').toString('base64') } })).status).toBe(202);
    expect(readFileSync(join(secretsDir(), 'payment-key'), 'utf8')).toBe('second');
    expect((await api('/system/secrets', { method: 'PUT', body: { name: 'no-such-secret', value: 'x' } })).status).toBe(404);
    expect((await api('/system/secrets', { method: 'DELETE', body: { name: 'payment-key' } })).status).toBe(202);
    expect((await api('/system/secrets', { method: 'DELETE', body: { name: 'payment-key' } })).status).toBe(404);
    expect(readdirSync(secretsDir())).not.toContain('payment-key');
  });

  it('rotates a token the functions check, at once, through the API', async () => {
    const restock = (token: string) => request(`${t.shop.url}/function/inventory-restock`, { headers: { authorization: `Bearer ${token}` }, body: { productId: 'milk-frother', stock: 30 } });
    expect((await restock(t.shop.secrets['shop-admin-token'] as string)).status).toBe(200);
    expect((await api('/system/secrets', { method: 'PUT', body: { name: 'shop-admin-token', value: 'a-rotated-admin-token-0123456789' } })).status).toBe(202);
    expect((await restock('a-rotated-admin-token-0123456789')).status).toBe(200);
    expect((await restock(t.shop.secrets['shop-admin-token'] as string)).status).toBe(403);
    await api('/system/secrets', { method: 'PUT', body: { name: 'shop-admin-token', value: t.shop.secrets['shop-admin-token'] } });
  });

  it('refuses bad names and other namespaces, writing nothing', async () => {
    const before = readdirSync(secretsDir()).sort();
    for (const name of ['../escape', 'UPPER', '', 'a'.repeat(254), '.hidden']) {
      expect((await api('/system/secrets', { body: { name, value: 'x' } })).status).toBe(422);
    }
    expect((await api('/system/secrets', { body: { name: 'ok-name', value: 'x', namespace: 'kube-system' } })).status).toBe(400);
    expect((await api('/system/secrets', { body: '{not json' })).status).toBe(400);
    expect((await api('/system/secrets', { body: { name: 'no-value' } })).status).toBe(400);
    expect(readdirSync(secretsDir()).sort()).toEqual(before);
  });
});

describe('faas-cli logs', () => {
  it('answers each replica’s own output as newline-delimited JSON messages, with tail, since and follow', async () => {
    // A store failure makes inventory-get log an error line (in its own process).
    await api('/system/faults', { body: { store: [{ operation: 'getProducts', mode: 'fail', times: 1 }] } });
    expect((await request(`${t.shop.url}/function/inventory-get`, { query: { id: 'gooseneck-kettle' } })).status).toBe(503);
    // The replica's lines reach the runtime through its stdout pipe: read once its request line is there.
    const read = async () => {
      const res = await api('/system/logs?name=inventory-get&tail=5&follow=false');
      expect(res.headers.get('content-type')).toBe('application/x-ndjson');
      return (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    };
    await until(async () => (await read()).some((m) => / - 503 Service Unavailable - /.test(m.text ?? '')));
    const messages = await read();
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages.length).toBeLessThanOrEqual(5);
    const [error, last] = messages.slice(-2) as Record<string, string>[];
    expect(Object.keys(last as object).sort()).toEqual(['instance', 'name', 'namespace', 'text', 'timestamp']);
    expect(last).toMatchObject({ name: 'inventory-get', namespace: 'openfaas-fn', instance: expect.stringMatching(/^inventory-get-\d+$/) });
    // The function's own line, then the watchdog's request line, as `faas-cli logs` shows them in the cluster.
    expect(JSON.parse(error?.text as string)).toMatchObject({ level: 'error', function: 'inventory-get', code: 'DEPENDENCY_UNAVAILABLE' });
    expect(last?.text).toMatch(/ GET \/\?id=gooseneck-kettle - 503 Service Unavailable - ContentLength: \d+B \(\d+\.\d{4}s\)$/);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(await (await api(`/system/logs?name=inventory-get&since=${future}`)).text()).toBe('');

    // follow: the stream stays open and carries the next line as it is written.
    const controller = new AbortController();
    const followed = await fetch(`${t.shop.url}/system/logs?name=inventory-get&follow=true&since=${future}`, { headers: { authorization: t.admin() }, signal: controller.signal });
    const reader = (followed.body as ReadableStream<Uint8Array>).getReader();
    await api('/system/faults', { body: { store: [{ operation: 'getProducts', mode: 'fail', times: 1 }] } });
    await request(`${t.shop.url}/function/inventory-get`, { query: { id: 'gooseneck-kettle' } });
    const { value } = await reader.read();
    expect(JSON.parse(new TextDecoder().decode(value).trim().split('\n')[0] as string)).toMatchObject({ name: 'inventory-get' });
    controller.abort();
    await api('/system/faults', { method: 'DELETE' });

    expect((await api('/system/logs?name=no-such-function')).status).toBe(500);
    expect((await api('/system/logs?name=inventory-get&tail=ten')).status).toBe(422);
  });
});

describe('faas-cli deploy, scale and remove', () => {
  it('removes a function, deploys it back from its bundle with the stack’s settings, invokes, scales and reads its logs', async () => {
    const removed = await api('/system/functions', { method: 'DELETE', body: { functionName: 'cart-get' } });
    expect(removed.status).toBe(202);
    expect((await request(`${t.shop.url}/function/cart-get`, { query: { shopperId: newShopperId() } })).status).toBe(404);
    expect(((await json('/system/functions')) as unknown[]).length).toBe(14);
    expect((await api('/system/functions', { method: 'DELETE', body: { functionName: 'cart-get' } })).status).toBe(404);

    // faas-cli deploy: PUT first (an update), and on 404 a POST (a new function).
    const deployment = { ...fromStack('cart-get'), labels: { 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '4' }, annotations: { team: 'shop' } };
    expect((await api('/system/functions', { method: 'PUT', body: deployment })).status).toBe(404);
    expect((await api('/system/functions', { body: deployment })).status).toBe(202);
    await ready('cart-get');
    expect(await json('/system/function/cart-get')).toMatchObject({ replicas: 1, availableReplicas: 1, labels: deployment.labels, annotations: { team: 'shop' } });
    expect((await request(`${t.shop.url}/function/cart-get`, { query: { shopperId: newShopperId() } })).status).toBe(200);

    expect((await api('/system/scale-function/cart-get', { body: { serviceName: 'cart-get', replicas: 3 } })).status).toBe(202);
    await until(async () => ((await json('/system/function/cart-get')) as { availableReplicas: number }).availableReplicas === 3);
    // Three failing calls, round robin over three replicas: each replica logs its own line.
    await api('/system/faults', { body: { store: [{ operation: 'getCart', mode: 'fail', times: 3 }] } });
    for (let i = 0; i < 3; i++) expect((await request(`${t.shop.url}/function/cart-get`, { query: { shopperId: newShopperId() } })).status).toBe(503);
    await api('/system/faults', { method: 'DELETE' });
    const logLines = async () => (await (await api('/system/logs?name=cart-get')).text()).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { name: string; instance: string; text: string });
    // Each call: the function's error line and the watchdog's request line, in the replica that served it.
    await until(async () => (await logLines()).filter((l) => / - 503 Service Unavailable - /.test(l.text)).length === 3);
    const logs = await logLines();
    expect(logs.every((l) => l.name === 'cart-get')).toBe(true);
    expect(new Set(logs.filter((l) => l.text.startsWith('{')).map((l) => l.instance)).size).toBe(3);
    expect(new Set(logs.filter((l) => / - 503 Service Unavailable - /.test(l.text)).map((l) => l.instance)).size).toBe(3);

    expect((await api('/system/functions', { body: deployment })).status).toBe(500); // exists already
  });

  it('applies a deployment’s environment and secrets: an update rolls the replicas over to them', async () => {
    // As a Deployment's rolling update: the old replicas serve until the new ones are ready, then leave the pool.
    const rolledOver = async (answer: Response) => {
      const replicas = t.shop.provider.replicasOf('inventory-restock');
      await until(() => replicas?.instances.every((r) => r.generation === replicas.generation && r.state === 'ready') === true);
      return answer.status;
    };
    const base = fromStack('inventory-restock');
    const restock = () => request(`${t.shop.url}/function/inventory-restock`, { headers: { authorization: `Bearer ${t.shop.secrets['shop-admin-token']}` }, body: { productId: 'milk-frother', stock: 40 } });
    // Without its token secret mounted, the function cannot check callers: 503 NOT_CONFIGURED.
    expect(await rolledOver(await api('/system/functions', { method: 'PUT', body: { ...base, secrets: ['mongo-url'] } }))).toBe(202);
    const unmounted = await restock();
    expect([unmounted.status, unmounted.json.error.code]).toEqual([503, 'NOT_CONFIGURED']);
    // exec_timeout from the deployment's environment: a call slower than it is answered 504 by the watchdog.
    expect(await rolledOver(await api('/system/functions', { method: 'PUT', body: { ...base, envVars: { ...base.envVars, exec_timeout: '100ms' } } }))).toBe(202);
    await api('/system/faults', { body: { store: [{ operation: 'setStock', mode: 'slow', delayMs: 1_000, times: 1 }] } });
    const slow = await restock();
    expect([slow.status, slow.text]).toEqual([504, '']);
    await api('/system/faults', { method: 'DELETE' });
    expect(await rolledOver(await api('/system/functions', { method: 'PUT', body: base }))).toBe(202);
    expect((await restock()).status).toBe(200);
    expect(await json('/system/function/inventory-restock')).toMatchObject({ envVars: base.envVars, secrets: ['mongo-url', 'shop-admin-token'], availableReplicas: 1 });
  });

  it('refuses what faas-netes CE refuses, and changes nothing', async () => {
    const before = JSON.stringify(((await json('/system/functions')) as { name: string }[]).map((f) => f.name).sort());
    const refusals: [unknown, number, RegExp][] = [
      ['{not json', 400, /^failed to unmarshal request/],
      [{ image: 'x/y:1' }, 400, /^failed to unmarshal request/],
      [{ service: '', image: 'x/y:1' }, 400, /^validation failed: service: is required/],
      [{ service: 'Bad_Name', image: 'x/y:1' }, 400, /must be a valid DNS entry/],
      [{ service: 'new-fn', image: '' }, 400, /^validation failed: image: is required/],
      [{ service: 'new-fn', image: 'x/y:1', labels: { 'com.openfaas.scale.zero': 'true' } }, 400, /not available for Community Edition/],
      [{ service: 'new-fn', image: 'x/y:1', labels: { 'com.openfaas.scale.max': '10' } }, 400, /set too high for Community Edition/],
      [{ service: 'new-fn', image: 'x/y:1', secrets: ['no-such-secret'] }, 400, /^unable to fetch secrets: secrets "no-such-secret" not found/],
      [{ service: 'new-fn', image: 'x/y:1', namespace: 'kube-system' }, 400, /^namespace must be: openfaas-fn/],
    ];
    await api('/system/functions', { method: 'DELETE', body: { functionName: 'order-recent' } });
    refusals.push([{ service: 'new-fn', image: 'registry/new-fn:1' }, 400, /unable to pull image registry\/new-fn:1: no bundle/]);
    for (const [body, status, message] of refusals) {
      const res = await api('/system/functions', { body });
      expect([res.status, await res.text()]).toEqual([status, expect.stringMatching(message)]);
    }
    expect((await api('/system/functions', { body: fromStack('order-recent') })).status).toBe(202);
    expect((await api('/system/functions', { body: { service: 'sixteenth', image: 'x/y:1' } })).status).toBe(400);
    expect(await (await api('/system/functions', { body: { service: 'sixteenth', image: 'x/y:1' } })).text()).toMatch(/at most 15 functions/);
    await ready('order-recent');
    expect(JSON.stringify(((await json('/system/functions')) as { name: string }[]).map((f) => f.name).sort())).toBe(before);
    expect((await api('/system/functions', { method: 'DELETE', body: '{}' })).status).toBe(400);
  });
});

describe('the gateway’s router', () => {
  it('keeps every /system route behind basic auth, answers 405 to a wrong method and 404 to an unknown path', async () => {
    for (const path of ['/system/functions', '/system/function/cart-get', '/system/info', '/system/secrets', '/system/logs?name=cart-get', '/system/namespaces']) {
      expect([path, (await api(path, { auth: null })).status]).toEqual([path, 401]);
    }
    expect((await api('/system/scale-function/cart-get', { auth: null, body: { replicas: 2 } })).status).toBe(401);
    for (const [path, method] of [['/system/functions', 'PATCH'], ['/system/info', 'POST'], ['/system/scale-function/cart-get', 'GET'], ['/system/namespaces', 'DELETE'], ['/healthz', 'POST']] as const) {
      const res = await api(path, { method, auth: null });
      expect([path, method, res.status, await res.text()]).toEqual([path, method, 405, '']);
    }
    const unknown = await api('/system/nothing-here', { auth: null });
    expect([unknown.status, await unknown.text()]).toEqual([404, '404 page not found\n']);
    expect(await (await fetch(`${t.shop.url}/healthz`)).text()).toBe('OK');
  });
});

describe('a rush of new callers', () => {
  it('lets them in while other callers keep the gateway busy, not one connection per turn of its event loop', async () => {
    // Taken one per turn, the last of 60 waited some 60 turns.
    const { answeredMeanwhile, statuses } = await arrivalsWhileBusy(t.shop.url, '/healthz');
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(answeredMeanwhile).toBeLessThan(5_000);
  });
});
